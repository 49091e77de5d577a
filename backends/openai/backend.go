// Package openai is the OpenAI-compatible backend: streaming Chat Completions
// against OpenAI itself or any server that speaks the same API (Ollama,
// vLLM, llama.cpp's server, LM Studio, OpenRouter).
//
// The API is stateless, and the editor sends only each new prompt, so every
// session's conn keeps the conversation (system prompt, user, assistant, tool
// calls and results) and sends all of it on every request. Tools the editor
// declared run in the editor: the conn asks for them through
// [backends.Sink.CallTool] and feeds the answers back to the model until it
// stops.
//
// The package speaks the API itself, with a small client of its own: the
// wire types (chatapi.go), the request and its retries (client.go: 429
// honouring Retry-After, 5xx, connection errors) and the event-stream
// reader (sse.go). It does not use the official openai-go SDK, whose
// package initialisation alone cost every Tether process about 7 MB of
// memory at start-up, openai backend used or not, for the one streaming
// call the backend makes. One client and one http.Client, made by [New],
// serve every session; a conn owns only its history.
package openai

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/tether-dev/tether/backends"
)

// Name is the name clients select this backend by.
const Name = "openai"

// Defaults used when neither a flag nor the environment says otherwise.
const (
	// DefaultBaseURL is the OpenAI API.
	DefaultBaseURL = "https://api.openai.com/v1"
	// DefaultModel is used when neither --openai-model nor the session
	// names one: a small, cheap current OpenAI model. Local servers have
	// their own model names, so users of those pass one.
	DefaultModel = "gpt-5.4-mini"
	// DefaultMaxRetries is how often a request is retried after a 429, a
	// 5xx or a connection error (the default of OpenAI's own SDKs).
	DefaultMaxRetries = 2
	// DefaultMaxTurns bounds the model requests of one query when the
	// session sets no maxTurns: each tool round trip costs one.
	DefaultMaxTurns = 25
	// DefaultWatchdog is how long a request may wait for the server's
	// response headers, and a stream go without a chunk, before it is
	// treated as stalled. Local models can think for minutes before their
	// first token, so it is generous.
	DefaultWatchdog = 10 * time.Minute
)

// Environment variables the backend reads, by the names OpenAI's SDKs
// use. New reads them once, so what Available reports is what requests
// use.
const (
	EnvAPIKey  = "OPENAI_API_KEY"
	EnvBaseURL = "OPENAI_BASE_URL"
	// EnvOrgID and EnvProjectID, when set, are sent as the
	// OpenAI-Organization and OpenAI-Project headers; EnvCustomHeaders
	// holds more headers, one "Name: value" a line.
	EnvOrgID         = "OPENAI_ORG_ID"
	EnvProjectID     = "OPENAI_PROJECT_ID"
	EnvCustomHeaders = "OPENAI_CUSTOM_HEADERS"
)

// Config configures the backend. RegisterFlags fills it from the command
// line; New fills what is still empty from the environment and defaults.
type Config struct {
	// BaseURL is the API root, e.g. http://localhost:11434/v1 for Ollama.
	// Empty: $OPENAI_BASE_URL, else DefaultBaseURL.
	BaseURL string
	// Model is the model of sessions that name none. Empty: DefaultModel.
	Model string
	// APIKey is sent as a bearer token. It has no flag, because command
	// lines are visible to every user of the machine. Empty:
	// $OPENAI_API_KEY; servers like Ollama need none.
	APIKey string
	// MaxRetries is how often a request is retried (429 after the server's
	// Retry-After delay, 5xx, connection errors). 0: DefaultMaxRetries;
	// negative: never.
	MaxRetries int
	// Watchdog bounds the wait for response headers and the silence
	// between two chunks of a stream; 0: DefaultWatchdog. Time Tether
	// spends handing a chunk to a slow editor does not count.
	Watchdog time.Duration
}

// RegisterFlags registers the backend's flags on fs. The returned Config is
// filled when fs is parsed.
func RegisterFlags(fs *flag.FlagSet) *Config {
	cfg := &Config{}
	fs.StringVar(&cfg.BaseURL, "openai-base-url", "",
		"OpenAI-compatible API root, e.g. http://localhost:11434/v1 for Ollama (default $"+EnvBaseURL+", else "+DefaultBaseURL+")")
	fs.StringVar(&cfg.Model, "openai-model", "",
		"model of openai sessions that name none (default "+DefaultModel+")")
	fs.DurationVar(&cfg.Watchdog, "openai-watchdog", DefaultWatchdog,
		"a request with no response headers, or a stream with no data, for this long is treated as stalled")
	return cfg
}

// Backend is the OpenAI-compatible backend. It is safe for concurrent use:
// every session opens its own conn from it, and all of them share its
// client and the http.Client underneath.
type Backend struct {
	cfg     Config
	log     *slog.Logger
	client  *client
	keyFrom string // where the API key came from, for messages
	urlFrom string // where the base URL came from (a flag, a variable), for messages
}

var _ backends.Backend = (*Backend)(nil)

