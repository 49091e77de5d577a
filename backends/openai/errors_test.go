package openai_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	oai "github.com/tether-dev/tether/backends/openai"
)

// queryFails runs one query that must fail, checks the error is a
// backends.ErrFailed, and returns it.
func queryFails(t *testing.T, conn backends.Conn, prompt string) error {
	t.Helper()
	sink := &fakeSink{}
	_, err := conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt(prompt)}, sink)
	require.Error(t, err)
	assert.ErrorIs(t, err, backends.ErrFailed)
	return err
}

// stillUsable checks that the conn answers the next query, and that the
// failed prompt did not stay in the history when nothing of it was seen.
func stillUsable(t *testing.T, f *fakeServer, conn backends.Conn, wantHistory ...string) {
	t.Helper()
	f.mu.Lock()
	f.script = append(f.script, textReply("Back."))
	f.mu.Unlock()
	res, err := conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("retry")}, &fakeSink{})
	require.NoError(t, err)
	assert.Equal(t, backends.StopEndTurn, res.StopReason)
	reqs := f.recordedRequests()
	assert.Equal(t, append(wantHistory, "user:retry"), roles(reqs[len(reqs)-1].Body.Messages))
}

func TestUnauthorized(t *testing.T) {
	f := newFakeServer(t, errorReply(http.StatusUnauthorized, nil, "Incorrect API key provided: sk-te**st.", "invalid_api_key"))
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL(), MaxRetries: -1}), backends.Options{})

	err := queryFails(t, conn, "hi")
	var apiErr *oai.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusUnauthorized, apiErr.StatusCode)
	assert.Contains(t, err.Error(), "401 Unauthorized")
	assert.Contains(t, err.Error(), "OPENAI_API_KEY", "say which variable holds the key")
	assert.Contains(t, err.Error(), "Incorrect API key provided", "the server's own message")
	assert.Len(t, f.recordedRequests(), 1, "401 is not retried")
	stillUsable(t, f, conn)
}

func TestUnauthorizedWithoutKey(t *testing.T) {
	t.Setenv(oai.EnvAPIKey, "")
	f := newFakeServer(t, errorReply(http.StatusUnauthorized, nil, "missing bearer token", ""))
	conn := open(t, oai.New(oai.Config{BaseURL: f.baseURL(), MaxRetries: -1}, nil), backends.Options{})

	err := queryFails(t, conn, "hi")
	assert.Contains(t, err.Error(), "none is set; put it in OPENAI_API_KEY")
}

func TestModelNotFound(t *testing.T) {
	f := newFakeServer(t, errorReply(http.StatusNotFound, nil, "The model `gpt-nope` does not exist or you do not have access to it.", "model_not_found"))
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL(), Model: "gpt-nope"}), backends.Options{})

	err := queryFails(t, conn, "hi")
	assert.Contains(t, err.Error(), `model "gpt-nope" not found at `+f.baseURL())
	assert.Contains(t, err.Error(), "404 Not Found")
	assert.Contains(t, err.Error(), "--openai-model")
	stillUsable(t, f, conn)
}

func TestRateLimitedRetriesAfterTheServersDelay(t *testing.T) {
	f := newFakeServer(t,
		errorReply(http.StatusTooManyRequests, map[string]string{"Retry-After": "1"}, "Rate limit reached", "rate_limit_exceeded"),
		textReply("Made it."),
	)
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL()}), backends.Options{})
	sink := &fakeSink{}

	start := time.Now()
	res, err := conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("hi")}, sink)
	elapsed := time.Since(start)
	require.NoError(t, err)
	assert.Equal(t, "Made it.", sink.text())
	assert.Equal(t, backends.StopEndTurn, res.StopReason)
	assert.Len(t, f.recordedRequests(), 2)
	// The client's own backoff before a first retry is at most 0.5s; waiting
	// a full second shows the server's Retry-After was honoured.
	assert.GreaterOrEqual(t, elapsed, time.Second)
	assert.Len(t, f.recordedRequests()[1].Body.Messages, 1, "the retry sends the same history, once")
}

func TestRateLimitedUntilRetriesRunOut(t *testing.T) {
	f := newFakeServer(t)
	f.fallback = errorReply(http.StatusTooManyRequests, map[string]string{"Retry-After": "0"}, "Rate limit reached", "rate_limit_exceeded")
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL(), MaxRetries: 2}), backends.Options{})

	err := queryFails(t, conn, "hi")
	assert.Len(t, f.recordedRequests(), 3, "one request and two retries")
	assert.Contains(t, err.Error(), "rate limited by "+f.baseURL()+" (429 Too Many Requests) after 2 retries")
	assert.Contains(t, err.Error(), "Rate limit reached")
	f.fallback = nil
	stillUsable(t, f, conn)
}

