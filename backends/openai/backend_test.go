package openai_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	oai "github.com/tether-dev/tether/backends/openai"
)

func TestAvailable(t *testing.T) {
	t.Setenv(oai.EnvAPIKey, "")
	t.Setenv(oai.EnvBaseURL, "")

	ok, detail := oai.New(oai.Config{}, nil).Available()
	assert.False(t, ok, "the OpenAI API without a key")
	assert.Contains(t, detail, "set OPENAI_API_KEY")
	assert.Contains(t, detail, "--openai-base-url")

	ok, detail = oai.New(oai.Config{BaseURL: "http://localhost:11434/v1/"}, nil).Available()
	assert.True(t, ok)
	assert.Equal(t, "model "+oai.DefaultModel+" at http://localhost:11434/v1 (no API key)", detail)

	t.Setenv(oai.EnvAPIKey, "sk-env")
	ok, detail = oai.New(oai.Config{Model: "gpt-x"}, nil).Available()
	assert.True(t, ok)
	assert.Equal(t, "model gpt-x at https://api.openai.com/v1 (API key from OPENAI_API_KEY)", detail)
	assert.NotContains(t, detail, "sk-env", "never show the key")

	t.Setenv(oai.EnvAPIKey, "")
	t.Setenv(oai.EnvBaseURL, "http://127.0.0.1:8080/v1")
	ok, detail = oai.New(oai.Config{}, nil).Available()
	assert.True(t, ok)
	assert.Contains(t, detail, "http://127.0.0.1:8080/v1", "OPENAI_BASE_URL is read")
}

func TestFlagsWinOverEnvironment(t *testing.T) {
	f := newFakeServer(t, textReply("ok"))
	t.Setenv(oai.EnvBaseURL, "http://"+closedPort(t)+"/v1") // would be refused
	t.Setenv(oai.EnvAPIKey, "sk-from-env")

	fs := flag.NewFlagSet("tether", flag.ContinueOnError)
	cfg := oai.RegisterFlags(fs)
	require.NoError(t, fs.Parse([]string{"--openai-base-url", f.baseURL(), "--openai-model", "flag-model"}))
	conn := open(t, oai.New(*cfg, nil), backends.Options{})

	_, err := conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("hi")}, &fakeSink{})
	require.NoError(t, err)
	reqs := f.recordedRequests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "flag-model", reqs[0].Body.Model)
	assert.Equal(t, "Bearer sk-from-env", reqs[0].Auth)
}

func TestSessionModelIsUsed(t *testing.T) {
	f := newFakeServer(t, textReply("ok"))
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL(), Model: "backend-model"}), backends.Options{Model: "session-model"})
	_, err := conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("hi")}, &fakeSink{})
	require.NoError(t, err)
	assert.Equal(t, "session-model", f.recordedRequests()[0].Body.Model)
}

func TestToolsWithoutParametersAndBadParameters(t *testing.T) {
	b := newBackend(t, oai.Config{BaseURL: "http://127.0.0.1:1/v1"})
	_, err := b.Open(context.Background(), backends.Options{Tools: []backends.Tool{{Name: "x", Parameters: json.RawMessage(`[1,2]`)}}})
	require.ErrorIs(t, err, backends.ErrFailed)
	assert.Contains(t, err.Error(), `tool "x": parameters must be a JSON Schema object`)

	f := newFakeServer(t, textReply("ok"))
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL()}), backends.Options{Tools: []backends.Tool{{Name: "now"}}})
	_, err = conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("time?")}, &fakeSink{})
	require.NoError(t, err)
	tools := f.recordedRequests()[0].Body.Tools
	require.Len(t, tools, 1)
	assert.JSONEq(t, `{"type":"object","properties":{}}`, string(tools[0].Function.Parameters))
}

// TestManySessionsAtOnce streams 50 sessions through one Backend (one
// client, one http.Client) at the same time; each must get exactly its own
// answer, and -race must stay quiet.
func TestManySessionsAtOnce(t *testing.T) {
	const sessions = 50
	f := newFakeServer(t)
	// Hold every response until all 50 requests are in, so the streams
	// really overlap.
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	f.fallback = func(w http.ResponseWriter, r *http.Request, req chatRequest) {
		mu.Lock()
		if arrived++; arrived == sessions {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-r.Context().Done():
			return
		}
		prompt := req.Messages[len(req.Messages)-1].text()
		s := startSSE(w)
		s.role()
		for _, word := range strings.Fields("echo: " + prompt) {
			s.text(word + " ")
		}
		s.finish("stop")
		s.usage(len(req.Messages), 3)
		s.done()
	}
	b := newBackend(t, oai.Config{BaseURL: f.baseURL()})
	ctx := testCtx(t)

	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for i := range sessions {
		wg.Go(func() {
			id := fmt.Sprintf("s%02d", i)
			conn, err := b.Open(ctx, backends.Options{SessionID: id})
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close(context.Background())
			sink := &fakeSink{}
			if _, err := conn.Query(ctx, backends.Turn{Prompt: backends.TextPrompt("hello from " + id)}, sink); err != nil {
				errs <- fmt.Errorf("%s: %w", id, err)
				return
			}
			if want := "echo: hello from " + id + " "; sink.text() != want {
				errs <- fmt.Errorf("%s got %q, want %q", id, sink.text(), want)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assert.Len(t, f.recordedRequests(), sessions)
}
