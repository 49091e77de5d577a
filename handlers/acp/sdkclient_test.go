package acp_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	schema "github.com/coder/acp-go-sdk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/backends/mock"
	"github.com/tether-dev/tether/handlers"
	"github.com/tether-dev/tether/handlers/acp"
)

// sdkClient is a client of acp-go-sdk's own: a reader of Tether's messages
// that nobody here wrote. It answers permission requests with its option
// and collects the updates it decoded.
type sdkClient struct {
	option schema.PermissionOptionId

	mu      sync.Mutex
	updates []schema.SessionUpdate
	asked   []schema.RequestPermissionRequest
}

var errNotHere = errors.New("not offered by this client")

func (c *sdkClient) SessionUpdate(_ context.Context, n schema.SessionNotification) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.updates = append(c.updates, n.Update)
	return nil
}

func (c *sdkClient) RequestPermission(_ context.Context, p schema.RequestPermissionRequest) (schema.RequestPermissionResponse, error) {
	c.mu.Lock()
	c.asked = append(c.asked, p)
	c.mu.Unlock()
	return schema.RequestPermissionResponse{Outcome: schema.NewRequestPermissionOutcomeSelected(c.option)}, nil
}

func (c *sdkClient) ReadTextFile(context.Context, schema.ReadTextFileRequest) (schema.ReadTextFileResponse, error) {
	return schema.ReadTextFileResponse{}, errNotHere
}

func (c *sdkClient) WriteTextFile(context.Context, schema.WriteTextFileRequest) (schema.WriteTextFileResponse, error) {
	return schema.WriteTextFileResponse{}, errNotHere
}

func (c *sdkClient) CreateTerminal(context.Context, schema.CreateTerminalRequest) (schema.CreateTerminalResponse, error) {
	return schema.CreateTerminalResponse{}, errNotHere
}

func (c *sdkClient) KillTerminal(context.Context, schema.KillTerminalRequest) (schema.KillTerminalResponse, error) {
	return schema.KillTerminalResponse{}, errNotHere
}

func (c *sdkClient) TerminalOutput(context.Context, schema.TerminalOutputRequest) (schema.TerminalOutputResponse, error) {
	return schema.TerminalOutputResponse{}, errNotHere
}

func (c *sdkClient) ReleaseTerminal(context.Context, schema.ReleaseTerminalRequest) (schema.ReleaseTerminalResponse, error) {
	return schema.ReleaseTerminalResponse{}, errNotHere
}

func (c *sdkClient) WaitForTerminalExit(context.Context, schema.WaitForTerminalExitRequest) (schema.WaitForTerminalExitResponse, error) {
	return schema.WaitForTerminalExitResponse{}, errNotHere
}

// TestTheSDKsClientUnderstandsTether drives Tether with acp-go-sdk's client
// side: everything Tether writes must decode as the schema says, and a
// turn with a permission round trip must read as it does on our own test
// client.
func TestTheSDKsClientUnderstandsTether(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	done := make(chan int, 1)
	go func() {
		done <- handlers.Serve(context.Background(), inR, outW, handlers.Config{
			Backends:        []backends.Backend{mock.Backend{}},
			DefaultBackend:  mock.Name,
			ShutdownTimeout: guard,
			Log:             log,
			Dialect:         acp.New(acp.Info{Name: "tether", Version: "test"}, log),
		})
		outW.Close()
	}()
	client := &sdkClient{option: "allow_once"}
	conn := schema.NewClientSideConnection(client, inW, outR)
	conn.SetLogger(log)
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()

	init, err := conn.Initialize(ctx, schema.InitializeRequest{ProtocolVersion: schema.ProtocolVersionNumber})
	require.NoError(t, err)
	assert.Equal(t, schema.ProtocolVersion(1), init.ProtocolVersion)
	assert.True(t, init.AgentCapabilities.PromptCapabilities.Image)
	require.NotEmpty(t, init.AuthMethods)
	assert.NotNil(t, init.AuthMethods[0].Agent)

	sess, err := conn.NewSession(ctx, schema.NewSessionRequest{Cwd: t.TempDir(), McpServers: []schema.McpServer{}})
	require.NoError(t, err)
	require.Len(t, sess.ConfigOptions, 3)
	require.NotNil(t, sess.ConfigOptions[1].Select)
	assert.Equal(t, schema.SessionConfigValueId("mock"), sess.ConfigOptions[1].Select.CurrentValue)
	require.NotNil(t, sess.Modes)

	res, err := conn.Prompt(ctx, schema.PromptRequest{SessionId: sess.SessionId, Prompt: []schema.ContentBlock{
		schema.TextBlock("Checking.\n/think hmm\n/tool Bash {\"command\":\"ls\",\"n\":12345678901234567890}\n/tokens 2"),
	}})
	require.NoError(t, err)
	assert.Equal(t, schema.StopReasonEndTurn, res.StopReason)
	require.NotNil(t, res.Usage)
	assert.Equal(t, 3, res.Usage.OutputTokens)

	client.mu.Lock()
	defer client.mu.Unlock()
	var text strings.Builder
	var kinds []string
	for _, u := range client.updates {
		switch {
		case u.AgentMessageChunk != nil:
			text.WriteString(u.AgentMessageChunk.Content.Text.Text)
			// Chunks merge while a client falls behind: count runs.
			if len(kinds) == 0 || kinds[len(kinds)-1] != "message" {
				kinds = append(kinds, "message")
			}
		case u.AgentThoughtChunk != nil:
			kinds = append(kinds, "thought")
		case u.ToolCall != nil:
			assert.Equal(t, schema.ToolKindExecute, u.ToolCall.Kind)
			assert.Equal(t, "Bash", u.ToolCall.Title)
			kinds = append(kinds, "tool_call")
		case u.ToolCallUpdate != nil:
			require.NotNil(t, u.ToolCallUpdate.Status)
			assert.Equal(t, schema.ToolCallStatusCompleted, *u.ToolCallUpdate.Status)
			kinds = append(kinds, "tool_call_update")
		case u.SessionInfoUpdate != nil:
			kinds = append(kinds, "session_info")
		default:
			t.Errorf("an update the SDK did not decode: %+v", u)
		}
	}
	assert.Equal(t, "Checking.\ntok1 tok2", text.String())
	assert.Equal(t, []string{"session_info", "message", "thought", "tool_call", "tool_call_update", "message"}, kinds)
	require.Len(t, client.asked, 1)
	assert.Equal(t, "Bash", *client.asked[0].ToolCall.Title)
	assert.Len(t, client.asked[0].Options, 3)

	require.NoError(t, inW.Close())
	select {
	case code := <-done:
		assert.Equal(t, 0, code)
	case <-time.After(guard):
		t.Fatal("tether did not exit after its input ended")
	}
	select {
	case <-conn.Done():
	case <-time.After(guard):
		t.Fatal("the SDK's connection did not see the end")
	}
}
