package claude

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// toolOutcome is what is known about a finished tool call.
type toolOutcome struct {
	name    string
	input   json.RawMessage // the tool_use input
	result  json.RawMessage // the CLI's tool_use_result (structured), if any
	text    string          // the tool_result content as text
	isError bool
	cwd     string // the session's cwd, to shorten paths
}

// Summary limits, in runes.
const (
	maxSubject = 80
	maxError   = 120
)

// summarize is the one-line session/toolResult summary of a tool call. It
// never panics and never returns invalid UTF-8, whatever the CLI sent;
// protocol.md has the table of formats.
func summarize(o toolOutcome) string {
	var in toolInput
	_ = json.Unmarshal(o.input, &in) // missing fields stay empty
	var res toolResult
	if len(o.result) > 0 && o.result[0] == '{' {
		_ = json.Unmarshal(o.result, &res)
	}

	subject, detail := describe(o, in, res)
	if subject == "" {
		subject = oneLine(o.name, maxSubject)
	}
	if subject == "" {
		subject = "tool"
	}
	if o.isError {
		msg := oneLine(strings.TrimPrefix(strings.TrimSpace(o.text), "Error: "), maxError)
		if msg == "" {
			msg = "failed"
		}
		return subject + ": error: " + msg
	}
	if detail != "" {
		return subject + " (" + detail + ")"
	}
	return subject
}

// describe is a tool call's subject (file, command, pattern, ...) and a
// detail about its outcome, both possibly empty.
func describe(o toolOutcome, in toolInput, res toolResult) (subject, detail string) {
	switch o.name {
	case "Read":
		subject = shortPath(in.FilePath, o.cwd)
		switch {
		case res.File != nil && res.Type == "image":
			detail = "image"
		case res.File != nil && res.File.NumLines != nil:
			detail = plural(*res.File.NumLines, "line")
		case o.text != "" && !o.isError:
			detail = plural(strings.Count(strings.TrimRight(o.text, "\n"), "\n")+1, "line")
		}
	case "Write":
		subject = shortPath(in.FilePath, o.cwd)
		detail = plural(len(in.Content), "byte")
	case "Edit", "MultiEdit":
		subject = shortPath(in.FilePath, o.cwd)
	case "NotebookEdit":
		subject = shortPath(in.NotebookPath, o.cwd)
	case "Bash":
		subject = oneLine(in.Command, maxSubject)
		n := len(o.text)
		if res.Stdout != nil || res.Stderr != nil {
			n = len(deref(res.Stdout)) + len(deref(res.Stderr))
		}
		if n == 0 {
			detail = "no output"
		} else {
			detail = plural(n, "byte") + " of output"
		}
	case "Grep", "Glob":
		subject = oneLine(in.Pattern, maxSubject)
		if res.NumFiles != nil {
			detail = plural(*res.NumFiles, "file")
		}
	case "WebFetch":
		subject = oneLine(in.URL, maxSubject)
	case "WebSearch":
		subject = oneLine(in.Query, maxSubject)
	case "Task", "Agent":
		subject = oneLine(in.Description, maxSubject)
	case "TodoWrite":
		subject = plural(len(in.Todos), "item")
	}
	return subject, detail
}

// toolInput holds the input fields of the built-in tools that summaries use.
type toolInput struct {
	FilePath     string            `json:"file_path"`
	NotebookPath string            `json:"notebook_path"`
	Content      string            `json:"content"`
	Command      string            `json:"command"`
	Pattern      string            `json:"pattern"`
	URL          string            `json:"url"`
	Query        string            `json:"query"`
	Description  string            `json:"description"`
	Todos        []json.RawMessage `json:"todos"`
}

// toolResult holds the tool_use_result fields that summaries use.
type toolResult struct {
	Type string `json:"type"`
	File *struct {
		NumLines *int `json:"numLines"`
	} `json:"file"`
	Stdout   *string `json:"stdout"`
	Stderr   *string `json:"stderr"`
	NumFiles *int    `json:"numFiles"`
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// shortPath is p relative to cwd when it lies inside it, else p.
func shortPath(p, cwd string) string {
	if p == "" {
		return ""
	}
	if cwd != "" && filepath.IsAbs(p) {
		if rel, err := filepath.Rel(cwd, p); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			p = rel
		}
	}
	return oneLine(p, maxSubject)
}

// oneLine makes s fit on one line of at most n runes: invalid UTF-8
// replaced, runs of whitespace (newlines included) collapsed to a space,
// and a cut marked with "…".
func oneLine(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return truncate(strings.Join(strings.Fields(s), " "), n)
}

// truncate cuts s to at most n runes, on a rune boundary, ending a cut
// string with "…".
func truncate(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, count := 0, 0
	for i < len(s) && count < n-1 {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		count++
	}
	return s[:i] + "…"
}

// validUTF8Suffix is b as a string without a rune cut in half at its start
// (the kept tail of a stream starts anywhere), and with any other invalid
// bytes replaced.
func validUTF8Suffix(b []byte) string {
	for i := 0; i < len(b) && i < utf8.UTFMax; i++ {
		if utf8.RuneStart(b[i]) {
			b = b[i:]
			break
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func joinLines(lines []string) string { return strings.Join(lines, "\n") }

// lastLines is the last n lines of s, and at most max bytes of them (cut on
// a rune boundary), for error messages.
func lastLines(s string, n, max int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	s = strings.Join(lines, "\n")
	if len(s) > max {
		s = "…" + validUTF8Suffix([]byte(s[len(s)-max:]))
	}
	return s
}
