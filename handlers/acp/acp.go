// Package acp is Tether's Agent Client Protocol dialect (ACP v1), agent
// side: editors that speak ACP (Zed, JetBrains, Neovim's CodeCompanion,
// acpx) drive every Tether backend through it. It turns ACP's methods into
// typed calls on the session registry, and the sessions' events into
// session/update notifications (presenter.go); permission requests become
// session/request_permission requests to the client (permission.go). Its
// error codes are in errors.go; protocol.md's ACP chapter is its prose form.
//
// The message types are those generated from ACP's JSON schema in
// github.com/coder/acp-go-sdk (imported as schema); its connection is not
// used: Tether's own rpc.Conn already answers bad input, applies
// back-pressure to a slow client and cancels in both directions. The token
// path is encoded by hand (presenter.go).
//
// Handlers run on the connection's read loop: each decodes its params,
// validates them, hands the work on and returns. A prompt's reply is sent
// by the session's turn goroutine when the turn ends.
package acp

import (
	"context"
	"log/slog"
	"sync"

	schema "github.com/coder/acp-go-sdk"

	"github.com/tether-dev/tether/rpc"
	"github.com/tether-dev/tether/sessions"
)

// ProtocolVersion is the ACP version Tether speaks, and answers to every
// client: a client asking for a later one is told 1 and decides.
const ProtocolVersion = 1

// Methods of ACP that the schema package has no constant for.
const (
	// methodCancelRequest cancels a request, in both directions.
	methodCancelRequest = "$/cancel_request"
	// methodUpdate is the session/update notification, agent → client.
	methodUpdate = schema.ClientMethodSessionUpdate
)

// Info names Tether to the client (initialize's agentInfo).
type Info struct {
	Name    string
	Title   string
	Version string
}

// Dialect serves ACP on one connection.
//
// Goroutines: one per session/request_permission in flight, started by a
// session's presenter (askPermission) and ended when the client answers,
// when the request is withdrawn (its context is cancelled and rpc tells the
// client with $/cancel_request), or when Wait cancels what is left; and
// one per session/load, which replays the conversation and answers
// (load.go). Wait waits for all of them.
type Dialect struct {
	info Info
	log  *slog.Logger

	conn *rpc.Conn
	reg  *sessions.Registry

	// ctx is the parent of every permission request's context; Wait
	// cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	sessions map[string]*session        // the live sessions, by id
	asked    map[string]*permissionCall // permission requests in flight, by the broker's request id
}

// New returns the dialect.
func New(info Info, log *slog.Logger) *Dialect {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Dialect{
		info:     info,
		log:      log,
		ctx:      ctx,
		cancel:   cancel,
		sessions: make(map[string]*session),
		asked:    make(map[string]*permissionCall),
	}
}

// ConnOptions are the rpc options ACP needs: its cancellation notification
// and its error codes.
func (d *Dialect) ConnOptions() rpc.Options {
	return rpc.Options{
		CancelMethod: methodCancelRequest,
		CancelParam:  "requestId",
		MapError:     WireError,
	}
}

// Framing is ACP's only framing: one JSON message per line.
func (d *Dialect) Framing() rpc.Framing { return rpc.FramingNDJSON }

// Bind registers every ACP method Tether serves on conn, serving reg.
func (d *Dialect) Bind(conn *rpc.Conn, reg *sessions.Registry) {
	d.conn, d.reg = conn, reg
	conn.Register(schema.AgentMethodInitialize, d.initialize)
	conn.Register(schema.AgentMethodAuthenticate, d.authenticate)
	conn.Register(schema.AgentMethodSessionNew, d.newSession)
	conn.Register(schema.AgentMethodSessionPrompt, d.prompt)
	conn.Register(schema.AgentMethodSessionCancel, d.cancelSession)
	conn.Register(schema.AgentMethodSessionSetConfigOption, d.setConfigOption)
	conn.Register(schema.AgentMethodSessionSetMode, d.setMode)
	conn.Register(schema.AgentMethodSessionList, d.list)
	conn.Register(schema.AgentMethodSessionLoad, d.loadSession)
	conn.Register(schema.AgentMethodSessionResume, d.resumeSession)
	conn.Register(schema.AgentMethodSessionClose, d.closeSession)
}

// Exit is nil: ACP has no exit message. The client ends Tether by closing
// its input (handlers.Serve then finishes the prompts in flight) or by a
// signal.
func (d *Dialect) Exit() <-chan struct{} { return nil }

// ShutDown is false: ACP has no shutdown message.
func (d *Dialect) ShutDown() bool { return false }

// Wait cancels the permission requests still in flight (the sessions are
// closed by now, so nothing waits for their answers) and waits for their
// goroutines.
func (d *Dialect) Wait() {
	d.cancel()
	d.wg.Wait()
}
