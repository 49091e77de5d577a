package acpagent

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/supervisor"
)

// TestSessionsShareOneProcessUntilTheLastLetsGo: two sessions of one agent
// run on one process (one initialize, two session/new); closing one closes
// its ACP session and keeps the process; closing the last stops it.
func TestSessionsShareOneProcessUntilTheLastLetsGo(t *testing.T) {
	s := newScripted(t, "")
	live := supervisor.Live()
	ctx := backgroundGuard(t)
	a, err := s.Open(ctx, backends.Options{SessionID: "a", Cwd: t.TempDir()})
	require.NoError(t, err)
	b, err := s.Open(ctx, backends.Options{SessionID: "b", Cwd: t.TempDir()})
	require.NoError(t, err)
	assert.Equal(t, live+1, supervisor.Live(), "one process for both")
	for _, c := range []backends.Conn{a, b} {
		sink := newSink()
		_, err := query(t, c, "hi", sink)
		require.NoError(t, err)
		assert.Equal(t, "echo: hi", sink.text())
	}
	assert.Equal(t, []string{"initialize", "session/new", "session/new", "session/prompt", "session/prompt"}, s.methods(t))

	require.NoError(t, a.Close(ctx))
	assert.Equal(t, live+1, supervisor.Live(), "b still uses it")
	assert.Equal(t, "session/close", last(s.methods(t)))
	require.NoError(t, b.Close(ctx))
	assert.Equal(t, live, supervisor.Live(), "stopped with its last session")
}

// TestSuspendLetsGoAndTheNextPromptResumes: an idle session suspended
// (idle stop, the process limit) closes its ACP session and lets go of
// the process, which stops when no session holds it; the next prompt
// starts it again and resumes the conversation.
func TestSuspendLetsGoAndTheNextPromptResumes(t *testing.T) {
	s := newScripted(t, "")
	live := supervisor.Live()
	ctx := backgroundGuard(t)
	c := s.open(t, backends.Options{})
	_, err := query(t, c, "one", newSink())
	require.NoError(t, err)
	id := c.sessionID

	require.True(t, c.Running())
	require.NoError(t, c.Suspend(ctx))
	assert.False(t, c.Running())
	assert.Equal(t, live, supervisor.Live(), "the process stopped with its only session")
	assert.Equal(t, "session/close", last(s.methods(t)))

	sink := newSink()
	res, err := query(t, c, "two", sink)
	require.NoError(t, err)
	assert.Equal(t, "echo: two", sink.text())
	assert.Equal(t, id, res.BackendSessionID, "the same conversation")
	assert.Equal(t, []string{"initialize", "session/new", "session/prompt", "session/close", "initialize", "session/resume", "session/prompt"}, s.methods(t))
}

// TestSuspendOnAProcessOthersHoldKeepsIt: a suspended session lets go, but
// the process runs on for the other; back again, the session resumes on
// the same process.
func TestSuspendOnAProcessOthersHoldKeepsIt(t *testing.T) {
	s := newScripted(t, "")
	live := supervisor.Live()
	a := s.open(t, backends.Options{})
	_ = s.open(t, backends.Options{})
	require.NoError(t, a.Suspend(backgroundGuard(t)))
	assert.Equal(t, live+1, supervisor.Live())
	_, err := query(t, a, "back", newSink())
	require.NoError(t, err)
	assert.Equal(t, 1, count(s.methods(t), "initialize"))
	assert.Equal(t, 1, count(s.methods(t), "session/resume"))
}

// TestSuspendWithoutSessionClose: an agent without session/close keeps
// the session; back on the same process, nothing needs reloading.
func TestSuspendWithoutSessionClose(t *testing.T) {
	s := newScripted(t, "nocaps")
	a := s.open(t, backends.Options{})
	_ = s.open(t, backends.Options{})
	require.NoError(t, a.Suspend(backgroundGuard(t)))
	sink := newSink()
	_, err := query(t, a, "back", sink)
	require.NoError(t, err)
	assert.Equal(t, "echo: back", sink.text())
	assert.Equal(t, []string{"initialize", "session/new", "session/new", "session/prompt"}, s.methods(t))
	for _, p := range sink.progress {
		assert.NotContains(t, p, "new conversation")
	}
}

