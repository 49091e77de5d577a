// Package permissions holds what "always allow" remembers: rules, written
// the way the Claude CLI writes them (Tool(pattern)), and matched against
// later requests of the same session.
//
// A rule covers what the user saw and no more:
//
//   - Bash(ls:*): a tool whose input has a "command" string, when every
//     command its command line runs begins with the words before ":*".
//     "ls -la" and "ls; ls -l" match; "ls; rm -rf ~", "ls && rm x",
//     "ls $(rm x)", "ls | sh" and "ls > file" do not. The command line is
//     split the way a POSIX shell splits it (quotes respected); whatever
//     the splitter does not understand does not match, and is asked.
//   - Edit({"file":"a.go"}): exactly that input, compared in canonical
//     JSON (keys sorted, no insignificant white space).
//   - Bash: every use of the tool (the Claude CLI suggests such rules for
//     some tools; For never makes one).
//
// Any other pattern (the Claude CLI's own wildcards and path globs, such as
// Bash(npm run *) or Read(//usr/**)) parses, so it can be shown, but
// matches nothing here: the CLI applies those itself.
//
// The package knows no wire protocol and no backend; sessions and backends
// use it.
package permissions

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrBadRule is returned by Parse for a string that is not a rule.
var ErrBadRule = errors.New("not a permission rule")

// kind is how a rule's pattern is matched.
type kind int

const (
	kindTool    kind = iota // no pattern: every use of the tool
	kindPrefix              // "words:*": commands that begin with words
	kindExact               // canonical JSON: exactly that input
	kindForeign             // someone else's syntax: matches nothing here
)

// Rule is one remembered allow. The zero Rule is invalid and matches
// nothing; make rules with Parse, For or Exact.
type Rule struct {
	tool    string
	pattern string // as written between the parentheses ("" for kindTool)
	kind    kind
	words   []string // kindPrefix: the leading words
}

// Tool is the tool the rule is for.
func (r Rule) Tool() string { return r.tool }

// Pattern is what the rule says of the input: "ls:*", canonical JSON, or
// "" for a rule that covers every use of the tool.
func (r Rule) Pattern() string { return r.pattern }

// String is the rule as users see and Parse reads it: Tool(pattern), or
// Tool for a rule without a pattern.
func (r Rule) String() string {
	if r.kind == kindTool {
		return r.tool
	}
	return r.tool + "(" + r.pattern + ")"
}

// IsZero reports whether r is the zero Rule (no rule).
func (r Rule) IsZero() bool { return r.tool == "" }

// Parse reads a rule written Tool or Tool(pattern). A pattern that begins
// with "{" must be a JSON object.
func Parse(s string) (Rule, error) {
	open := strings.IndexByte(s, '(')
	if open < 0 {
		return New(s, "")
	}
	if !strings.HasSuffix(s, ")") {
		return Rule{}, fmt.Errorf("%w: %q has no closing parenthesis", ErrBadRule, s)
	}
	return New(s[:open], s[open+1:len(s)-1])
}

// New makes the rule Tool(pattern) from its parts, as the Claude CLI's
// suggestions give them (toolName, ruleContent); an empty pattern covers
// every use of the tool.
func New(tool, pattern string) (Rule, error) {
	if tool == "" || strings.ContainsAny(tool, "() \t\r\n") {
		return Rule{}, fmt.Errorf("%w: bad tool name %q", ErrBadRule, tool)
	}
	r := Rule{tool: tool, pattern: pattern}
	switch {
	case pattern == "":
		r.kind = kindTool
	case strings.HasPrefix(pattern, "{"):
		c, err := canonical([]byte(pattern))
		if err != nil {
			return Rule{}, fmt.Errorf("%w: %s(%s): %w", ErrBadRule, tool, pattern, err)
		}
		r.kind, r.pattern = kindExact, string(c)
	case strings.HasSuffix(pattern, ":*") && plainWords(strings.TrimSuffix(pattern, ":*")) != nil:
		r.kind, r.words = kindPrefix, plainWords(strings.TrimSuffix(pattern, ":*"))
	default:
		r.kind = kindForeign
	}
	return r, nil
}

// plainWords splits s on single spaces into words that need no quoting in
// a shell; nil if s is not such a list.
func plainWords(s string) []string {
	words := strings.Split(s, " ")
	for _, w := range words {
		if !isPlainWord(w) {
			return nil
		}
	}
	return words
}

