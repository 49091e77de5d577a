package openai

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// ErrBaseURL is a base URL that cannot be an API root; ConfigError wraps
// it.
var ErrBaseURL = errors.New("bad OpenAI base URL")

// ConfigError reports a configuration that cannot work whatever the server
// says, naming the flag or variable to fix: a base URL without http:// or
// https://. Commands check it at start (builtin.Default does), rather than
// let the first query fail with an error about a URL the user never sees.
func (b *Backend) ConfigError() error {
	return checkBaseURL(b.cfg.BaseURL, b.urlFrom)
}

// checkBaseURL checks that raw, the base URL given by from (a flag or an
// environment variable), is an http or https URL with a host.
func checkBaseURL(raw, from string) error {
	if !strings.Contains(raw, "://") {
		// "localhost:11434/v1" would parse as a URL of scheme "localhost".
		return fmt.Errorf("%w: %s %q must start with http:// or https:// (did you mean http://%s?)", ErrBaseURL, from, raw, raw)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("%w: %s %q: %w", ErrBaseURL, from, raw, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%w: %s %q must start with http:// or https://", ErrBaseURL, from, raw)
	case u.Host == "":
		return fmt.Errorf("%w: %s %q has no host", ErrBaseURL, from, raw)
	}
	return nil
}

// versionSegment is a path segment that names an API version: v1, v2,
// v1beta.
var versionSegment = regexp.MustCompile(`^v\d+`)

// hasVersionPath reports whether the URL's path has a version segment.
// OpenAI-compatible servers serve the API under one (Ollama at /v1), and a
// root without it gets 404 for every request.
func hasVersionPath(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return true // nothing to suggest
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if versionSegment.MatchString(seg) {
			return true
		}
	}
	return false
}
