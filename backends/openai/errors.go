package openai

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/tether-dev/tether/backends"
)

// failedError is a failed turn: a message that tells the user what to do,
// over the error it explains. It matches backends.ErrFailed with
// errors.Is, and the cause (an *APIError, a net error, errTruncated)
// with errors.Is and errors.As.
type failedError struct {
	msg   string
	cause error
}

func (e *failedError) Error() string   { return backends.ErrFailed.Error() + ": openai: " + e.msg }
func (e *failedError) Unwrap() []error { return []error{backends.ErrFailed, e.cause} }

// failure explains err, the end of a request for model that got r so far.
// The client has already retried what is worth retrying (429, 5xx, refused
// connections), so whatever arrives here is final for this turn.
func (b *Backend) failure(err error, model string, r *reply) error {
	base := b.cfg.BaseURL
	var msg string
	var apiErr *APIError
	var streamErr *streamError
	switch {
	case errors.As(err, &apiErr):
		msg = b.statusMessage(apiErr, model)
	case errors.As(err, &streamErr):
		msg = fmt.Sprintf("%s reported an error mid-stream: %s", base, cut(streamErr.Message, 300))
	case errors.Is(err, syscall.ECONNREFUSED):
		msg = fmt.Sprintf("cannot connect to %s: connection refused", base)
		if b.isLocalOllama() {
			msg += "; Ollama is not running (start it with `ollama serve`)"
		} else {
			msg += "; is the server running? (--openai-base-url or " + EnvBaseURL + ")"
		}
	case errors.Is(err, errStalled):
		msg = fmt.Sprintf("the stream from %s sent nothing for %v; treated as stalled (--openai-watchdog)", base, b.cfg.Watchdog)
	case isHeaderTimeout(err):
		msg = fmt.Sprintf("%s sent no response within %v, after %d retries; treated as stalled (--openai-watchdog)", base, b.cfg.Watchdog, b.cfg.MaxRetries)
	case errors.Is(err, errTruncated) && r.chunks == 0:
		msg = fmt.Sprintf("%s sent no stream events; is it an OpenAI-compatible server? (Ollama's is http://localhost:11434/v1)", base)
	case errors.Is(err, errTruncated):
		msg = fmt.Sprintf("the stream from %s stopped before the model finished", base)
	case r.chunks > 0:
		msg = fmt.Sprintf("the stream from %s broke off: %v", base, err)
	default:
		msg = fmt.Sprintf("request to %s failed: %v", base, err)
	}
	b.log.Warn("turn failed", "model", model, "err", err, "reason", msg)
	return &failedError{msg: msg, cause: err}
}

// statusMessage explains an error status; detail is the server's own
// message (OpenAI's masks keys).
func (b *Backend) statusMessage(e *APIError, model string) string {
	detail := strings.TrimSpace(e.Message)
	if detail == "" {
		detail = http.StatusText(e.StatusCode)
	}
	detail = cut(detail, 300)
	status := fmt.Sprintf("%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	base := b.cfg.BaseURL
	switch e.StatusCode {
	case http.StatusUnauthorized:
		if b.cfg.APIKey == "" {
			return fmt.Sprintf("%s wants an API key (%s) and none is set; put it in %s: %s", base, status, EnvAPIKey, detail)
		}
		return fmt.Sprintf("%s rejected the API key from %s (%s); check %s: %s", base, b.keyFrom, status, EnvAPIKey, detail)
	case http.StatusForbidden:
		return fmt.Sprintf("the API key from %s may not use model %q at %s (%s): %s", b.keyFrom, model, base, status, detail)
	case http.StatusNotFound:
		if !hasVersionPath(base) {
			// Ollama and most others serve the API under /v1: every path
			// without it is 404, whatever the model.
			return fmt.Sprintf("%s answered %s: %s; the base URL has no version path: did you mean %s/v1? (set in %s)", base, status, detail, base, b.urlFrom)
		}
		msg := fmt.Sprintf("model %q not found at %s (%s): %s; name one the server has with --openai-model or the session's model", model, base, status, detail)
		if b.isLocalOllama() {
			msg += fmt.Sprintf(", or run `ollama pull %s`", model)
		}
		return msg
	case http.StatusTooManyRequests:
		msg := fmt.Sprintf("rate limited by %s (%s) after %d retries: %s", base, status, b.cfg.MaxRetries, detail)
		if ra := e.Header.Get("Retry-After"); ra != "" {
			msg += " (Retry-After: " + ra + ")"
		}
		return msg
	}
	return fmt.Sprintf("%s answered %s: %s", base, status, detail)
}

// isHeaderTimeout reports whether err is the transport giving up on a
// response's headers (ResponseHeaderTimeout).
func isHeaderTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() && strings.Contains(err.Error(), "awaiting response headers")
}
