package sessions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/store"
)

// What the dialects ask of sessions that outlive a process: list them,
// look one up, replay one's conversation, delete one (store.go keeps
// them).

// ListQuery selects a page of ListSessions.
type ListQuery struct {
	// Cwd, when set, keeps the sessions of that directory only.
	Cwd string
	// Limit bounds the stored sessions of a page: 0 is the store's
	// default (store.DefaultListLimit), and it is capped at
	// store.MaxListLimit.
	Limit int
	// Cursor is a previous page's Next; "" reads the first page.
	Cursor string
}

// Page is a page of ListSessions.
type Page struct {
	Sessions []Info
	// Next is the cursor of the next page; "" when this is the last.
	Next string
}

// ListSessions lists the sessions live here and those stored. The first
// page starts with the live ones, in the order List gives them (oldest
// first, as before the store), never cut by Limit: they are first-class,
// a handful, and a client must see them. The stored sessions that are not
// live here follow, newest first (by UpdatedAt), with Status StateStored,
// up to Limit a page. A cursor that is not a Next of this store is a
// *ParamError (field cursor).
func (r *Registry) ListSessions(q ListQuery) (Page, error) {
	var page Page
	live := map[string]bool{}
	for _, info := range r.List() {
		live[info.SessionID] = true
		if q.Cursor == "" && (q.Cwd == "" || filepath.Clean(q.Cwd) == info.Cwd) {
			page.Sessions = append(page.Sessions, info)
		}
	}
	if r.store == nil {
		if q.Cursor != "" {
			return Page{}, paramErrorf("cursor", "no such cursor: Tether runs without a session store, and its one page has no next")
		}
		return page, nil
	}
	cwd := q.Cwd
	if cwd != "" {
		cwd = filepath.Clean(cwd)
	}
	stored, err := r.store.List(store.ListOptions{Cwd: cwd, Limit: q.Limit, Cursor: q.Cursor})
	if errors.Is(err, store.ErrBadCursor) {
		return Page{}, paramErrorf("cursor", "%q is not a cursor of this store (pass a nextCursor back as it is)", q.Cursor)
	}
	if err != nil {
		return Page{}, fmt.Errorf("listing the stored sessions: %w", err)
	}
	for _, ss := range stored.Sessions {
		if !live[ss.ID] {
			page.Sessions = append(page.Sessions, storedInfo(ss))
		}
	}
	page.Next = stored.Next
	return page, nil
}

// storedInfo describes a session the store holds and this process does
// not run.
func storedInfo(ss store.Session) Info {
	return Info{
		SessionID:    ss.ID,
		Backend:      ss.Backend,
		Model:        ss.Model,
		Mode:         ss.Mode,
		Cwd:          ss.Cwd,
		Status:       StateStored,
		CreatedAt:    ss.CreatedAt.UTC(),
		Turns:        ss.Turns,
		Title:        ss.Title,
		UpdatedAt:    ss.UpdatedAt.UTC(),
		Usage:        backends.Usage(ss.Usage),
		CostUSD:      ss.CostUSD,
		ResumeHandle: ss.ResumeHandle,
	}
}

// LiveInfo describes session id if it is live here.
func (r *Registry) LiveInfo(id string) (Info, bool) {
	s := r.find(id)
	if s == nil {
		return Info{}, false
	}
	return s.info(), true
}

