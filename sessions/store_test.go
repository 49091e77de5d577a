package sessions

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/backends/mock"
	"github.com/tether-dev/tether/store"
)

// echoBackend answers each prompt with the prompt as one token, and a
// result with a resume handle, usage and a cost. It records the options
// of every Open.
type echoBackend struct {
	name   string
	mu     sync.Mutex
	opened []backends.Options
	turns  int
}

func (b *echoBackend) Name() string              { return b.name }
func (b *echoBackend) Available() (bool, string) { return true, "" }
func (b *echoBackend) Info() backends.Info       { return backends.Info{MCPServers: true} }
func (b *echoBackend) Open(_ context.Context, opts backends.Options) (backends.Conn, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.opened = append(b.opened, opts)
	return echoConn{b}, nil
}

func (b *echoBackend) lastOpened() backends.Options {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.opened[len(b.opened)-1]
}

type echoConn struct{ b *echoBackend }

func (c echoConn) Query(_ context.Context, turn backends.Turn, sink backends.Sink) (backends.Result, error) {
	c.b.mu.Lock()
	c.b.turns++
	n := c.b.turns
	c.b.mu.Unlock()
	sink.Token(backends.PromptText(turn.Prompt))
	return backends.Result{
		StopReason:       backends.StopEndTurn,
		Usage:            backends.Usage{InputTokens: 10, OutputTokens: 2},
		CostUSD:          0.25,
		BackendSessionID: fmt.Sprint("handle-", n),
	}, nil
}

func (echoConn) Close(context.Context) error { return nil }

// storeRegistry is a registry on the store at path with bs, as one run of
// Tether has it; stop ends the run (the registry, then the store), as
// Tether exiting does.
type storeRegistry struct {
	*Registry
	st   *store.Store
	once sync.Once
}

func newStoreRegistry(t *testing.T, path string, bs ...backends.Backend) *storeRegistry {
	t.Helper()
	st, err := store.Open(path, store.Options{})
	require.NoError(t, err)
	r := &storeRegistry{Registry: NewRegistry(Config{Backends: bs, DefaultBackend: bs[0].Name(), Store: st}), st: st}
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *storeRegistry) stop(t *testing.T) {
	r.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), guard)
		defer cancel()
		require.NoError(t, r.Shutdown(ctx))
		require.NoError(t, r.st.Close())
	})
}

func TestAStoredSessionComesBackWithItsOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	dir := t.TempDir()
	b := &echoBackend{name: "echo"}
	tool := backends.Tool{Name: "read_file", Description: "Read a file", Parameters: []byte(`{"type":"object"}`)}
	first := newStoreRegistry(t, path, b)
	for i := range 3 {
		a := wait(t, ask(first.Registry, context.Background(), &recorder{}, "s", fmt.Sprint("question ", i+1, "\nmore"), func(p *Prompt) {
			p.Options.Cwd = dir
			p.Options.Model = "big"
			p.Options.SystemPrompt = "Be brief."
			p.Options.Tools = []backends.Tool{tool}
			p.Options.AllowedTools = []string{"Bash(ls:*)"}
			p.Options.MCPServers = []backends.MCPServer{{Name: "secret", Command: "x", Env: []backends.KeyValue{{Name: "TOKEN", Value: "t"}}}}
		}))
		require.NoError(t, a.err)
	}
	assert.Equal(t, "big", first.List()[0].Model)
	first.stop(t)

	second := newStoreRegistry(t, path, b, &echoBackend{name: "other"})
	page, err := second.ListSessions(ListQuery{})
	require.NoError(t, err)
	require.Len(t, page.Sessions, 1)
	s := page.Sessions[0]
	assert.Equal(t, StateStored, s.Status)
	assert.Equal(t, "echo", s.Backend)
	assert.Equal(t, "big", s.Model)
	assert.Equal(t, dir, s.Cwd)
	assert.Equal(t, 3, s.Turns)
	assert.Equal(t, "question 1", s.Title, "the first line of the first prompt")
	assert.Equal(t, backends.Usage{InputTokens: 30, OutputTokens: 6}, s.Usage)
	assert.InDelta(t, 0.75, s.CostUSD, 1e-9)
	assert.Equal(t, "handle-3", s.ResumeHandle)

	// A query that contradicts the stored session is refused, naming the
	// field, as for a live one.
	var pe *ParamError
	a := wait(t, ask(second.Registry, context.Background(), &recorder{}, "s", "hi", func(p *Prompt) { p.Options.Backend = "other" }))
	require.ErrorAs(t, a.err, &pe)
	assert.Equal(t, "backend", pe.Field)
	a = wait(t, ask(second.Registry, context.Background(), &recorder{}, "s", "hi", func(p *Prompt) { p.Options.Cwd = t.TempDir() }))
	require.ErrorAs(t, a.err, &pe)
	assert.Equal(t, "cwd", pe.Field)
	assert.Empty(t, second.List(), "nothing was brought back")

	// A query naming only the id brings it back as it was stored.
	a = wait(t, ask(second.Registry, context.Background(), &recorder{}, "s", "fourth"))
	require.NoError(t, a.err)
	opts := b.lastOpened()
	assert.Equal(t, dir, opts.Cwd, "in the stored cwd")
	assert.Equal(t, "big", opts.Model)
	assert.Equal(t, "Be brief.", opts.SystemPrompt)
	assert.Equal(t, []backends.Tool{tool}, opts.Tools)
	assert.Equal(t, []string{"Bash(ls:*)"}, opts.AllowedTools)
	assert.Equal(t, "handle-3", opts.Resume, "the backend resumes its conversation")
	assert.Empty(t, opts.MCPServers, "MCP servers are never stored: they may hold secrets")
	assert.NotNil(t, opts.History, "a stored session keeps its history in the store")
	live := second.List()
	require.Len(t, live, 1)
	assert.Equal(t, 4, live[0].Turns, "the turn count goes on")
	assert.Equal(t, "question 1", live[0].Title)
	info, err := second.Lookup("s")
	require.NoError(t, err)
	assert.Equal(t, StateIdle, info.Status)
	assert.Equal(t, "handle-4", info.ResumeHandle)
}

// replayLog is a Replayer that writes each call as a line.
type replayLog struct{ lines []string }

func (l *replayLog) add(format string, args ...any) {
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *replayLog) TurnStarted(t StoredTurn) {
	l.add("turn %d: %s", t.Seq, backends.PromptText(t.Prompt))
}
func (l *replayLog) Token(text string)    { l.add("token %q", text) }
func (l *replayLog) Thinking(text string) { l.add("thinking %q", text) }
func (l *replayLog) ToolUse(u backends.ToolUse) {
	l.add("toolUse %s %s %s %s %s", u.ID, u.Name, u.Input, u.Kind, u.Title)
}
func (l *replayLog) ToolResult(r backends.ToolResult) {
	l.add("toolResult %s %s %q %v", r.ID, r.Name, r.Summary, r.IsError)
}
func (l *replayLog) Permission(d Decision) {
	l.add("permission %s %s allow=%v rule=%q", d.ToolUseID, d.Tool, d.Allow, d.Rule)
}
func (l *replayLog) TurnEnded(t StoredTurn) {
	l.add("end %d: %s %q in=%d out=%d ended=%v", t.Seq, t.StopReason, t.Error, t.Usage.InputTokens, t.Usage.OutputTokens, !t.EndedAt.IsZero())
}

