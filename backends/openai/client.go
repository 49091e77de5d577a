package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Retry timing, the openai-go SDK's, which this client replaced.
const (
	// maxRetryDelay bounds the wait a server may ask for with
	// Retry-After; a server that asks for longer gets no retry, and its
	// answer fails the turn at once.
	maxRetryDelay = time.Minute
	// initialBackoff and maxBackoff bound the exponential backoff used
	// when the server names no delay.
	initialBackoff = 500 * time.Millisecond
	maxBackoff     = 8 * time.Second
)

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 1 << 20

// client sends Chat Completions requests. One serves every session of a
// Backend; it holds no per-request state, so it is safe for concurrent use.
//
// It exists so that Tether does not link the openai-go SDK, whose package
// initialisation alone costs every Tether process several megabytes of
// memory, whether or not the openai backend is used.
type client struct {
	http       *http.Client
	url        string      // {baseURL}/chat/completions
	apiKey     string      // sent as a bearer token; none when empty
	header     http.Header // more headers for every request
	maxRetries int

	// Tests replace these to make retries fast and deterministic.
	sleep  func(ctx context.Context, d time.Duration) error
	now    func() time.Time
	jitter func(n int64) int64 // uniform in [0, n)
}

func newClient(hc *http.Client, baseURL, apiKey string, header http.Header, maxRetries int) *client {
	return &client{
		http:       hc,
		url:        baseURL + "/chat/completions",
		apiKey:     apiKey,
		header:     header,
		maxRetries: maxRetries,
		sleep:      sleepCtx,
		now:        time.Now,
		jitter:     rand.Int64N,
	}
}

// APIError is an error status from the server, with what its body said.
type APIError struct {
	StatusCode int
	// Message, Type and Code are the server's error object's. Message
	// falls back to the body's text when the body is not such an object.
	Message string
	Type    string
	Code    string
	// Header is the response's, for Retry-After.
	Header http.Header
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("API error: %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		msg += ": " + cut(e.Message, 300)
	}
	return msg
}

// streamChat posts body and returns the response once its status is a
// success, retrying what is worth retrying first: connection errors, 408,
// 409, 429 and 5xx (or whatever the server's x-should-retry says), up to
// maxRetries times. Nothing is retried once the response is returned: its
// body is then the stream, and what it said has been shown. The caller
// closes the body.
//
// A failure is the transport's error, or an *APIError for an error
// status. Cancelling ctx ends a wait between attempts and returns
// ctx.Err().
func (c *client) streamChat(ctx context.Context, body []byte) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("making the request: %w", err)
		}
		for k, v := range c.header {
			req.Header[k] = v
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		if c.apiKey != "" {
			req.Header.Set("Authorization", "Bearer "+c.apiKey)
		}
		res, err := c.http.Do(req)
		if ctx.Err() != nil {
			if res != nil {
				res.Body.Close()
			}
			return nil, ctx.Err()
		}
		if err == nil && res.StatusCode < 400 {
			return res, nil
		}
		if attempt < c.maxRetries && shouldRetry(res, err) {
			if delay, ok := c.retryDelay(res, attempt); ok {
				if res != nil {
					// Drain a little, so the connection can be reused.
					_, _ = io.CopyN(io.Discard, res.Body, 4<<10)
					res.Body.Close()
				}
				if err := c.sleep(ctx, delay); err != nil {
					return nil, err
				}
				continue
			}
		}
		if err != nil {
			return nil, err // *url.Error: it names the method and URL
		}
		return nil, readAPIError(res)
	}
}

// shouldRetry reports whether a failed attempt is worth another.
func shouldRetry(res *http.Response, err error) bool {
	if err != nil || res == nil {
		return true // no response: a connection error
	}
	switch res.Header.Get("x-should-retry") {
	case "true":
		return true
	case "false":
		return false
	}
	s := res.StatusCode
	return s == http.StatusRequestTimeout || s == http.StatusConflict || s == http.StatusTooManyRequests || s >= 500
}

// retryDelay is the wait before retry number attempt+1: the server's, from
// Retry-After-Ms or Retry-After (seconds or an HTTP date), else exponential
// backoff with jitter. ok is false when the server asks for longer than
// maxRetryDelay: retrying sooner would only be refused again.
func (c *client) retryDelay(res *http.Response, attempt int) (d time.Duration, ok bool) {
	if res != nil {
		if d, found, tooLong := c.serverDelay(res.Header); found {
			return d, !tooLong
		}
	}
	d = maxBackoff
	if attempt < 5 { // 0.5s << 5 is past maxBackoff
		d = min(initialBackoff<<attempt, maxBackoff)
	}
	if j := int64(d / 4); j > 0 {
		d -= time.Duration(c.jitter(j))
	}
	return d, true
}

// serverDelay reads the delay the server asked for. found is false when
// it asked for none that parses.
func (c *client) serverDelay(h http.Header) (d time.Duration, found, tooLong bool) {
	for _, hd := range [...]struct {
		name string
		unit time.Duration
	}{{"Retry-After-Ms", time.Millisecond}, {"Retry-After", time.Second}} {
		v := strings.TrimSpace(h.Get(hd.name))
		if v == "" {
			continue
		}
		if n, err := strconv.ParseFloat(v, 64); err == nil {
			if n != n || n < 0 { // NaN or negative: look further
				continue
			}
			if n > float64(maxRetryDelay/hd.unit) {
				return 0, true, true
			}
			return time.Duration(n * float64(hd.unit)), true, false
		}
		if hd.unit != time.Second {
			continue
		}
		if t, err := http.ParseTime(v); err == nil {
			d := t.Sub(c.now())
			if d > maxRetryDelay {
				return 0, true, true
			}
			return max(d, 0), true, false
		}
	}
	return 0, false, false
}

// readAPIError reads an error response into an *APIError and closes it.
// OpenAI and most compatible servers answer {"error": {"message": ...}};
// others plain text or HTML, which becomes the message.
func readAPIError(res *http.Response) error {
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
	e := &APIError{StatusCode: res.StatusCode, Header: res.Header}
	var found bool
	e.Message, e.Type, e.Code, found = errorObject(body)
	if !found {
		e.Message = strings.TrimSpace(string(body))
	}
	return e
}

// errorObject reads the "error" member of an error response's body or of
// an error event: {"error": {"message", "type", "code"}}, where code may
// be a string or a number, or {"error": "message"}. found is false when
// body has no such member.
func errorObject(body []byte) (message, typ, code string, found bool) {
	var v struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &v) != nil || len(v.Error) == 0 || string(v.Error) == "null" {
		return "", "", "", false
	}
	if json.Unmarshal(v.Error, &message) == nil {
		return message, "", "", true
	}
	var o struct {
		Message lenientString   `json:"message"`
		Type    lenientString   `json:"type"`
		Code    json.RawMessage `json:"code"`
	}
	if json.Unmarshal(v.Error, &o) != nil {
		return string(v.Error), "", "", true
	}
	code = string(o.Code)
	if s, err := strconv.Unquote(code); err == nil {
		code = s
	} else if code == "null" {
		code = ""
	}
	return string(o.Message), string(o.Type), code, true
}

// sleepCtx waits for d, or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
