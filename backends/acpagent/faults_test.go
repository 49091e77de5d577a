package acpagent

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/supervisor"
)

// TestCancelSendsSessionCancelAndReadsOnToTheAnswer: a cancelled turn
// sends session/cancel, takes what the agent still sends (its tool call
// marked failed), and ends with the agent's "cancelled"; the session goes
// on.
func TestCancelSendsSessionCancelAndReadsOnToTheAnswer(t *testing.T) {
	s := newScripted(t, "cancel")
	c := s.open(t, backends.Options{})
	sink := newSink()
	ctx, cancel := context.WithCancel(backgroundGuard(t))
	sink.onToken = func(text string) {
		if text == "..." {
			cancel() // the agent now holds until it is cancelled
		}
	}
	res, err := c.Query(ctx, backends.Turn{Prompt: backends.TextPrompt("hold on")}, sink)
	require.NoError(t, err)
	assert.Equal(t, backends.StopCancelled, res.StopReason)
	assert.Equal(t, "working...", sink.text())
	assert.Contains(t, s.methods(t), "session/cancel")
	require.Len(t, sink.results, 1, "the agent's own update after the cancel is read")
	assert.Equal(t, "sleep 1000: error: failed", sink.results[0].Summary)

	next := newSink()
	_, err = query(t, c, "still here?", next)
	require.NoError(t, err)
	assert.Equal(t, "echo: still here?", next.text())
}

// TestAPromptErrorFailsThatTurnOnly: the agent answers a prompt with an
// error; the turn fails with the agent's message, and the next prompt
// works.
func TestAPromptErrorFailsThatTurnOnly(t *testing.T) {
	s := newScripted(t, "prompt-error")
	c := s.open(t, backends.Options{})
	sink := newSink()
	_, err := query(t, c, "go", sink)
	require.ErrorIs(t, err, backends.ErrFailed)
	assert.Contains(t, err.Error(), "scripted: the prompt failed: the agent answered error -32603: Internal error: model overloaded")
	assert.Contains(t, err.Error(), `"retryable":true`, "with the error's data")
	assert.Equal(t, "partial", sink.text(), "what streamed before the error was passed on")

	next := newSink()
	res, err := query(t, c, "again", next)
	require.NoError(t, err)
	assert.Equal(t, backends.StopEndTurn, res.StopReason)
	assert.Equal(t, "echo: again", next.text())
}

// TestLinesThatAreNotACPAreSkippedAndSaid: the agent writes a line that is
// not JSON at startup and one mid-turn; the turn goes on, and is told.
func TestLinesThatAreNotACPAreSkippedAndSaid(t *testing.T) {
	s := newScripted(t, "garbage-stdout")
	c := s.open(t, backends.Options{})
	sink := newSink()
	res, err := query(t, c, "go", sink)
	require.NoError(t, err)
	assert.Equal(t, backends.StopEndTurn, res.StopReason)
	assert.Equal(t, "before after", sink.text())
	assert.Contains(t, sink.progress, `scripted wrote a line that is not ACP on stdout; skipped: "{not json either"`)
	for _, r := range s.received(t) {
		assert.NotEqual(t, "", r.Method+string(r.Result), "Tether answered no error to what was not a message of the agent's")
	}
}

// TestAnAgentThatNeverAnswersInitialize fails the turns waiting for it
// after --agent-start-timeout, saying what it waited for, and is stopped.
func TestAnAgentThatNeverAnswersInitialize(t *testing.T) {
	s := newScripted(t, "hang-initialize", withConfig(func(c *Config) { c.StartTimeout = 300 * time.Millisecond }))
	live := supervisor.Live()
	_, err := s.Open(backgroundGuard(t), backends.Options{Cwd: t.TempDir()})
	require.ErrorIs(t, err, backends.ErrFailed)
	assert.Contains(t, err.Error(), "did not answer initialize within 300ms (--agent-start-timeout)")
	assert.Equal(t, live, supervisor.Live(), "the agent was stopped")
}

// TestAFloodOfUpdatesArrivesWhole: 5000 chunks as fast as the agent can
// write them, all passed on, in order.
func TestAFloodOfUpdatesArrivesWhole(t *testing.T) {
	s := newScripted(t, "flood")
	c := s.open(t, backends.Options{})
	sink := newSink()
	res, err := query(t, c, "flood", sink)
	require.NoError(t, err)
	assert.Equal(t, backends.StopEndTurn, res.StopReason)
	assert.Equal(t, strings.Repeat("x", 5000), sink.text())
}