// closedPort returns the address of a 127.0.0.1 port nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func TestConnectionRefused(t *testing.T) {
	base := "http://" + closedPort(t) + "/v1"
	conn := open(t, newBackend(t, oai.Config{BaseURL: base, MaxRetries: -1}), backends.Options{})

	err := queryFails(t, conn, "hi")
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	assert.Contains(t, err.Error(), "cannot connect to "+base+": connection refused")
	assert.NotContains(t, err.Error(), "Ollama")
}

func TestConnectionRefusedByOllamasPort(t *testing.T) {
	if c, err := net.Dial("tcp", "127.0.0.1:11434"); err == nil {
		c.Close()
		t.Skip("something listens on 127.0.0.1:11434")
	}
	t.Setenv(oai.EnvAPIKey, "")
	b := oai.New(oai.Config{BaseURL: "http://127.0.0.1:11434/v1", MaxRetries: -1}, nil)
	conn := open(t, b, backends.Options{})

	err := queryFails(t, conn, "hi")
	assert.Contains(t, err.Error(), "cannot connect to http://127.0.0.1:11434/v1: connection refused; Ollama is not running")
}

func TestServerClosesMidStream(t *testing.T) {
	f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ chatRequest) {
		s := startSSE(w)
		s.role()
		s.text("Half an ans")
		s.drop(t)
	})
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL()}), backends.Options{})
	sink := &fakeSink{}

	_, err := conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("explain")}, sink)
	require.ErrorIs(t, err, backends.ErrFailed)
	assert.Contains(t, err.Error(), "the stream from "+f.baseURL()+" broke off")
	assert.Equal(t, "Half an ans", sink.text(), "what arrived was streamed")
	assert.Len(t, f.recordedRequests(), 1, "a broken stream is not retried: its tokens were already shown")
	stillUsable(t, f, conn, "user:explain", "assistant:Half an ans\n\n[interrupted: the connection to the model broke off]")
}

func TestConnectionDropsAfterTheModelFinished(t *testing.T) {
	f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ chatRequest) {
		s := startSSE(w)
		s.text("Whole answer.")
		s.finish("stop")
		// No usage chunk, no [DONE]: the connection just drops.
		s.drop(t)
	})
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL()}), backends.Options{})
	sink := &fakeSink{}
	res, err := conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("hi")}, sink)
	require.NoError(t, err, "the reply was complete")
	assert.Equal(t, backends.StopEndTurn, res.StopReason)
	assert.Equal(t, "Whole answer.", sink.text())
	stillUsable(t, f, conn, "user:hi", "assistant:Whole answer.")
}

func TestStreamEndsWithoutFinish(t *testing.T) {
	f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ chatRequest) {
		s := startSSE(w)
		s.text("Cut")
		// A clean end of the body, but no finish_reason and no [DONE].
	})
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL()}), backends.Options{})

	err := queryFails(t, conn, "hi")
	assert.Contains(t, err.Error(), "stopped before the model finished")
	stillUsable(t, f, conn, "user:hi", "assistant:Cut\n\n[interrupted: the connection to the model broke off]")
}

func TestNotAStreamingServer(t *testing.T) {
	f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ chatRequest) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html>hello</html>"))
	})
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL()}), backends.Options{})

	err := queryFails(t, conn, "hi")
	assert.Contains(t, err.Error(), "sent no stream events")
	stillUsable(t, f, conn)
}

func TestErrorEventMidStream(t *testing.T) {
	f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ chatRequest) {
		s := startSSE(w)
		s.text("Start")
		s.event(map[string]any{"error": map[string]any{"message": "model overloaded", "type": "server_error"}})
	})
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL()}), backends.Options{})

	err := queryFails(t, conn, "hi")
	assert.Contains(t, err.Error(), "reported an error mid-stream")
	assert.Contains(t, err.Error(), "model overloaded")
}

func TestServerErrorIsRetried(t *testing.T) {
	f := newFakeServer(t,
		errorReply(http.StatusBadGateway, map[string]string{"Retry-After": "0"}, "upstream down", ""),
		textReply("Fine now."),
	)
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL()}), backends.Options{})
	sink := &fakeSink{}
	_, err := conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("hi")}, sink)
	require.NoError(t, err)
	assert.Equal(t, "Fine now.", sink.text())
}

func TestQueryAfterCloseFails(t *testing.T) {
	b := newBackend(t, oai.Config{BaseURL: "http://" + closedPort(t) + "/v1"})
	conn, err := b.Open(context.Background(), backends.Options{})
	require.NoError(t, err)
	require.NoError(t, conn.Close(context.Background()))
	_, err = conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("hi")}, &fakeSink{})
	assert.True(t, errors.Is(err, backends.ErrFailed))
}
