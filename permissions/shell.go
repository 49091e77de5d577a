package permissions

import "strings"

// This file splits a command line into the simple commands it runs, the
// way a POSIX shell (bash) reads it, for prefix rules. It is deliberately
// not a shell parser: it finds every place a command can start, and when
// it meets anything it does not understand it gives up, so the rule does
// not match and the user is asked. Splitting too much only asks more;
// splitting too little would run a command nobody allowed.
//
// A new command starts after ; & && || | |& and a newline, and inside
// $( ), ` `, <( ), >( ) and a subshell ( ). Quotes are respected: a
// separator inside '…' or "…" is text (but $( ) and ` ` inside "…" still
// run). Output redirections other than to /dev/null or another file
// descriptor, here-documents, and a backslash inside ` ` are doubts.
// (mvdan.cc/sh parses shell exactly, but the brief allows no new
// dependency, and this splitter's failure mode is the safe one.)

// maxDepth bounds nested substitutions and subshells.
const maxDepth = 64

// simpleCommand is one command a command line runs: its words after quote
// removal. A command that is only a subshell has no words of its own; the
// subshell's commands are listed separately.
type simpleCommand struct {
	words []shellWord
}

// shellWord is one word of a command.
type shellWord struct {
	text string // after quote removal; expansions are left out
	// expanded is set when the shell changes the word before it runs
	// (a parameter, a substitution, a glob, a tilde), so text is not
	// what runs.
	expanded bool
}

// beginsWith reports whether c's first words are exactly words, as
// written, with nothing the shell would expand.
func (c simpleCommand) beginsWith(words []string) bool {
	if len(c.words) < len(words) {
		return false
	}
	for i, w := range words {
		if c.words[i].expanded || c.words[i].text != w {
			return false
		}
	}
	return true
}

// splitCommands returns every simple command line runs, those inside
// substitutions and subshells included; ok is false when it cannot tell.
func splitCommands(line string) (cmds []simpleCommand, ok bool) {
	p := &shellSplitter{s: line}
	if !p.list(0, 0, false) {
		return nil, false
	}
	return p.cmds, true
}

// shellSplitter reads a command line left to right.
type shellSplitter struct {
	s    string
	i    int
	cmds []simpleCommand
}

func (p *shellSplitter) peek(off int) byte {
	if p.i+off < len(p.s) {
		return p.s[p.i+off]
	}
	return 0
}

// listState is the command and word being read by one list.
type listState struct {
	cmd      simpleCommand
	started  bool // the command has words, redirections or a subshell
	subshell bool // the command is a subshell
	word     strings.Builder
	inWord   bool
	expanded bool
	needCmd  bool // after | || && |&: a command must follow
}

func (st *listState) endWord() {
	if !st.inWord {
		return
	}
	st.cmd.words = append(st.cmd.words, shellWord{text: st.word.String(), expanded: st.expanded})
	st.word.Reset()
	st.inWord, st.expanded, st.started = false, false, true
}

// endCommand ends the command being read; empty reports whether it had
// nothing in it.
func (p *shellSplitter) endCommand(st *listState) (empty bool) {
	st.endWord()
	if !st.started {
		return true
	}
	if len(st.cmd.words) > 0 {
		p.cmds = append(p.cmds, st.cmd)
	}
	st.cmd, st.started, st.subshell, st.needCmd = simpleCommand{}, false, false, false
	return false
}

// list reads commands until end (0: the end of the line; ')' or '`': the
// end of a substitution or subshell) and consumes end. inBackticks is set
// inside ` `, where backslashes change meaning.
func (p *shellSplitter) list(end byte, depth int, inBackticks bool) bool {
	if depth > maxDepth {
		return false
	}
	st := &listState{}
	for p.i < len(p.s) {
		c := p.s[p.i]
		if end != 0 && c == end {
			p.i++
			return p.endList(st)
		}
		if st.subshell && !strings.ContainsRune(" \t\n;&|<>", rune(c)) {
			return false // words after a subshell: a function definition or worse
		}
		switch c {
		case ' ', '\t':
			st.endWord()
			p.i++
		case '\n':
			p.i++
			p.endCommand(st) // an empty line, or a newline after && etc., is fine
		case ';':
			p.i++
			if p.peek(0) == ';' || p.peek(0) == '&' || p.endCommand(st) {
				return false // ;; ;& (case) or an empty command
			}
		case '&', '|':
			if c == '&' && p.peek(1) == '>' {
				if !p.redirect(st) {
					return false
				}
				continue
			}
			op := p.s[p.i : p.i+1]
			if n := p.peek(1); c == '|' && (n == '|' || n == '&') || c == '&' && n == '&' {
				op = p.s[p.i : p.i+2]
			}
			p.i += len(op)
			if p.endCommand(st) {
				return false // an operator with no command before it
			}
			st.needCmd = op != "&" // | || && |& need a command after them
		case '(':
			if st.inWord || st.started {
				return false // not at the start of a command: a function definition
			}
			p.i++
			if !p.list(')', depth+1, inBackticks) {
				return false
			}
			st.started, st.subshell = true, true
		case ')':
			return false // closes nothing
		case '`':
			p.i++
			if inBackticks || !p.list('`', depth+1, true) {
				return false
			}
			st.inWord, st.expanded = true, true
		case '$':
			if !p.dollar(st, depth, inBackticks) {
				return false
			}
		case '<', '>':
			if p.peek(1) == '(' {
				p.i += 2
				if !p.list(')', depth+1, inBackticks) {
					return false
				}
				st.inWord, st.expanded = true, true
				continue
			}
			if !p.redirect(st) {
				return false
			}
		case '\\':
			if inBackticks || p.i+1 >= len(p.s) {
				return false
			}
			if n := p.s[p.i+1]; n != '\n' { // backslash-newline joins lines
				st.word.WriteByte(n)
				st.inWord = true
			}
			p.i += 2
		case '\'':
			j := strings.IndexByte(p.s[p.i+1:], '\'')
			if j < 0 {
				return false
			}
			st.word.WriteString(p.s[p.i+1 : p.i+1+j])
			st.inWord = true
			p.i += j + 2
		case '"':
			if !p.doubleQuoted(st, depth, inBackticks) {
				return false
			}
		case '*', '?', '[', '{', '~':
			// A glob, a brace expansion or a tilde: what runs is not
			// what is written.
			st.word.WriteByte(c)
			st.inWord, st.expanded = true, true
			p.i++
		default:
			st.word.WriteByte(c)
			st.inWord = true
			p.i++
		}
	}
	if end != 0 {
		return false // unterminated
	}
	return p.endList(st)
}

