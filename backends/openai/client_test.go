package openai

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// retryServer answers each request with the next of its replies, on
// 127.0.0.1, and counts the requests.
type retryServer struct {
	mu      sync.Mutex
	replies []func(w http.ResponseWriter)
	headers []http.Header
	bodies  []string
}

func newRetryServer(t *testing.T, replies ...func(w http.ResponseWriter)) (*retryServer, string) {
	s := &retryServer{replies: replies}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.headers = append(s.headers, r.Header.Clone())
		s.bodies = append(s.bodies, string(body))
		n := len(s.headers)
		s.mu.Unlock()
		if r.URL.Path != "/v1/chat/completions" || r.Method != http.MethodPost || n > len(s.replies) {
			t.Errorf("unexpected request %d: %s %s", n, r.Method, r.URL.Path)
			http.Error(w, "unexpected", http.StatusTeapot)
			return
		}
		s.replies[n-1](w)
	}))
	t.Cleanup(srv.Close)
	return s, srv.URL + "/v1"
}

func (s *retryServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.headers)
}

// seen returns the headers and bodies of the requests so far.
func (s *retryServer) seen() ([]http.Header, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]http.Header(nil), s.headers...), append([]string(nil), s.bodies...)
}

func status(code int, header map[string]string, body string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

func ok(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	_, _ = io.WriteString(w, "data: [DONE]\n\n")
}

// testClient is a client whose waits are recorded instead of slept, and
// whose jitter is none.
func testClient(base string, retries int) (*client, *[]time.Duration) {
	c := newClient(&http.Client{}, base, "sk-test", http.Header{"Openai-Project": {"proj_1"}}, retries)
	var waits []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return ctx.Err()
	}
	c.jitter = func(int64) int64 { return 0 }
	return c, &waits
}

func post(t *testing.T, c *client) error {
	t.Helper()
	res, err := c.streamChat(t.Context(), []byte(`{"model":"m"}`))
	if err == nil {
		res.Body.Close()
	}
	return err
}

func TestRateLimitWaitsWhatRetryAfterSays(t *testing.T) {
	s, base := newRetryServer(t, status(429, map[string]string{"Retry-After": "3"}, `{"error":{"message":"slow down"}}`), ok)
	c, waits := testClient(base, 2)
	require.NoError(t, post(t, c))
	assert.Equal(t, []time.Duration{3 * time.Second}, *waits)
	assert.Equal(t, 2, s.count())
	headers, bodies := s.seen()
	for i, h := range headers {
		assert.Equal(t, "Bearer sk-test", h.Get("Authorization"), "request %d", i)
		assert.Equal(t, "application/json", h.Get("Content-Type"))
		assert.Equal(t, "proj_1", h.Get("OpenAI-Project"))
		assert.Equal(t, `{"model":"m"}`, bodies[i], "every attempt sends the whole body")
	}
}

func TestServerDelayHeaders(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		header map[string]string
		want   time.Duration
		retry  bool
	}{
		{"milliseconds win", map[string]string{"Retry-After-Ms": "250", "Retry-After": "9"}, 250 * time.Millisecond, true},
		{"fractional seconds", map[string]string{"Retry-After": "1.5"}, 1500 * time.Millisecond, true},
		{"an HTTP date", map[string]string{"Retry-After": now.Add(10 * time.Second).Format(http.TimeFormat)}, 10 * time.Second, true},
		{"a date past", map[string]string{"Retry-After": now.Add(-time.Hour).Format(http.TimeFormat)}, 0, true},
		{"a minute is allowed", map[string]string{"Retry-After": "60"}, time.Minute, true},
		{"longer fails at once", map[string]string{"Retry-After": "61"}, 0, false},
		{"a later date fails at once", map[string]string{"Retry-After": now.Add(2 * time.Minute).Format(http.TimeFormat)}, 0, false},
		{"garbage means backoff", map[string]string{"Retry-After": "soon"}, initialBackoff, true},
		{"negative means backoff", map[string]string{"Retry-After-Ms": "-5"}, initialBackoff, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(nil, "", "", nil, 2)
			c.now = func() time.Time { return now }
			c.jitter = func(int64) int64 { return 0 }
			h := http.Header{}
			for k, v := range tc.header {
				h.Set(k, v)
			}
			d, retry := c.retryDelay(&http.Response{StatusCode: 429, Header: h}, 0)
			assert.Equal(t, tc.retry, retry)
			assert.Equal(t, tc.want, d)
		})
	}
}

func TestBackoffDoublesToEightSecondsWithJitter(t *testing.T) {
	c := newClient(nil, "", "", nil, 10)
	c.jitter = func(int64) int64 { return 0 }
	var got []time.Duration
	for attempt := range 8 {
		d, retry := c.retryDelay(nil, attempt)
		require.True(t, retry)
		got = append(got, d)
	}
	s := time.Second
	assert.Equal(t, []time.Duration{s / 2, s, 2 * s, 4 * s, 8 * s, 8 * s, 8 * s, 8 * s}, got)

	// Jitter takes off up to a quarter.
	var asked int64
	c.jitter = func(n int64) int64 { asked = n; return n - 1 }
	d, _ := c.retryDelay(nil, 1)
	assert.Equal(t, int64(time.Second/4), asked)
	assert.Equal(t, time.Second-time.Second/4+1, d)
}

