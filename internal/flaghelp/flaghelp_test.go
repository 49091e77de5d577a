package flaghelp

import (
	"bytes"
	"flag"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestPrintGroupsFlags(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.String("log-level", "info", "log `level`")
	fs.Bool("trace", false, "log every message")
	fs.Duration("claude-grace", 5*time.Second, "grace")
	fs.String("claude-path", "", "the CLI")
	fs.Int("stray", 0, "a flag nobody grouped, whose usage is long enough to be wrapped onto a second line of its own")
	var b bytes.Buffer
	Print(&b, fs,
		Group{Title: "Logging", Names: []string{"trace", "log-level"}},
		Group{Title: "Empty", Names: []string{"nothing"}},
		Group{Title: "Claude", Prefix: "claude-"},
	)
	assert.Equal(t, `Logging:
  --trace
      log every message
  --log-level LEVEL
      log level (default "info")

Claude:
  --claude-grace DURATION
      grace (default 5s)
  --claude-path STRING
      the CLI

Other flags:
  --stray INT
      a flag nobody grouped, whose usage is long enough to be wrapped onto a
      second line of its own
`, b.String())
}