func TestReplayGivesTheConversationAsItHappened(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	r := newStoreRegistry(t, path, mock.Backend{})
	rec := &recorder{asked: make(chan PermissionRequest, 1)}
	first := ask(r.Registry, context.Background(), rec, "s", "hello brave world\n/think pondering\n/tool Bash {\"command\":\"ls -l\"}\nbye")
	p := wait(t, rec.asked)
	require.NoError(t, r.Respond(p.ID, backends.Decision{Allow: true, Remember: true}))
	require.NoError(t, wait(t, first).err)
	a := wait(t, ask(r.Registry, context.Background(), &recorder{}, "s", "partial\n/fail the model exploded"))
	require.ErrorIs(t, a.err, backends.ErrFailed)

	want := []string{
		"turn 1: hello brave world\n/think pondering\n/tool Bash {\"command\":\"ls -l\"}\nbye",
		`token "hello brave world"`,
		`thinking "pondering"`,
		`toolUse toolu_mock_1 Bash {"command":"ls -l"} execute Bash`,
		`permission toolu_mock_1 Bash allow=true rule="Bash(ls:*)"`,
		`toolResult toolu_mock_1 Bash "Bash ran (mock result)" false`,
		`token "\nbye"`,
		`end 1: end_turn "" in=10 out=4 ended=true`,
		"turn 2: partial\n/fail the model exploded",
		`token "partial"`,
		`end 2: error "backend failed: the model exploded" in=5 out=1 ended=true`,
	}
	// Live: what the recorders hold is committed first.
	l := &replayLog{}
	info, err := r.Replay(context.Background(), "s", l)
	require.NoError(t, err)
	assert.Equal(t, want, l.lines)
	assert.Equal(t, 2, info.Turns)
	assert.Equal(t, StateFailed, info.Status, "a live session is described as it is")

	// After a restart, the same.
	r.stop(t)
	r = newStoreRegistry(t, path, mock.Backend{})
	l = &replayLog{}
	info, err = r.Replay(context.Background(), "s", l)
	require.NoError(t, err)
	assert.Equal(t, want, l.lines)
	assert.Equal(t, StateStored, info.Status)
	assert.Equal(t, "hello brave world", info.Title)

	_, err = r.Replay(context.Background(), "nope", l)
	require.ErrorIs(t, err, ErrNotFound)
}

func TestDeleteClosesALiveSessionAndForgetsIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	r := newStoreRegistry(t, path, &echoBackend{name: "echo"})
	require.NoError(t, wait(t, ask(r.Registry, context.Background(), &recorder{}, "live", "one")).err)
	require.NoError(t, wait(t, ask(r.Registry, context.Background(), &recorder{}, "kept", "two")).err)
	closed := make(chan bool, 1)
	r.Close("kept", func(ok bool) { closed <- ok })
	require.True(t, wait(t, closed))

	type result struct {
		deleted bool
		err     error
	}
	del := func(id string) result {
		ch := make(chan result, 1)
		r.Delete(id, func(deleted bool, err error) { ch <- result{deleted, err} })
		return wait(t, ch)
	}
	assert.Equal(t, result{true, nil}, del("live"))
	assert.False(t, r.Exists("live"), "closed first")
	assert.Equal(t, result{false, nil}, del("live"), "gone")
	assert.Equal(t, result{false, nil}, del("never"))
	page, err := r.ListSessions(ListQuery{})
	require.NoError(t, err)
	require.Len(t, page.Sessions, 1)
	assert.Equal(t, "kept", page.Sessions[0].SessionID)
	assert.Equal(t, StateStored, page.Sessions[0].Status)
	assert.Equal(t, result{true, nil}, del("kept"), "a stored session that is not live")
	_, err = r.Lookup("kept")
	require.ErrorIs(t, err, ErrNotFound)
}

// historyBackend keeps its conversation in Options.History, as the
// openai backend does: each Open loads it, each turn appends the prompt.
type historyBackend struct {
	mu     sync.Mutex
	loaded [][]string // what each Open found
}

