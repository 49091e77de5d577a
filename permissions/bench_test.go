package permissions

import (
	"strings"
	"testing"
)

// BenchmarkPrefixRuleMatch measures matching a typical command line, and a
// long chained one, against Bash(git:*).
func BenchmarkPrefixRuleMatch(b *testing.B) {
	r := mustParse(b, "Bash(git:*)")
	for _, bc := range []struct{ name, line string }{
		{"short", `git log --oneline -n 20 -- "src/main.go" 2>/dev/null`},
		{"chained-1000", strings.Repeat(`git status --short && git diff "$(git rev-parse HEAD)"; `, 1000)},
	} {
		input := bash(bc.line)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.line)))
			for b.Loop() {
				if !r.Matches("Bash", input) {
					b.Fatal("no match")
				}
			}
		})
	}
}
