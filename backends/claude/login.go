package claude

import (
	"os"
	"path/filepath"
)

// loggedIn tells whether the CLI looks logged in, and how: an API key or
// token in the environment, a cloud provider the CLI is told to use, or
// the credentials the CLI stores when one logs in with `claude`. It can
// only look (on macOS the CLI may keep its login in the keychain, which
// this does not read), so "not logged in" comes with how to log in rather
// than as a refusal to start.
func loggedIn() (bool, string) {
	for _, name := range []string{"ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"} {
		if os.Getenv(name) != "" {
			return true, "logged in with " + name
		}
	}
	for _, name := range []string{"CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX"} {
		if os.Getenv(name) != "" {
			return true, "uses the cloud provider " + name + " names"
		}
	}
	dir := os.Getenv("CLAUDE_CONFIG_DIR")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return false, notLoggedIn
		}
		dir = filepath.Join(home, ".claude")
	}
	if _, err := os.Stat(filepath.Join(dir, ".credentials.json")); err == nil {
		return true, "logged in (the CLI's credentials in " + dir + ")"
	}
	return false, notLoggedIn
}

const notLoggedIn = "does not look logged in: run `claude` once to log in, or set ANTHROPIC_API_KEY"