func TestServerErrorsAreRetriedThenSucceed(t *testing.T) {
	s, base := newRetryServer(t, status(500, nil, "boom"), status(503, nil, "busy"), ok)
	c, waits := testClient(base, 2)
	require.NoError(t, post(t, c))
	assert.Equal(t, []time.Duration{time.Second / 2, time.Second}, *waits, "exponential backoff")
	assert.Equal(t, 3, s.count())
}

func TestServerErrorsBeyondTheRetriesFail(t *testing.T) {
	body := `{"error":{"message":"The server had an error","type":"server_error","code":502}}`
	s, base := newRetryServer(t, status(500, nil, body), status(500, nil, body), status(502, nil, body))
	c, waits := testClient(base, 2)
	err := post(t, c)
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 502, apiErr.StatusCode, "the last answer")
	assert.Equal(t, "The server had an error", apiErr.Message)
	assert.Equal(t, "server_error", apiErr.Type)
	assert.Equal(t, "502", apiErr.Code)
	assert.Len(t, *waits, 2)
	assert.Equal(t, 3, s.count())
}

func TestWhatIsNotRetried(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply func(http.ResponseWriter)
	}{
		{"400", status(400, nil, `{"error":{"message":"bad"}}`)},
		{"401", status(401, nil, `{"error":{"message":"key"}}`)},
		{"404", status(404, nil, `404 page not found`)},
		{"x-should-retry false", status(503, map[string]string{"x-should-retry": "false"}, "no")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, base := newRetryServer(t, tc.reply)
			c, waits := testClient(base, 2)
			var apiErr *APIError
			require.ErrorAs(t, post(t, c), &apiErr)
			assert.Empty(t, *waits)
			assert.Equal(t, 1, s.count())
		})
	}
}

func TestWhatIsRetried(t *testing.T) {
	for _, code := range []int{408, 409, 429, 500, 502, 504} {
		s, base := newRetryServer(t, status(code, nil, ""), ok)
		c, _ := testClient(base, 1)
		require.NoError(t, post(t, c), "%d", code)
		assert.Equal(t, 2, s.count(), "%d", code)
	}
	s, base := newRetryServer(t, status(400, map[string]string{"x-should-retry": "true"}, ""), ok)
	c, _ := testClient(base, 1)
	require.NoError(t, post(t, c))
	assert.Equal(t, 2, s.count(), "x-should-retry: true wins over the status")
}

func TestConnectionErrorsAreRetried(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	c, waits := testClient("http://"+addr+"/v1", 2)
	err = post(t, c)
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	assert.Len(t, *waits, 2)
}

func TestErrorBodies(t *testing.T) {
	for _, tc := range []struct {
		body, message, typ, code string
	}{
		{`{"error":{"message":"Incorrect API key","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`, "Incorrect API key", "invalid_request_error", "invalid_api_key"},
		{`{"error":"model 'x' not found"}`, "model 'x' not found", "", ""},
		{"<html>Bad Gateway</html>\n", "<html>Bad Gateway</html>", "", ""},
		{`{"detail":"Not Found"}`, `{"detail":"Not Found"}`, "", ""},
		{``, ``, "", ""},
	} {
		_, base := newRetryServer(t, status(404, nil, tc.body))
		c, _ := testClient(base, 0)
		var apiErr *APIError
		require.ErrorAs(t, post(t, c), &apiErr)
		assert.Equal(t, tc.message, apiErr.Message, tc.body)
		assert.Equal(t, tc.typ, apiErr.Type, tc.body)
		assert.Equal(t, tc.code, apiErr.Code, tc.body)
	}
}

func TestNoKeyNoAuthorization(t *testing.T) {
	s, base := newRetryServer(t, ok)
	c, _ := testClient(base, 0)
	c.apiKey = ""
	require.NoError(t, post(t, c))
	headers, _ := s.seen()
	assert.NotContains(t, headers[0], "Authorization")
}

// A cancel during the wait before a retry ends the wait and the request.
func TestRetryWaitEndsOnCancel(t *testing.T) {
	s, base := newRetryServer(t, status(429, map[string]string{"Retry-After": "59"}, ""), ok)
	c, _ := testClient(base, 2)
	ctx, cancel := context.WithCancel(t.Context())
	waiting := make(chan time.Duration, 1)
	c.sleep = func(ctx context.Context, d time.Duration) error {
		waiting <- d
		return sleepCtx(ctx, d)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.streamChat(ctx, []byte(`{}`))
		done <- err
	}()
	assert.Equal(t, 59*time.Second, <-waiting)
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
	assert.Equal(t, 1, s.count(), "no retry after the cancel")
}

func TestSleepCtx(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		require.NoError(t, sleepCtx(t.Context(), 3*time.Second))
		assert.Equal(t, 3*time.Second, time.Since(start))

		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		start = time.Now()
		go func() { done <- sleepCtx(ctx, time.Minute) }()
		synctest.Wait() // the sleeper is waiting
		cancel()
		assert.True(t, errors.Is(<-done, context.Canceled))
		assert.Zero(t, time.Since(start), "the cancel ended the wait at once")
		assert.ErrorIs(t, sleepCtx(ctx, time.Minute), context.Canceled, "a done context does not wait at all")
	})
}

func TestEnvHeaders(t *testing.T) {
	t.Setenv(EnvOrgID, "org-1")
	t.Setenv(EnvProjectID, "")
	t.Setenv(EnvCustomHeaders, "X-Proxy-Token: abc\nbroken line\n X-Team : red ")
	h := envHeaders()
	assert.Equal(t, http.Header{
		"Openai-Organization": {"org-1"},
		"X-Proxy-Token":       {"abc"},
		"X-Team":              {"red"},
	}, h)
}
