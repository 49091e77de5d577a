package tether

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/protocol"
	"github.com/tether-dev/tether/rpc"
	"github.com/tether-dev/tether/sessions"
)

// load is session/load: it replays a stored conversation as the
// notifications it produced, each tagged with its query's number as
// queryId, and then answers with the session's summary. The replay runs on
// a goroutine of the dialect's (Wait waits for it), so the read loop goes
// on while a long conversation is written out.
func (d *Dialect) load(ctx context.Context, req *rpc.Request) {
	id, err := sessionID(req.Params)
	if err != nil {
		req.Reply(nil, err)
		return
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		r := &replayer{d: d, sessionID: id}
		info, err := d.reg.Replay(ctx, id, r)
		switch {
		case errors.Is(err, sessions.ErrNotFound):
			err = &sessions.ParamError{Field: "sessionId", Reason: err.Error()}
		case err == nil && ctx.Err() != nil:
			err = context.Cause(ctx)
		}
		if err != nil {
			req.Reply(nil, err)
			return
		}
		res := protocol.LoadResult{
			SessionInfo:      sessionInfo(info),
			Usage:            usage(info.Usage),
			CostUSD:          info.CostUSD,
			BackendSessionID: info.ResumeHandle,
			Queries:          r.queries,
		}
		if res.Queries == nil {
			res.Queries = []protocol.StoredQuery{}
		}
		req.Reply(res, nil)
	}()
}

// delete is session/delete: a live session is closed first, then its
// stored conversation is removed. It answers {deleted:false} for a session
// that is neither live nor stored, as cleanup does.
func (d *Dialect) delete(_ context.Context, req *rpc.Request) {
	id, err := sessionID(req.Params)
	if err != nil {
		req.Reply(nil, err)
		return
	}
	d.reg.Delete(id, func(deleted bool, err error) {
		if err != nil {
			req.Reply(nil, err)
			return
		}
		req.Reply(protocol.DeleteResult{Deleted: deleted}, nil)
	})
}

// replayer writes a stored conversation as Tether's notifications: for
// each query a session/userMessage with its prompt, then its events as a
// presenter of that query would have written them.
type replayer struct {
	d         *Dialect
	sessionID string
	p         *presenter // of the query being replayed
	queries   []protocol.StoredQuery
}

var _ sessions.Replayer = (*replayer)(nil)

func (r *replayer) TurnStarted(t sessions.StoredTurn) {
	queryID := json.RawMessage(strconv.Itoa(t.Seq))
	r.p = newPresenter(r.d.conn, r.d.log, r.sessionID, queryID)
	r.p.notify(protocol.MethodUserMessage, protocol.TextParams{
		Event: protocol.Event{SessionID: r.sessionID, QueryID: queryID},
		Text:  backends.PromptText(t.Prompt),
	})
}

func (r *replayer) Token(text string)                  { r.p.Token(text) }
func (r *replayer) Thinking(text string)               { r.p.Thinking(text) }
func (r *replayer) ToolUse(u backends.ToolUse)         { r.p.ToolUse(u) }
func (r *replayer) ToolResult(res backends.ToolResult) { r.p.ToolResult(res) }

// Permission is not replayed: the request was answered long ago, and
// Tether's notifications have no form for an answer.
func (r *replayer) Permission(sessions.Decision) {}

func (r *replayer) TurnEnded(t sessions.StoredTurn) {
	q := protocol.StoredQuery{
		QueryID:    t.Seq,
		StopReason: t.StopReason,
		Error:      t.Error,
		Usage:      usage(t.Usage),
		CostUSD:    t.CostUSD,
		StartedAt:  t.StartedAt.Format(time.RFC3339Nano),
	}
	if !t.EndedAt.IsZero() {
		q.EndedAt = t.EndedAt.Format(time.RFC3339Nano)
	}
	r.queries = append(r.queries, q)
}

func usage(u backends.Usage) protocol.Usage {
	return protocol.Usage{
		InputTokens:      u.InputTokens,
		OutputTokens:     u.OutputTokens,
		CacheReadTokens:  u.CacheReadTokens,
		CacheWriteTokens: u.CacheWriteTokens,
	}
}