// TestOpenResumesAnAgentSession: Options.Resume names an agent session to
// go on with; it is resumed (session/resume), and prompts go to it.
func TestOpenResumesAnAgentSession(t *testing.T) {
	s := newScripted(t, "sessions")
	c := s.open(t, backends.Options{Resume: "old-2"})
	assert.JSONEq(t, `{"sessionId":"old-2","cwd":`+quote(c.opts.Cwd)+`,"mcpServers":[]}`, string(s.last(t, "session/resume")))
	sink := newSink()
	res, err := query(t, c, "again", sink)
	require.NoError(t, err)
	assert.Equal(t, "old-2", res.BackendSessionID)
	assert.Equal(t, "echo: again", sink.text())
}

// TestOpenLoadsWhenTheAgentCannotResume: with session/load only, the
// session is loaded, and what the agent replays is not passed on as a
// turn's output.
func TestOpenLoadsWhenTheAgentCannotResume(t *testing.T) {
	scenario := filepath.Join(t.TempDir(), "load-only.json")
	require.NoError(t, os.WriteFile(scenario, []byte(`{
	  "initialize": {"agentCapabilities": {"loadSession": true, "sessionCapabilities": {}}},
	  "sessions": [{"sessionId": "old-1", "cwd": "/p", "replay": [
	    {"sessionUpdate": "user_message_chunk", "content": {"type": "text", "text": "fix the build"}},
	    {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "Fixed it."}}]}]
	}`), 0o644))
	s := newScripted(t, scenario)
	c := s.open(t, backends.Options{Resume: "old-1"})
	assert.JSONEq(t, `{"sessionId":"old-1","cwd":`+quote(c.opts.Cwd)+`,"mcpServers":[]}`, string(s.last(t, "session/load")))
	sink := newSink()
	_, err := query(t, c, "after load", sink)
	require.NoError(t, err)
	assert.Equal(t, "echo: after load", sink.text(), "the replayed 'Fixed it.' is not part of the turn")
}

// TestModelAndModeAreTheAgentsConfigOptions: Info lists the agent's
// models and modes once a session has started; a session opened with a
// model sets it, and a turn that asks for another mode switches it.
func TestModelAndModeAreTheAgentsConfigOptions(t *testing.T) {
	s := newScripted(t, "")
	assert.Empty(t, s.Info().Models, "nothing known before the agent ran")
	assert.True(t, s.Info().Processes)
	assert.True(t, s.Info().MCPServers)

	c := s.open(t, backends.Options{Model: "fake-large"})
	assert.JSONEq(t, `{"sessionId":`+quote(c.sessionID)+`,"configId":"model","value":"fake-large"}`, string(s.last(t, "session/set_config_option")))
	info := s.Info()
	assert.Equal(t, []backends.Choice{{ID: "fake-large", Name: "Fake Large"}, {ID: "fake-small", Name: "Fake Small"}}, info.Models, "the current one first")
	assert.Equal(t, []backends.Choice{{ID: "default", Name: "Default"}, {ID: "acceptEdits", Name: "Accept Edits"}, {ID: "plan", Name: "Plan"}}, info.Modes)

	ctx := backgroundGuard(t)
	_, err := c.Query(ctx, backends.Turn{Prompt: backends.TextPrompt("plan it"), Model: "fake-large", PermissionMode: "plan"}, newSink())
	require.NoError(t, err)
	assert.JSONEq(t, `{"sessionId":`+quote(c.sessionID)+`,"configId":"mode","value":"plan"}`, string(s.last(t, "session/set_config_option")))
	assert.Equal(t, 2, count(s.methods(t), "session/set_config_option"), "the model was not set again")

	_, err = c.Query(ctx, backends.Turn{Prompt: backends.TextPrompt("x"), Model: "fake-huge"}, newSink())
	require.ErrorIs(t, err, backends.ErrFailed)
	assert.Contains(t, err.Error(), `setting model to "fake-huge": scripted refused: Invalid params: no such value`)
}