// New returns the backend, with cfg completed from the environment and the
// defaults.
func New(cfg Config, log *slog.Logger) *Backend {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	keyFrom := ""
	if cfg.APIKey != "" {
		keyFrom = "configuration"
	} else if k := os.Getenv(EnvAPIKey); k != "" {
		cfg.APIKey, keyFrom = k, EnvAPIKey
	}
	urlFrom := "--openai-base-url"
	if cfg.BaseURL == "" {
		cfg.BaseURL, urlFrom = os.Getenv(EnvBaseURL), EnvBaseURL
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL, urlFrom = DefaultBaseURL, "the default base URL"
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.Model == "" {
		cfg.Model = DefaultModel
	}
	retries := cfg.MaxRetries
	switch {
	case retries == 0:
		retries = DefaultMaxRetries
	case retries < 0:
		retries = 0
	}
	cfg.MaxRetries = retries
	if cfg.Watchdog <= 0 {
		cfg.Watchdog = DefaultWatchdog
	}

	// One transport for every session: connections to the server are
	// pooled, and streams are bounded by each query's context rather than
	// by a client timeout (a local model may think for minutes).
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 32
	transport.ResponseHeaderTimeout = cfg.Watchdog
	httpClient := &http.Client{Transport: transport}

	client := newClient(httpClient, cfg.BaseURL, cfg.APIKey, envHeaders(), retries)
	return &Backend{cfg: cfg, log: log.With("backend", Name), client: client, keyFrom: keyFrom, urlFrom: urlFrom}
}

// envHeaders are the headers the environment asks every request to carry
// (EnvOrgID, EnvProjectID, EnvCustomHeaders), as OpenAI's SDKs send them.
func envHeaders() http.Header {
	h := http.Header{}
	if v := os.Getenv(EnvOrgID); v != "" {
		h.Set("OpenAI-Organization", v)
	}
	if v := os.Getenv(EnvProjectID); v != "" {
		h.Set("OpenAI-Project", v)
	}
	for line := range strings.SplitSeq(os.Getenv(EnvCustomHeaders), "\n") {
		if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) != "" {
			h.Set(strings.TrimSpace(name), strings.TrimSpace(value))
		}
	}
	return h
}

// Name implements [backends.Backend].
func (b *Backend) Name() string { return Name }

// Available implements [backends.Backend]. The OpenAI API needs a key;
// any other server (Ollama, vLLM, ...) may not, so it counts as available
// and a missing key shows up as a 401 on the first query.
func (b *Backend) Available() (bool, string) {
	if err := b.ConfigError(); err != nil {
		return false, err.Error()
	}
	if b.cfg.APIKey != "" {
		return true, fmt.Sprintf("model %s at %s (API key from %s)", b.cfg.Model, b.cfg.BaseURL, b.keyFrom)
	}
	if b.isOpenAI() {
		return false, fmt.Sprintf("set %s for %s, or point --openai-base-url (or %s) at a compatible server such as Ollama (http://localhost:11434/v1)",
			EnvAPIKey, b.cfg.BaseURL, EnvBaseURL)
	}
	return true, fmt.Sprintf("model %s at %s (no API key)", b.cfg.Model, b.cfg.BaseURL)
}

// isOpenAI reports whether the base URL is OpenAI's own API.
func (b *Backend) isOpenAI() bool {
	u, err := url.Parse(b.cfg.BaseURL)
	return err == nil && strings.EqualFold(u.Hostname(), "api.openai.com")
}

// isLocalOllama reports whether the base URL is Ollama's default address,
// so that a refused connection can say Ollama is not running.
func (b *Backend) isLocalOllama() bool {
	u, err := url.Parse(b.cfg.BaseURL)
	if err != nil || u.Port() != "11434" {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Info implements [backends.Backend]: the configured model (any other name
// the server knows may be chosen too) and no modes; images are passed as
// image parts, for models that see.
func (b *Backend) Info() backends.Info {
	return backends.Info{
		Models: []backends.Choice{{ID: b.cfg.Model, Name: b.cfg.Model}},
		Modes:  []backends.Choice{{ID: "default", Name: "Default"}},
		Images: true,
	}
}

// Open implements [backends.Backend]. It makes no request: the first query
// finds out whether the server answers, and says why not.
func (b *Backend) Open(_ context.Context, opts backends.Options) (backends.Conn, error) {
	tools, err := toolParams(opts.Tools)
	if err != nil {
		return nil, fmt.Errorf("%w: openai: %w", backends.ErrFailed, err)
	}
	c := &conn{
		b:        b,
		opts:     opts,
		tools:    tools,
		declared: make(map[string]bool, len(opts.Tools)),
		maxTurns: opts.MaxTurns,
		log:      b.log.With("session", opts.SessionID),
	}
	for _, t := range opts.Tools {
		c.declared[t.Name] = true
	}
	if c.maxTurns <= 0 {
		c.maxTurns = DefaultMaxTurns
	}
	// The system prompt is an option of the session, not a message of its
	// stored history: it leads every request, stored or not.
	if opts.SystemPrompt != "" {
		c.history = append(c.history, systemMessage(opts.SystemPrompt))
	}
	if err := c.load(); err != nil {
		return nil, fmt.Errorf("%w: openai: %w", backends.ErrFailed, err)
	}
	return c, nil
}

// modelFor is the model of one query: the query's, else the session's,
// else the backend's.
func (b *Backend) modelFor(opts backends.Options, turn backends.Turn) string {
	switch {
	case turn.Model != "":
		return turn.Model
	case opts.Model != "":
		return opts.Model
	}
	return b.cfg.Model
}