func (b *historyBackend) Name() string              { return "hist" }
func (b *historyBackend) Available() (bool, string) { return true, "" }
func (b *historyBackend) Info() backends.Info       { return backends.Info{} }
func (b *historyBackend) Open(_ context.Context, opts backends.Options) (backends.Conn, error) {
	msgs, err := opts.History.Load()
	if err != nil {
		return nil, err
	}
	var texts []string
	for _, m := range msgs {
		var s string
		require.NoError(nil, json.Unmarshal(m, &s))
		texts = append(texts, s)
	}
	b.mu.Lock()
	b.loaded = append(b.loaded, texts)
	b.mu.Unlock()
	return historyConn{opts.History}, nil
}

type historyConn struct{ h backends.History }

func (c historyConn) Query(_ context.Context, turn backends.Turn, sink backends.Sink) (backends.Result, error) {
	raw, _ := json.Marshal(backends.PromptText(turn.Prompt))
	return backends.Result{StopReason: backends.StopEndTurn}, c.h.Append(raw)
}

func (historyConn) Close(context.Context) error { return nil }

func TestTheStoreIsTheHistoryOfBackendsThatKeepNone(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	b := &historyBackend{}
	r := newStoreRegistry(t, path, b)
	for _, q := range []string{"one", "two"} {
		require.NoError(t, wait(t, ask(r.Registry, context.Background(), &recorder{}, "s", q)).err)
	}
	r.stop(t)
	r = newStoreRegistry(t, path, b)
	require.NoError(t, wait(t, ask(r.Registry, context.Background(), &recorder{}, "s", "three")).err)
	assert.Equal(t, [][]string{nil, {"one", "two"}}, b.loaded)
}

func TestWithoutAStore(t *testing.T) {
	r := NewRegistry(Config{Backends: []backends.Backend{&echoBackend{name: "echo"}}, DefaultBackend: "echo", StoreProblem: "corrupt"})
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
	assert.Equal(t, StoreStatus{Problem: "corrupt"}, r.StoreStatus())
	require.NoError(t, wait(t, ask(r, context.Background(), &recorder{}, "s", "one")).err)
	page, err := r.ListSessions(ListQuery{})
	require.NoError(t, err)
	require.Len(t, page.Sessions, 1, "the live ones")
	assert.Equal(t, "one", page.Sessions[0].Title)
	assert.Empty(t, page.Next)
	_, err = r.ListSessions(ListQuery{Cursor: "x"})
	var pe *ParamError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "cursor", pe.Field)
	_, err = r.Replay(context.Background(), "s", &replayLog{})
	require.ErrorIs(t, err, ErrNoStore)
	info, err := r.Lookup("s")
	require.NoError(t, err)
	assert.Equal(t, 1, info.Turns)
}

// Live sessions come first, as before; stored ones follow, newest first,
// a page at a time.
func TestListSessionsPagesTheStoredOnes(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	dirA, dirB := t.TempDir(), t.TempDir()
	r := newStoreRegistry(t, path, &echoBackend{name: "echo"})
	for i := range 5 {
		dir := dirA
		if i%2 == 1 {
			dir = dirB
		}
		id := fmt.Sprint("old", i)
		require.NoError(t, wait(t, ask(r.Registry, context.Background(), &recorder{}, id, id, func(p *Prompt) { p.Options.Cwd = dir })).err)
	}
	r.stop(t)
	r = newStoreRegistry(t, path, &echoBackend{name: "echo"})
	require.NoError(t, wait(t, ask(r.Registry, context.Background(), &recorder{}, "new", "new", func(p *Prompt) { p.Options.Cwd = dirA })).err)
	require.NoError(t, wait(t, ask(r.Registry, context.Background(), &recorder{}, "old0", "again")).err)

	var ids []string
	var statuses []string
	q := ListQuery{Limit: 2}
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		page, err := r.ListSessions(q)
		require.NoError(t, err)
		for _, s := range page.Sessions {
			ids = append(ids, s.SessionID)
			statuses = append(statuses, s.Status)
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	assert.Equal(t, []string{"old0", "new", "old4", "old3", "old2", "old1"}, ids,
		"live ones first, oldest first (old0 was made in the first run); then stored, newest first, each once")
	assert.Equal(t, []string{"idle", "idle", "stored", "stored", "stored", "stored"}, statuses)

	page, err := r.ListSessions(ListQuery{Cwd: dirB})
	require.NoError(t, err)
	ids = nil
	for _, s := range page.Sessions {
		ids = append(ids, s.SessionID)
	}
	assert.Equal(t, []string{"old3", "old1"}, ids)
	_, err = r.ListSessions(ListQuery{Cursor: "bogus"})
	var pe *ParamError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "cursor", pe.Field)
}