// Lookup describes session id, live here or stored: a live one as List
// does, with the store's totals when it is stored (its turns committed
// first); a stored one with Status StateStored. It fails with ErrNotFound
// when it is neither.
func (r *Registry) Lookup(id string) (Info, error) {
	info, live := r.LiveInfo(id)
	if r.store == nil {
		if live {
			return info, nil
		}
		return Info{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if live {
		r.flush(context.Background())
	}
	ss, err := r.store.Get(id)
	switch {
	case errors.Is(err, store.ErrNotFound) && live:
		return info, nil
	case errors.Is(err, store.ErrNotFound):
		return Info{}, fmt.Errorf("%w: %q (neither live nor stored)", ErrNotFound, id)
	case err != nil && live:
		r.log.Warn("store: reading the session", "session", id, "err", err)
		return info, nil
	case err != nil:
		return Info{}, fmt.Errorf("reading session %q from the store: %w", id, err)
	case !live:
		return storedInfo(ss), nil
	}
	info.Usage, info.CostUSD, info.ResumeHandle = backends.Usage(ss.Usage), ss.CostUSD, ss.ResumeHandle
	return info, nil
}

// StoredTurn is one turn of a stored conversation, as Replay gives it.
type StoredTurn struct {
	// Seq numbers the session's turns from 1.
	Seq    int
	Prompt []backends.Content
	// StopReason is how the turn ended: a backend's stop reason, or
	// "error" for a turn that failed (Error says why); "" for a turn
	// still running, or cut off when its process died.
	StopReason string
	Error      string
	Usage      backends.Usage
	CostUSD    float64
	StartedAt  time.Time
	// EndedAt is zero for a turn that has not ended.
	EndedAt time.Time
}

// Decision is a permission decision as a stored turn recorded it.
type Decision struct {
	ToolUseID string
	Tool      string
	Allow     bool
	// Rule is what "always" remembered; "" when nothing was.
	Rule string
	// Reason is a deny's reason, or why the request was withdrawn.
	Reason string
}

// Replayer receives a stored conversation from Replay: each turn, its
// events in the order they happened (text and thinking as the runs they
// were merged into), and its end.
type Replayer interface {
	TurnStarted(StoredTurn)
	Token(text string)
	Thinking(text string)
	ToolUse(backends.ToolUse)
	ToolResult(backends.ToolResult)
	Permission(Decision)
	TurnEnded(StoredTurn)
}

// Replay gives to the stored conversation of session id, live here or
// not (what the recorders of a live one hold is committed first), and
// returns the session as Lookup describes it. It fails with ErrNoStore
// without a store, with ErrNotFound for a session the store does not
// hold. It runs on the caller's goroutine.
func (r *Registry) Replay(ctx context.Context, id string, to Replayer) (Info, error) {
	if r.store == nil {
		return Info{}, fmt.Errorf("replaying session %q: %w", id, ErrNoStore)
	}
	if r.find(id) != nil {
		r.flush(ctx)
	}
	turns, err := r.store.Turns(id)
	if errors.Is(err, store.ErrNotFound) {
		return Info{}, fmt.Errorf("%w: %q (not stored)", ErrNotFound, id)
	}
	if err != nil {
		return Info{}, fmt.Errorf("replaying session %q: %w", id, err)
	}
	for _, t := range turns {
		st := StoredTurn{
			Seq:        t.Seq,
			Prompt:     decodePrompt(t.Prompt),
			StopReason: t.StopReason,
			Usage:      backends.Usage(t.Usage),
			CostUSD:    t.CostUSD,
			StartedAt:  t.StartedAt.UTC(),
		}
		if !t.EndedAt.IsZero() {
			st.EndedAt = t.EndedAt.UTC()
		}
		for _, ev := range t.Events {
			if ev.Kind == eventError {
				var e struct{ Message string }
				if json.Unmarshal(ev.Data, &e) == nil {
					st.Error = e.Message
				}
			}
		}
		to.TurnStarted(st)
		for _, ev := range t.Events {
			replayEvent(ev, to)
		}
		to.TurnEnded(st)
	}
	return r.Lookup(id)
}

// replayEvent gives one stored event to to.
func replayEvent(ev store.Event, to Replayer) {
	switch ev.Kind {
	case store.EventText:
		to.Token(ev.Text)
	case store.EventThinking:
		to.Thinking(ev.Text)
	case store.EventToolUse:
		u := ev.ToolUse
		use := backends.ToolUse{ID: u.ID, Name: u.Name, Input: u.Input}
		var d toolDisplay
		if len(u.Display) > 0 && json.Unmarshal(u.Display, &d) == nil {
			use.Kind, use.Title, use.Locations, use.Diffs = d.Kind, d.Title, d.Locations, d.Diffs
		}
		to.ToolUse(use)
	case store.EventToolResult:
		res := ev.ToolResult
		to.ToolResult(backends.ToolResult{ID: res.ID, Name: res.Name, Summary: res.Summary, IsError: res.IsError})
	case store.EventPermission:
		p := ev.Permission
		to.Permission(Decision{ToolUseID: p.ToolUseID, Tool: p.Tool, Allow: p.Allow, Rule: p.Rule, Reason: p.Reason})
	}
}

// Delete removes session id: a live one is closed first (as Close does),
// then its stored conversation is deleted. reply is called once, from a
// goroutine of the Registry's when the session was live: with whether
// there was a session to delete, or with why it could not be
// (ErrLiveElsewhere while another process holds it). It never touches
// what a backend keeps of its own (the claude CLI's transcripts).
func (r *Registry) Delete(id string, reply func(deleted bool, err error)) {
	remove := func(closed bool) {
		if r.store == nil {
			reply(closed, nil)
			return
		}
		if closed {
			// The closed session's last turn may still sit in the
			// writer; a delete before it commits would make that write
			// fail.
			r.flush(context.Background())
		}
		err := r.store.Delete(id)
		switch {
		case err == nil:
			reply(true, nil)
		case errors.Is(err, store.ErrNotFound):
			reply(closed, nil)
		default:
			reply(closed, err)
		}
	}
	r.Close(id, remove)
}
