package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// driveStored runs drive.mjs (the official TS SDK's client) with steps
// against `tether acp` on the mock, on the store in state, and returns its
// events; every step must pass.
func driveStored(t *testing.T, state, cwd string, steps any) []acpEvent {
	t.Helper()
	run := driveTether(t, findACPTools(t), append(acpEnv(t), stateEnv(state)...), cwd, steps, "--backend", "mock")
	require.Equal(t, 0, run.code, "drive.mjs failed")
	return run.evs
}

// replayedUpdates are the session/updates drive.mjs saw between sending
// method and its response, as "kind text" lines.
func replayedUpdates(t *testing.T, evs []acpEvent, method string) []string {
	var out []string
	in := false
	for _, ev := range evs {
		switch {
		case ev.Event == "send" && ev.Method == method:
			in = true
		case ev.Event == "response" && ev.Method == method:
			return out
		case in && ev.Event == "notification" && ev.Method == "session/update":
			var u struct {
				Update struct {
					Kind    string          `json:"sessionUpdate"`
					Content json.RawMessage `json:"content"`
					Status  string          `json:"status"`
				} `json:"update"`
			}
			require.NoError(t, json.Unmarshal(ev.Params, &u))
			var block struct{ Text string }
			_ = json.Unmarshal(u.Update.Content, &block)
			line := u.Update.Kind
			for _, part := range []string{block.Text, u.Update.Status} {
				if part != "" {
					line += " " + part
				}
			}
			out = append(out, line)
		}
	}
	t.Fatalf("no response to %s", method)
	return nil
}

// ACP through the official TS SDK's client, across restarts of `tether
// acp`: the session of one run is listed by the next, session/load replays
// it as the SDK accepts it, and session/resume takes it back without a
// replay; prompts go on after each.
func TestACPClientLoadsAndResumesAcrossRestarts(t *testing.T) {
	state, cwd := t.TempDir(), t.TempDir()
	prompt := "hello from the SDK\n/think hmm\n/tool Bash {\"command\":\"ls\"}\ndone"
	evs := driveStored(t, state, cwd, map[string]any{
		"strict": true, "allowDropped": []string{"usage"}, "permissions": []string{"allow_once"},
		"steps": []map[string]any{
			{"op": "initialize", "expect": map[string]any{"agentCapabilities": map[string]any{
				"loadSession": true, "sessionCapabilities": map[string]any{"list": map[string]any{}, "resume": map[string]any{}},
			}}},
			{"op": "new_session", "as": "s"},
			{"op": "prompt", "session": "s", "prompt": prompt},
			{"op": "prompt", "session": "s", "prompt": "/tokens 2"},
		},
	})
	var id string
	for _, ev := range evs {
		if ev.Event == "response" && ev.Method == "session/new" {
			var res struct{ SessionID string }
			require.NoError(t, json.Unmarshal(ev.Result, &res))
			id = res.SessionID
		}
	}
	require.NotEmpty(t, id)

	evs = driveStored(t, state, cwd, map[string]any{
		"strict": true, "allowDropped": []string{"usage"},
		"steps": []map[string]any{
			{"op": "initialize"},
			{"op": "list_sessions", "expect": map[string]any{"sessions": []any{
				map[string]any{"sessionId": id, "cwd": cwd, "title": "hello from the SDK"},
			}}},
			{"op": "load_session", "sessionId": id},
			{"op": "prompt", "sessionId": id, "prompt": "/tokens 1", "expectText": "tok1"},
		},
	})
	assert.Equal(t, []string{
		"user_message_chunk " + prompt,
		"agent_message_chunk hello from the SDK",
		"agent_thought_chunk hmm",
		"tool_call pending",
		"tool_call_update completed",
		"agent_message_chunk \ndone",
		"user_message_chunk /tokens 2",
		"agent_message_chunk tok1 tok2",
	}, replayedUpdates(t, evs, "session/load"), "the conversation as the first run streamed it")

	evs = driveStored(t, state, cwd, map[string]any{
		"strict": true, "allowDropped": []string{"usage"},
		"steps": []map[string]any{
			{"op": "initialize"},
			{"op": "resume_session", "sessionId": id},
			{"op": "prompt", "sessionId": id, "prompt": "/tokens 1", "expectText": "tok1"},
		},
	})
	assert.Empty(t, replayedUpdates(t, evs, "session/resume"), "resume does not replay")
}
