package openai_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	oai "github.com/tether-dev/tether/backends/openai"
)

// A server that stops sending mid-stream is treated as stalled after the
// watchdog period, instead of hanging the turn until the user cancels.
func TestStalledStreamFailsAfterTheWatchdog(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	f := newFakeServer(t, func(w http.ResponseWriter, r *http.Request, _ chatRequest) {
		s := startSSE(w)
		s.text("Thinking about")
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL(), Watchdog: 100 * time.Millisecond}), backends.Options{})
	err := queryFails(t, conn, "hi")
	assert.Contains(t, err.Error(), "sent nothing for 100ms; treated as stalled (--openai-watchdog)")
	stillUsable(t, f, conn, "user:hi", "assistant:Thinking about\n\n[interrupted: the connection to the model broke off]")
}

// A server that accepts the request and never answers it is given up on.
func TestServerThatNeverAnswersFailsAfterTheWatchdog(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	f := newFakeServer(t)
	f.fallback = func(_ http.ResponseWriter, r *http.Request, _ chatRequest) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL(), Watchdog: 100 * time.Millisecond, MaxRetries: -1}), backends.Options{})
	err := queryFails(t, conn, "hi")
	assert.Contains(t, err.Error(), "sent no response within 100ms")
}

// Time spent handing chunks to a slow editor is not the server's silence.
func TestWatchdogIgnoresASlowEditor(t *testing.T) {
	f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ chatRequest) {
		s := startSSE(w)
		s.text("one")
		s.text(" two")
		s.finish("stop")
		s.raw("data: [DONE]\n\n")
	})
	const watchdog = 100 * time.Millisecond
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL(), Watchdog: watchdog}), backends.Options{})
	sink := &fakeSink{onToken: make(chan string, 1)}
	done := make(chan error, 1)
	go func() {
		_, err := conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("hi")}, sink)
		done <- err
	}()
	<-sink.onToken
	<-time.After(3 * watchdog) // the editor is slow to take the first token
	<-sink.onToken
	require.NoError(t, <-done)
	assert.Equal(t, "one two", sink.text())
}
