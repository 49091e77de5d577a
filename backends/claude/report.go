package claude

import (
	"fmt"
	"strings"
	"time"

	"github.com/tether-dev/tether/backends"
)

// syntheticModel is the model of assistant frames the CLI makes up itself
// (an API error, "Not logged in"), as opposed to the model's own.
const syntheticModel = "<synthetic>"

// system reports what the CLI says about itself mid-turn: its slash
// commands (once per process), and progress while no text flows, so that
// a user waiting through minutes of API retries sees why (issue 12).
func (t *turn) system(m message) {
	switch m.Subtype {
	case subtypeInit:
		if !t.p.announced && len(m.SlashCommands) > 0 {
			t.p.announced = true
			cmds := make([]backends.Command, 0, len(m.SlashCommands))
			for _, name := range m.SlashCommands {
				cmds = append(cmds, backends.Command{Name: strings.TrimPrefix(name, "/")})
			}
			t.sink.Commands(cmds)
		}
	case "api_retry":
		t.sink.Progress(retryDetail(m))
	case "status":
		if m.Status == "compacting" {
			t.sink.Progress("compacting the conversation")
		}
	case "compact_boundary":
		t.sink.Progress("conversation compacted")
	default:
		t.c.log.Debug("claude system message ignored", "subtype", m.Subtype)
	}
}

// retryDetail says what an api_retry frame means, for a person:
// "API unreachable (unknown), retry 3 of 10 in 8s".
func retryDetail(m message) string {
	what := "API unreachable"
	if m.ErrorStatus != nil {
		what = fmt.Sprintf("API error %d", *m.ErrorStatus)
	}
	if m.Error != "" {
		what += " (" + strings.ReplaceAll(m.Error, "_", " ") + ")"
	}
	delay := (time.Duration(m.RetryDelayMS) * time.Millisecond).Round(100 * time.Millisecond)
	return fmt.Sprintf("%s, retry %d of %d in %v", what, m.Attempt, m.MaxRetries, delay)
}

// contextUsage is how full the context window is after a result: the
// tokens of the main thread's last request, against the model's window.
func (t *turn) contextUsage(m message) (backends.ContextUsage, bool) {
	u := t.lastUsage
	if u == nil {
		u = m.Usage
	}
	if u == nil {
		return backends.ContextUsage{}, false
	}
	cu := backends.ContextUsage{
		Used:    u.InputTokens + u.OutputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens,
		CostUSD: m.TotalCostUSD,
	}
	for _, mu := range m.ModelUsage {
		cu.Size = max(cu.Size, mu.ContextWindow)
	}
	return cu, true
}

// failure is the error of a failed result, naming the fix where the
// failure has a known one: a CLI that is not logged in, or cannot reach
// the API. What the CLI says ("Please run /login") is advice for its own
// terminal, not for a user of Tether.
func (t *turn) failure(m message) error {
	said := resultText(m)
	if t.apiError != "" && (said == "" || said == m.Subtype) {
		said = t.apiError
	}
	lower := strings.ToLower(said + " " + t.apiErrorKind)
	switch {
	case t.apiErrorKind == "authentication_failed" || strings.Contains(lower, "not logged in") ||
		strings.Contains(lower, "invalid api key") || strings.Contains(lower, "/login"):
		return fmt.Errorf("%w: %w: claude is not logged in: run `claude` once to log in, or set ANTHROPIC_API_KEY (claude said: %s)",
			backends.ErrFailed, backends.ErrAuthRequired, said)
	case strings.Contains(lower, "unable to connect") || strings.Contains(lower, "connection error") ||
		strings.Contains(lower, "econnrefused") || strings.Contains(lower, "fetch failed"):
		return fmt.Errorf("%w: claude cannot reach the API: check the network, or ANTHROPIC_BASE_URL if it is set (claude said: %s)",
			backends.ErrFailed, said)
	}
	return fmt.Errorf("%w: claude: %s", backends.ErrFailed, said)
}