// isPlainWord reports whether w is a word a shell reads as itself: no
// quotes, expansions, globs, assignments or operators.
func isPlainWord(w string) bool {
	if w == "" {
		return false
	}
	for _, c := range []byte(w) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-_./+@%:", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Matches reports whether r allows a use of tool with input.
func (r Rule) Matches(tool string, input json.RawMessage) bool {
	if r.IsZero() || tool != r.tool {
		return false
	}
	switch r.kind {
	case kindTool:
		return true
	case kindExact:
		c, err := canonical(input)
		return err == nil && string(c) == r.pattern
	case kindPrefix:
		line, ok := CommandOf(input)
		return ok && everyCommandBeginsWith(line, r.words)
	}
	return false
}

// everyCommandBeginsWith reports whether line runs at least one command and
// every command it runs begins with words.
func everyCommandBeginsWith(line string, words []string) bool {
	cmds, ok := splitCommands(line)
	if !ok || len(cmds) == 0 {
		return false
	}
	for _, c := range cmds {
		if !c.beginsWith(words) {
			return false
		}
	}
	return true
}

// CommandOf returns the command line of a command-running tool's input:
// its "command" member, when that is a string.
func CommandOf(input json.RawMessage) (string, bool) {
	var in struct {
		Command *string `json:"command"`
	}
	if json.Unmarshal(input, &in) != nil || in.Command == nil {
		return "", false
	}
	return *in.Command, true
}

// For is the rule "always allow" adds for a use of tool with input:
//
//   - for a command-running tool (input has a "command" string) whose
//     commands all begin with the same word, Tool(word:*);
//   - otherwise, and when that word is not a plain program name (an
//     assignment, an expansion, a shell keyword) or names a program that
//     runs other commands (sudo, env, xargs, sh, ...), the exact input.
//
// It fails only when the input is not a JSON object it can put in
// canonical form; then nothing can be remembered.
func For(tool string, input json.RawMessage) (Rule, error) {
	if line, ok := CommandOf(input); ok {
		if word, ok := commonProgram(line); ok {
			return New(tool, word+":*")
		}
	}
	return Exact(tool, input)
}

// Exact is the rule that covers tool with exactly input.
func Exact(tool string, input json.RawMessage) (Rule, error) {
	c, err := canonical(input)
	if err != nil {
		return Rule{}, fmt.Errorf("%w: the input of %s: %w", ErrBadRule, tool, err)
	}
	if len(c) == 0 || c[0] != '{' {
		return Rule{}, fmt.Errorf("%w: the input of %s is not a JSON object", ErrBadRule, tool)
	}
	return New(tool, string(c))
}

// commonProgram is the first word every command of line begins with, when
// there is one and a rule may name it.
func commonProgram(line string) (string, bool) {
	cmds, ok := splitCommands(line)
	if !ok || len(cmds) == 0 || len(cmds[0].words) == 0 {
		return "", false
	}
	first := cmds[0].words[0]
	if first.expanded || !isPlainWord(first.text) || slices.Contains(notARuleWord, first.text) {
		return "", false
	}
	for _, c := range cmds {
		if !c.beginsWith([]string{first.text}) {
			return "", false
		}
	}
	return first.text, true
}

// notARuleWord are first words For never makes a prefix rule of: shell
// keywords, and programs whose arguments are another command, so that
// their name says nothing about what runs ("Bash(sudo:*)" would allow
// anything). Such commands are remembered by their exact input.
var notARuleWord = []string{
	// shell keywords and builtins that run or define commands
	"!", "{", "}", "[[", "]]", "case", "coproc", "do", "done", "elif", "else", "esac", "fi",
	"for", "function", "if", "in", "select", "then", "time", "until", "while",
	".", "builtin", "command", "eval", "exec", "source", "alias", "trap",
	// programs that run the command in their arguments
	"bash", "busybox", "chroot", "dash", "doas", "env", "fish", "flock", "ksh", "nice",
	"nohup", "nsenter", "parallel", "pkexec", "runuser", "setsid", "sh", "ssh", "stdbuf",
	"su", "sudo", "timeout", "unshare", "watch", "xargs", "zsh",
}