// endList ends the last command of a list.
func (p *shellSplitter) endList(st *listState) bool {
	needCmd := st.needCmd
	return !(p.endCommand(st) && needCmd)
}

// dollar reads $( ), $(( )) and the start of a parameter ($x, ${x}).
func (p *shellSplitter) dollar(st *listState, depth int, inBackticks bool) bool {
	st.inWord, st.expanded = true, true
	if p.peek(1) != '(' {
		st.word.WriteByte('$')
		p.i++
		return true
	}
	p.i += 2
	return p.list(')', depth+1, inBackticks)
}

// doubleQuoted reads "…", in which $( ) and ` ` still run commands.
func (p *shellSplitter) doubleQuoted(st *listState, depth int, inBackticks bool) bool {
	st.inWord = true
	p.i++
	for p.i < len(p.s) {
		switch c := p.s[p.i]; c {
		case '"':
			p.i++
			return true
		case '\\':
			if inBackticks || p.i+1 >= len(p.s) {
				return false
			}
			switch n := p.s[p.i+1]; n {
			case '$', '`', '"', '\\':
				st.word.WriteByte(n)
			case '\n':
			default:
				st.word.WriteByte('\\')
				st.word.WriteByte(n)
			}
			p.i += 2
		case '`':
			p.i++
			if inBackticks || !p.list('`', depth+1, true) {
				return false
			}
			st.expanded = true
		case '$':
			if !p.dollar(st, depth, inBackticks) {
				return false
			}
		default:
			st.word.WriteByte(c)
			p.i++
		}
	}
	return false
}

// redirect reads a redirection (<, >, >>, >|, <>, &>, &>>, >&, <&) and its
// target. Reading a file is fine; writing one is allowed only to
// /dev/null or to another file descriptor, because a command allowed to
// run is not thereby allowed to overwrite any file. Here-documents and
// here-strings are doubts.
func (p *shellSplitter) redirect(st *listState) bool {
	// Digits right before the operator are its file descriptor, not a word.
	if st.inWord && !st.expanded && isDigits(st.word.String()) {
		st.word.Reset()
		st.inWord = false
	}
	st.endWord()
	st.started = true
	amp := p.peek(0) == '&' // &> and &>>: stdout and stderr
	if amp {
		p.i++
	}
	var op string
	switch n := p.peek(1); {
	case p.peek(0) == '<' && n == '<':
		return false // a here-document or here-string
	case p.peek(0) == '<' && (n == '>' || n == '&'),
		p.peek(0) == '>' && (n == '>' || n == '|' || n == '&'):
		op = p.s[p.i : p.i+2]
	case p.peek(0) == '<' || p.peek(0) == '>':
		op = p.s[p.i : p.i+1]
	default:
		return false
	}
	p.i += len(op)
	if amp && op != ">" && op != ">>" {
		return false
	}
	dup := op == "<&" || op == ">&"
	write := amp || op[0] == '>' || op == "<>"
	for p.peek(0) == ' ' || p.peek(0) == '\t' {
		p.i++
	}
	start := p.i
	for p.i < len(p.s) && !strings.ContainsRune(" \t\n;&|<>()`'\"$\\*?[{~", rune(p.s[p.i])) {
		p.i++
	}
	target := p.s[start:p.i]
	switch {
	case target == "":
		return false // a target that is quoted, expanded or missing
	case dup:
		return target == "-" || isDigits(target)
	case write:
		return target == "/dev/null"
	}
	return true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
