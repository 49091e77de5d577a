package openai_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	oai "github.com/tether-dev/tether/backends/openai"
)

func TestBaseURLMustBeHTTP(t *testing.T) {
	t.Setenv(oai.EnvAPIKey, "")
	for _, tc := range []struct {
		url  string
		want string // "" when the URL is fine
	}{
		{"http://localhost:11434/v1", ""},
		{"https://openai.example.com/v1/", ""},
		{"HTTP://127.0.0.1:8080/v1", ""},
		{"localhost:11434/v1", `"localhost:11434/v1" must start with http:// or https:// (did you mean http://localhost:11434/v1?)`},
		{"127.0.0.1:11434/v1", `(did you mean http://127.0.0.1:11434/v1?)`},
		{"api.example.com/v1", `(did you mean http://api.example.com/v1?)`},
		{"ftp://example.com/v1", `"ftp://example.com/v1" must start with http:// or https://`},
		{"http:///v1", `"http:///v1" has no host`},
	} {
		t.Run(tc.url, func(t *testing.T) {
			t.Run("flag", func(t *testing.T) {
				t.Setenv(oai.EnvBaseURL, "")
				checkBaseURLError(t, oai.New(oai.Config{BaseURL: tc.url}, nil), "--openai-base-url "+`"`, tc.want)
			})
			t.Run("environment", func(t *testing.T) {
				t.Setenv(oai.EnvBaseURL, tc.url)
				checkBaseURLError(t, oai.New(oai.Config{}, nil), oai.EnvBaseURL+` "`, tc.want)
			})
		})
	}
}

// checkBaseURLError checks b's ConfigError: none when want is "", else
// one that names where the URL came from (from) and says want; Available
// says the same.
func checkBaseURLError(t *testing.T, b *oai.Backend, from, want string) {
	t.Helper()
	err := b.ConfigError()
	ok, detail := b.Available()
	if want == "" {
		assert.NoError(t, err)
		assert.True(t, ok, detail)
		return
	}
	require.ErrorIs(t, err, oai.ErrBaseURL)
	assert.Contains(t, err.Error(), from, "the error names the flag or variable")
	assert.Contains(t, err.Error(), want)
	assert.False(t, ok)
	assert.Equal(t, err.Error(), detail)
}

func TestNotFoundWithoutVersionPathSuggestsV1(t *testing.T) {
	f := newFakeServer(t)
	f.otherPaths404 = true
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.srv.URL, MaxRetries: -1}), backends.Options{})

	err := queryFails(t, conn, "hi")
	assert.Contains(t, err.Error(), "404 Not Found")
	assert.Contains(t, err.Error(), "did you mean "+f.srv.URL+"/v1?")
	assert.Contains(t, err.Error(), "--openai-base-url", "where to fix it")
	assert.NotContains(t, err.Error(), "model", "the model is not what is wrong")
	reqs := f.recordedRequests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "/chat/completions", reqs[0].Path)
}

func TestNotFoundWithVersionPathBlamesTheModel(t *testing.T) {
	f := newFakeServer(t, errorReply(http.StatusNotFound, nil, "model \"llama9\" not found, try pulling it first", ""))
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL(), Model: "llama9"}), backends.Options{})

	err := queryFails(t, conn, "hi")
	assert.Contains(t, err.Error(), `model "llama9" not found at `+f.baseURL())
	assert.NotContains(t, err.Error(), "did you mean")
}