// TestAnAgentThatExitsMidTurn fails the running turns of every session on
// it, saying how it ended; the next prompt of each starts it again and
// resumes its conversation.
func TestAnAgentThatExitsMidTurn(t *testing.T) {
	s := newScripted(t, "crash")
	a := s.open(t, backends.Options{})
	b := s.open(t, backends.Options{})
	held := newSink()
	holding := make(chan struct{})
	held.onToken = func(string) { close(holding) }
	heldErr := make(chan error, 1)
	go func() {
		// A second session's turn runs on the same process.
		_, err := query(t, b, "hold", held)
		heldErr <- err
	}()
	<-holding

	sink := newSink()
	_, err := query(t, a, "crash now", sink)
	require.ErrorIs(t, err, backends.ErrFailed)
	assert.Contains(t, err.Error(), "scripted: the agent exited mid-turn (exit status 3)")
	assert.Contains(t, err.Error(), "stderr: ", "with the tail of its stderr")
	assert.Equal(t, "about to crash", sink.text())
	require.Len(t, sink.results, 1)
	assert.Equal(t, "make: not finished: the agent exited", sink.results[0].Summary)
	assert.False(t, a.Running())
	err = <-heldErr
	require.ErrorIs(t, err, backends.ErrFailed, "the other session's running turn fails too")
	assert.Contains(t, err.Error(), "exited mid-turn")
	assert.False(t, b.Running())

	next := newSink()
	res, err := query(t, a, "are you back?", next)
	require.NoError(t, err)
	assert.Equal(t, backends.StopEndTurn, res.StopReason)
	assert.Equal(t, "echo: are you back?", next.text())
	for _, p := range next.progress {
		assert.NotContains(t, p, "new conversation", "resumed: the conversation goes on")
	}
	methods := s.methods(t)
	assert.Equal(t, 2, count(methods, "initialize"), "started again: %v", methods)
	assert.Equal(t, 1, count(methods, "session/resume"), "a's conversation resumed: %v", methods)
	assert.True(t, a.Running())
	assert.False(t, b.Running(), "b resumes at its own next prompt")
	next = newSink()
	_, err = query(t, b, "and you?", next)
	require.NoError(t, err)
	assert.Equal(t, "echo: and you?", next.text())
	assert.Equal(t, 2, count(s.methods(t), "initialize"), "b joins the running process")
}

// TestAnAgentThatCannotReloadStartsANewConversationAndSaysSo: after a
// crash, an agent without session/load or resume gets a new session, and
// the turn is told its conversation is new.
func TestAnAgentThatCannotReloadStartsANewConversationAndSaysSo(t *testing.T) {
	s := newScripted(t, "crash-nocaps")
	c := s.open(t, backends.Options{})
	first := c.sessionID
	_, err := query(t, c, "crash", newSink())
	require.ErrorIs(t, err, backends.ErrFailed)
	sink := newSink()
	_, err = query(t, c, "hello?", sink)
	require.NoError(t, err)
	assert.Equal(t, "echo: hello?", sink.text())
	require.NotEmpty(t, sink.progress)
	assert.Contains(t, sink.progress[len(sink.progress)-1], "cannot reload sessions (no session/load or session/resume): this is a new conversation, without the earlier turns of "+first)
	assert.Equal(t, 2, count(s.methods(t), "session/new"))
}

// TestAgentsAreIsolated: one agent crashing leaves another agent's turn,
// running at the same time, untouched.
func TestAgentsAreIsolated(t *testing.T) {
	crashing := newScripted(t, "crash")
	other := newScripted(t, "cancel")
	a := crashing.open(t, backends.Options{})
	b := other.open(t, backends.Options{})
	ctx, cancel := context.WithCancel(backgroundGuard(t))
	sink := newSink()
	sink.onToken = func(text string) {
		if text == "..." {
			_, err := query(t, a, "crash", newSink())
			assert.ErrorIs(t, err, backends.ErrFailed)
			cancel()
		}
	}
	res, err := b.Query(ctx, backends.Turn{Prompt: backends.TextPrompt("hold")}, sink)
	require.NoError(t, err)
	assert.Equal(t, backends.StopCancelled, res.StopReason, "the other agent's turn ended as its client asked")
	assert.True(t, b.Running())
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}