// A session that never had a turn leaves nothing behind when it closes.
func TestASessionWithoutTurnsIsNotKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	r := newStoreRegistry(t, path, &echoBackend{name: "echo"})
	ready := make(chan error, 1)
	require.NoError(t, r.Open(Options{SessionID: "empty"}, func(err error) { ready <- err }))
	require.NoError(t, wait(t, ready))
	require.NoError(t, wait(t, ask(r.Registry, context.Background(), &recorder{}, "used", "hi")).err)
	r.stop(t)
	r = newStoreRegistry(t, path, &echoBackend{name: "echo"})
	page, err := r.ListSessions(ListQuery{})
	require.NoError(t, err)
	require.Len(t, page.Sessions, 1)
	assert.Equal(t, "used", page.Sessions[0].SessionID)
}

// paceBackend streams its prompt's words, a token every 10 ms (of the
// bubble's clock), says so on streamed, then waits for gate before it
// ends the turn.
type paceBackend struct{ streamed, gate chan struct{} }

func (b *paceBackend) Name() string              { return "pace" }
func (b *paceBackend) Available() (bool, string) { return true, "" }
func (b *paceBackend) Info() backends.Info       { return backends.Info{} }
func (b *paceBackend) Open(context.Context, backends.Options) (backends.Conn, error) {
	return paceConn{b}, nil
}

type paceConn struct{ b *paceBackend }

func (c paceConn) Query(ctx context.Context, turn backends.Turn, sink backends.Sink) (backends.Result, error) {
	for i, w := range strings.Fields(backends.PromptText(turn.Prompt)) {
		if i > 0 {
			w = " " + w
		}
		sink.Token(w)
		time.Sleep(10 * time.Millisecond)
	}
	close(c.b.streamed)
	select {
	case <-c.b.gate:
	case <-ctx.Done():
	}
	return backends.Result{StopReason: backends.StopEndTurn}, nil
}

func (paceConn) Close(context.Context) error { return nil }

// An answer reaches the store while it streams, not only when its turn
// ends, so that what a crash loses is bounded: here, at most the last
// textClockTokens tokens, in a bubble whose clock the stream advances.
func TestAnAnswerIsRecordedWhileItStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), store.FileName)
		b := &paceBackend{streamed: make(chan struct{}), gate: make(chan struct{})}
		r := newStoreRegistry(t, path, b)
		words := make([]string, 200) // two seconds of tokens
		for i := range words {
			words[i] = fmt.Sprint("w", i)
		}
		answer := strings.Join(words, " ")
		done := ask(r.Registry, context.Background(), &recorder{}, "s", answer)
		<-b.streamed
		l := &replayLog{}
		_, err := r.Replay(context.Background(), "s", l)
		require.NoError(t, err)
		require.Len(t, l.lines, 3, "the turn, one text run, its end: %v", l.lines)
		var recorded string
		_, err = fmt.Sscanf(strings.TrimPrefix(l.lines[1], "token "), "%q", &recorded)
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(answer, recorded))
		assert.GreaterOrEqual(t, len(strings.Fields(recorded)), len(words)-textClockTokens,
			"all but the last few tokens are recorded while the turn runs")

		close(b.gate)
		require.NoError(t, (<-done).err)
		l = &replayLog{}
		_, err = r.Replay(context.Background(), "s", l)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("token %q", answer), l.lines[1], "and all of it once the turn has ended")
	})
}
