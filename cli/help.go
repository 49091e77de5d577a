package cli

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/tether-dev/tether/internal/flaghelp"
	"github.com/tether-dev/tether/internal/storeflags"
)

// serveFlagGroups are the server's flags as help groups them. A backend's
// flags join its group by their prefix; a new flag no group names is
// still listed, under "Other flags".
var serveFlagGroups = []flaghelp.Group{
	{Title: "Transport", Names: []string{"framing"}},
	{Title: "Logging", Names: []string{"log-level", "log-file", "trace"}},
	{Title: "Limits", Names: []string{"max-message-size", "shutdown-timeout", "idle-stop", "max-processes"}},
	{Title: "Session store (sessions outlive Tether)", Names: []string{storeflags.StateDir, storeflags.NoStore, storeflags.MaxAge}},
	{Title: "Backends", Names: []string{"backend"}},
	{Title: "Backend claude (the Claude Code CLI, one process per session)", Prefix: "claude-"},
	{Title: "Backend openai (OpenAI or a compatible server: Ollama, vLLM, llama.cpp, LM Studio)", Prefix: "openai-"},
	{Title: "ACP agents as backends (Gemini CLI, codex-acp, goose, OpenCode...; one process per agent, shared by its sessions)", Names: []string{"agent"}, Prefix: "agent-"},
}

const helpIntro = `Tether connects editors, scripts and host apps to AI coding agents (Claude
Code, OpenAI-compatible servers, a built-in mock) through one JSON-RPC 2.0
protocol on stdin/stdout, with one long-lived agent session per conversation.
`

const helpExamples = `Examples:
  # One question from a shell, on the built-in mock (no account needed):
  tether ask --backend mock 'Hello from a script'

  # Ask Claude Code (an installed, logged-in claude CLI) about this directory:
  tether ask --backend claude 'What does this project do?'

  # A local model served by Ollama:
  tether ask --backend openai --openai-base-url http://localhost:11434/v1 \
    --openai-model llama3.2 'Say hello in five words.'

  # The protocol itself, one JSON message per line, as a host app speaks it:
  echo '{"jsonrpc":"2.0","id":1,"method":"initialize"}' | tether --framing ndjson

protocol.md in Tether's repository is the wire contract; README.md shows how
to use Tether from Neovim, VS Code, Go programs and shell scripts.
`

// printHelp writes `tether help`: what Tether is, its commands, the
// server's flags in groups, and examples.
func printHelp(w io.Writer) {
	fmt.Fprint(w, helpIntro+"\nUsage:\n")
	rows := [][2]string{{"tether [flags]", "serve the protocol on stdio; what editors run"}}
	for _, c := range commands() {
		rows = append(rows, [2]string{c.usage, c.summary})
	}
	width := 0
	for _, r := range rows {
		width = max(width, len(r[0]))
	}
	for _, r := range rows {
		fmt.Fprintf(w, "  %-*s  %s\n", width, r[0], r[1])
	}
	fmt.Fprintln(w, "\nRun tether COMMAND --help for a command's own flags.")
	fmt.Fprintln(w, "\nFlags of tether [flags]:")
	fmt.Fprintln(w)
	fs := flag.NewFlagSet("tether", flag.ContinueOnError)
	newServeFlags(fs)
	flaghelp.Print(w, fs, serveFlagGroups...)
	fmt.Fprintln(w)
	fmt.Fprint(w, helpExamples)
}

// runHelp is `tether help [COMMAND]`.
func runHelp(args []string, std Stdio) int {
	switch {
	case len(args) == 0, len(args) == 1 && (args[0] == "help" || isHelp(args[0])):
		printHelp(std.Out)
		return exitOK
	case len(args) > 1:
		return usageError(std, fmt.Sprintf("tether help takes one command at most, got %q", strings.Join(args, " ")))
	}
	c, ok := lookup(args[0])
	if !ok {
		return usageError(std, fmt.Sprintf("no help for %q: not a command", args[0]))
	}
	return c.run([]string{"--help"}, std)
}

// printCommandHelp prints the help of a command that serves a dialect
// (tether acp): its usage, and the server's flags with its own.
func printCommandHelp(w io.Writer, name string) {
	c, _ := lookup(name)
	fmt.Fprintf(w, "Usage: %s\n\n%s.\n", c.usage, strings.ToUpper(c.summary[:1])+c.summary[1:])
	fmt.Fprint(w, "It takes the flags of tether [flags]; stdout carries nothing but the protocol.\n\nFlags:\n\n")
	fs := flag.NewFlagSet("tether "+name, flag.ContinueOnError)
	newServeFlags(fs)
	cmd := &acpCommand{}
	cmd.flags(fs)
	groups := append([]flaghelp.Group{{Title: "tether " + name, Names: []string{"login"}}}, serveFlagGroups...)
	flaghelp.Print(w, fs, groups...)
}
