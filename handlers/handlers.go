// Package handlers turns Tether's JSON-RPC methods into typed calls on the
// session registry: each handler decodes its params, validates them, hands
// the work on and returns, because it runs on jsonrpc2's read loop. Replies
// that must wait (a query's turn, a cleanup, shutdown) are sent by whoever
// finishes the work.
//
// Serve wires the transport, the registry and the handlers together and
// runs one connection to its end: the binary, `tether ask` and the tests
// all serve through it.
package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/tether-dev/tether/protocol"
	"github.com/tether-dev/tether/rpc"
	"github.com/tether-dev/tether/sessions"
)

// Handlers holds what the methods need beyond the registry: the server's
// identity, and the shutdown/exit handshake that main waits on.
//
// Goroutines: one for a shutdown request, which waits for every session to
// close and then replies; Wait waits for it.
type Handlers struct {
	reg             *sessions.Registry
	info            protocol.ServerInfo
	log             *slog.Logger
	shutdownTimeout time.Duration

	wg           sync.WaitGroup
	shutdownOnce sync.Once
	shutdownDone chan struct{} // closed when a shutdown request has closed every session
	exitOnce     sync.Once
	exit         chan struct{} // closed by the exit notification
}

// New returns the handlers for reg. shutdownTimeout bounds how long a
// shutdown request waits for sessions to close.
func New(reg *sessions.Registry, info protocol.ServerInfo, shutdownTimeout time.Duration, log *slog.Logger) *Handlers {
	return &Handlers{
		reg:             reg,
		info:            info,
		log:             log,
		shutdownTimeout: shutdownTimeout,
		shutdownDone:    make(chan struct{}),
		exit:            make(chan struct{}),
	}
}

// Register registers every method on srv.
func (h *Handlers) Register(srv *rpc.Server) {
	srv.Register(protocol.MethodInitialize, h.initialize)
	srv.Register(protocol.MethodSessionQuery, h.query)
	srv.Register(protocol.MethodSessionCancel, h.cancel)
	srv.Register(protocol.MethodSessionCleanup, h.cleanup)
	srv.Register(protocol.MethodSessionList, h.list)
	srv.Register(protocol.MethodPermissionRespond, h.respond)
	srv.Register(protocol.MethodShutdown, h.shutdown)
	srv.Register(protocol.MethodExit, h.exitNotification)
}

// Exit is closed when the client sent exit.
func (h *Handlers) Exit() <-chan struct{} { return h.exit }

// ShutDown reports whether a shutdown request has completed.
func (h *Handlers) ShutDown() bool {
	select {
	case <-h.shutdownDone:
		return true
	default:
		return false
	}
}

// Wait waits for the goroutines the handlers started.
func (h *Handlers) Wait() { h.wg.Wait() }

func (h *Handlers) initialize(_ context.Context, req *rpc.Request) {
	var p protocol.InitializeParams
	if err := decode(req.Params, &p, false); err != nil {
		req.Reply(nil, err)
		return
	}
	if p.ClientInfo != nil {
		h.log.Info("client", "name", p.ClientInfo.Name, "version", p.ClientInfo.Version)
	}
	req.Reply(protocol.InitializeResult{
		ServerInfo:      h.info,
		ProtocolVersion: protocol.Version,
		Backends:        h.reg.Backends(),
		DefaultBackend:  h.reg.DefaultBackend(),
	}, nil)
}

func (h *Handlers) query(ctx context.Context, req *rpc.Request) {
	var p protocol.QueryParams
	if err := decode(req.Params, &p, true); err != nil {
		req.Reply(nil, err)
		return
	}
	switch {
	case p.SessionID == "":
		req.Reply(nil, &sessions.ParamError{Field: "sessionId", Reason: "required"})
		return
	case p.Prompt == "":
		req.Reply(nil, &sessions.ParamError{Field: "prompt", Reason: "required"})
		return
	case p.MaxTurns < 0:
		req.Reply(nil, &sessions.ParamError{Field: "maxTurns", Reason: "must not be negative"})
		return
	}
	for i, t := range p.Tools {
		if t.Name == "" {
			req.Reply(nil, &sessions.ParamError{Field: "tools", Reason: "every tool needs a name (tool " + strconv.Itoa(i) + " has none)"})
			return
		}
	}
	h.reg.Query(sessions.Query{
		ID:     req.ID,
		Ctx:    ctx,
		Params: p,
		Reply: func(res protocol.QueryResult, err error) {
			if err != nil {
				req.Reply(nil, err)
				return
			}
			req.Reply(res, nil)
		},
	})
}

func (h *Handlers) cancel(_ context.Context, req *rpc.Request) {
	id, err := sessionID(req.Params)
	if err != nil {
		req.Reply(nil, err)
		return
	}
	h.reg.Cancel(id, func(n int) { req.Reply(protocol.CancelResult{Cancelled: n}, nil) })
}

func (h *Handlers) cleanup(_ context.Context, req *rpc.Request) {
	id, err := sessionID(req.Params)
	if err != nil {
		req.Reply(nil, err)
		return
	}
	h.reg.Cleanup(id, func(closed bool) { req.Reply(protocol.CleanupResult{Closed: closed}, nil) })
}

func (h *Handlers) list(_ context.Context, req *rpc.Request) {
	req.Reply(protocol.ListResult{Sessions: h.reg.List()}, nil)
}

func (h *Handlers) respond(_ context.Context, req *rpc.Request) {
	var p protocol.RespondParams
	if err := decode(req.Params, &p, true); err != nil {
		req.Reply(nil, err)
		return
	}
	if p.RequestID == "" {
		req.Reply(nil, &sessions.ParamError{Field: "requestId", Reason: "required"})
		return
	}
	if err := h.reg.Respond(p); err != nil {
		req.Reply(nil, err)
		return
	}
	req.Reply(struct{}{}, nil)
}

func (h *Handlers) shutdown(_ context.Context, req *rpc.Request) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), h.shutdownTimeout)
		defer cancel()
		err := h.reg.Shutdown(ctx)
		if err != nil {
			h.log.Warn("shutdown", "err", err)
		}
		h.shutdownOnce.Do(func() { close(h.shutdownDone) })
		req.Reply(nil, err)
	}()
}

func (h *Handlers) exitNotification(context.Context, *rpc.Request) {
	h.exitOnce.Do(func() { close(h.exit) })
}

// sessionID decodes the params of session/cancel and session/cleanup.
func sessionID(params json.RawMessage) (string, error) {
	var p protocol.SessionParams
	if err := decode(params, &p, true); err != nil {
		return "", err
	}
	if p.SessionID == "" {
		return "", &sessions.ParamError{Field: "sessionId", Reason: "required"}
	}
	return p.SessionID, nil
}

// decode decodes params into v. Errors are *sessions.ParamError naming the
// field that is wrong. Unknown fields are ignored, so clients can send
// fields newer Tethers understand.
func decode(params json.RawMessage, v any, required bool) error {
	if len(params) == 0 || string(params) == "null" {
		if required {
			return &sessions.ParamError{Field: "params", Reason: "required"}
		}
		return nil
	}
	if params[0] != '{' {
		return &sessions.ParamError{Field: "params", Reason: "must be an object (by-name params)"}
	}
	if err := json.Unmarshal(params, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return &sessions.ParamError{Field: te.Field, Reason: "must be " + jsonKind(te.Type.Kind().String()) + ", got " + te.Value}
		}
		return &sessions.ParamError{Field: "params", Reason: err.Error()}
	}
	return nil
}

// jsonKind names a Go kind the way a JSON user would.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return "a number"
}