// TestModelAndModeOnAnAgentWithoutChoices: asking for a model of an agent
// that offers none is an error that says so.
func TestModelAndModeOnAnAgentWithoutChoices(t *testing.T) {
	s := newScripted(t, "nocaps")
	c := s.open(t, backends.Options{})
	_, err := c.Query(backgroundGuard(t), backends.Turn{Prompt: backends.TextPrompt("x"), Model: "big"}, newSink())
	require.ErrorIs(t, err, backends.ErrUnsupported)
	assert.Contains(t, err.Error(), `scripted offers no model choice (no config option of category model), so model "big" cannot be set`)
	_, err = c.Query(backgroundGuard(t), backends.Turn{Prompt: backends.TextPrompt("x"), PermissionMode: "plan"}, newSink())
	require.ErrorIs(t, err, backends.ErrUnsupported)
}

// TestAnAgentThatNeedsALogin: session/new answers "authentication
// required"; Open fails with ErrAuthRequired, saying so.
func TestAnAgentThatNeedsALogin(t *testing.T) {
	s := newScripted(t, "auth-required")
	_, err := s.Open(backgroundGuard(t), backends.Options{Cwd: t.TempDir()})
	require.ErrorIs(t, err, backends.ErrAuthRequired)
	require.ErrorIs(t, err, backends.ErrFailed)
	assert.Contains(t, err.Error(), "session/new: the agent answered error -32000: Authentication required")
}

// TestAMissingCommandIsUnavailable says where the agent was configured and
// how to install it.
func TestAMissingCommandIsUnavailable(t *testing.T) {
	b := NewAgent(Agent{Name: "gemini", Command: "gemini-not-installed-here", Args: []string{"--acp"}, From: "/home/u/.config/tether/agents.json"}, Config{}, nil)
	ok, detail := b.Available()
	assert.False(t, ok)
	assert.Equal(t, "gemini-not-installed-here not found (gemini-not-installed-here --acp, from /home/u/.config/tether/agents.json): install it, or fix --agent gemini=... or /home/u/.config/tether/agents.json", detail)
	_, err := b.Open(context.Background(), backends.Options{})
	assert.ErrorIs(t, err, backends.ErrUnavailable)

	gemini := NewAgent(Agent{Name: "g", Command: "/nowhere/gemini", From: "--agent"}, Config{}, nil)
	_, detail = gemini.Available()
	assert.Contains(t, detail, "install Gemini CLI (npm install -g @google/gemini-cli; it speaks ACP with --acp), or fix --agent g=...")
}

func last(list []string) string {
	if len(list) == 0 {
		return ""
	}
	return list[len(list)-1]
}

// TestASessionTheAgentForgotIsReloaded: the agent answers a prompt "no
// such session" (here: it was closed behind the session's back); the
// query fails saying so, and the next one resumes the session.
func TestASessionTheAgentForgotIsReloaded(t *testing.T) {
	s := newScripted(t, "")
	c := s.open(t, backends.Options{})
	ctx := backgroundGuard(t)
	require.NoError(t, c.proc.conn.Call(ctx, "session/close", map[string]string{"sessionId": c.sessionID}, nil))
	_, err := query(t, c, "hello?", newSink())
	require.ErrorIs(t, err, backends.ErrFailed)
	assert.Contains(t, err.Error(), "-32002")
	assert.Contains(t, err.Error(), "the next query reloads the session")
	sink := newSink()
	_, err = query(t, c, "hello again", sink)
	require.NoError(t, err)
	assert.Equal(t, "echo: hello again", sink.text())
	assert.Equal(t, 1, count(s.methods(t), "session/resume"))
}
