// Package tether is Tether's own wire dialect (protocol.md): an LSP-style
// protocol with session/query, streamed session/* notifications,
// permission/* and tool/call. It turns its methods into typed calls on the
// session registry, and the sessions' events into its notifications
// (presenter.go); its error codes are in protocol/errors.go.
//
// Handlers run on the connection's read loop: each decodes its params,
// validates them, hands the work on and returns. Replies that must wait (a
// query's turn, a cleanup, shutdown) are sent by whoever finishes the work.
package tether

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/protocol"
	"github.com/tether-dev/tether/rpc"
	"github.com/tether-dev/tether/sessions"
)

// Dialect serves Tether's protocol on one connection.
//
// Goroutines: one for a shutdown request, which waits for every session to
// close and then replies; one per session/load, which replays the stored
// conversation and then replies (store.go). Wait waits for them.
type Dialect struct {
	info            protocol.ServerInfo
	log             *slog.Logger
	shutdownTimeout time.Duration

	conn *rpc.Conn
	reg  *sessions.Registry

	wg           sync.WaitGroup
	shutdownOnce sync.Once
	shutdownDone chan struct{} // closed when a shutdown request has closed every session
	exitOnce     sync.Once
	exit         chan struct{} // closed by exit
}

// New returns the dialect. shutdownTimeout bounds how long a shutdown
// request waits for sessions to close.
func New(info protocol.ServerInfo, shutdownTimeout time.Duration, log *slog.Logger) *Dialect {
	return &Dialect{
		info:            info,
		log:             log,
		shutdownTimeout: shutdownTimeout,
		shutdownDone:    make(chan struct{}),
		exit:            make(chan struct{}),
	}
}

// ConnOptions are the rpc options the dialect needs: LSP's cancellation,
// and its error codes.
func (d *Dialect) ConnOptions() rpc.Options {
	return rpc.Options{
		CancelMethod: protocol.MethodCancelRequest,
		CancelParam:  "id",
		MapError:     WireError,
	}
}

// Framing is the framing the dialect asks for: whatever the client speaks.
func (d *Dialect) Framing() rpc.Framing { return rpc.FramingAuto }

// Bind registers every method on conn, serving reg.
func (d *Dialect) Bind(conn *rpc.Conn, reg *sessions.Registry) {
	d.conn, d.reg = conn, reg
	conn.Register(protocol.MethodInitialize, d.initialize)
	conn.Register(protocol.MethodSessionQuery, d.query)
	conn.Register(protocol.MethodSessionOpen, d.open)
	conn.Register(protocol.MethodSessionCancel, d.cancel)
	conn.Register(protocol.MethodSessionCleanup, d.cleanup)
	conn.Register(protocol.MethodSessionList, d.list)
	conn.Register(protocol.MethodSessionLoad, d.load)
	conn.Register(protocol.MethodSessionDelete, d.delete)
	conn.Register(protocol.MethodPermissionRespond, d.respond)
	conn.Register(protocol.MethodShutdown, d.shutdown)
	conn.Register(protocol.MethodExit, d.exitNotification)
}

// Exit is closed when the client sent exit.
func (d *Dialect) Exit() <-chan struct{} { return d.exit }

// ShutDown reports whether a shutdown request has completed, every session
// closed in time.
func (d *Dialect) ShutDown() bool {
	select {
	case <-d.shutdownDone:
		return true
	default:
		return false
	}
}

// Wait waits for the goroutines the dialect started.
func (d *Dialect) Wait() { d.wg.Wait() }

func (d *Dialect) shutdown(_ context.Context, req *rpc.Request) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), d.shutdownTimeout)
		defer cancel()
		err := d.reg.Shutdown(ctx)
		if err != nil {
			// Not a clean shutdown: exit after it ends with 1.
			d.log.Warn("shutdown", "err", err)
		} else {
			d.shutdownOnce.Do(func() { close(d.shutdownDone) })
		}
		req.Reply(nil, err)
	}()
}

// exitNotification ends the process. Sent as a request by mistake, it is
// answered too: every request is answered exactly once.
func (d *Dialect) exitNotification(_ context.Context, req *rpc.Request) {
	req.Reply(nil, nil)
	d.exitOnce.Do(func() { close(d.exit) })
}

// WireError maps the domain's errors to Tether's codes. It is the only
// place they become codes; protocol.md mirrors it.
func WireError(err error) *rpc.Error {
	var pe *sessions.ParamError
	code := int64(0)
	switch {
	case errors.As(err, &pe):
		return rpc.NewError(rpc.CodeInvalidParams, err.Error(), rpc.ParamsData{Field: pe.Field})
	case errors.Is(err, backends.ErrUnsupported):
		code = rpc.CodeInvalidParams
	case errors.Is(err, rpc.ErrRequestCancelled), errors.Is(err, rpc.ErrClosed), errors.Is(err, context.Canceled):
		code = rpc.CodeRequestCancelled
	case errors.Is(err, sessions.ErrBusy):
		code = protocol.CodeSessionBusy
	case errors.Is(err, backends.ErrUnavailable):
		code = protocol.CodeBackendUnavailable
	case errors.Is(err, backends.ErrFailed):
		code = protocol.CodeBackendFailed
	case errors.Is(err, sessions.ErrShuttingDown):
		code = protocol.CodeShuttingDown
	case errors.Is(err, sessions.ErrClosed):
		code = protocol.CodeSessionClosed
	case errors.Is(err, sessions.ErrShutdownTimeout):
		code = protocol.CodeShutdownTimeout
	case errors.Is(err, sessions.ErrLiveElsewhere):
		code = protocol.CodeLiveElsewhere
	case errors.Is(err, sessions.ErrNoStore):
		code = protocol.CodeNoStore
	default:
		return nil // the transport's defaults
	}
	return &rpc.Error{Code: code, Message: err.Error()}
}
