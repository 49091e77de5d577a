// Package cli is Tether's command line: it picks the command (serving
// Tether's protocol on stdio by default, `ask`, `version`, `help`), parses
// its flags and runs it. main.go only calls Main, so every command can also
// be run in-process by tests.
package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/tether-dev/tether/ask"
)

// Exit codes shared by every command.
const (
	exitOK    = 0
	exitUsage = 2 // bad usage: an unknown command, flag or argument
)

// Stdio is what a command runs with: the process's standard streams and
// the build's version.
type Stdio struct {
	In       io.ReadCloser
	Out, Err io.Writer
	Version  string
}

// command is one of tether's commands, as `tether help` lists it.
type command struct {
	name    string
	summary string // one line, for the list in `tether help`
	usage   string // the synopsis, e.g. "tether ask [flags] PROMPT"
	// run runs the command with the arguments after its name and returns
	// the exit code. Given -h or --help it prints its usage on stdout and
	// returns 0.
	run func(args []string, std Stdio) int
}

// commands returns tether's commands, in the order help lists them.
// Serving the protocol on stdio takes no name: it is what `tether [flags]`
// does. A new command is one entry here and its run func. (A func, not a
// var: help's run func lists the commands.)
func commands() []command {
	return []command{
		{
			name:    "ask",
			summary: "run one query, print the answer as it streams",
			usage:   "tether ask [flags] PROMPT",
			run: func(args []string, std Stdio) int {
				return ask.Run(args, std.In, std.Out, std.Err, std.Version)
			},
		},
		{
			name:    "acp",
			summary: "serve the Agent Client Protocol on stdio (Zed, JetBrains, CodeCompanion, acpx)",
			usage:   "tether acp [flags]",
			run: func(args []string, std Stdio) int {
				return serveDialect(args, std, &acpCommand{})
			},
		},
		{
			name:    "sessions",
			summary: "list the stored sessions; show one's conversation, or delete some",
			usage:   "tether sessions [show ID | rm ID...]",
			run:     runSessions,
		},
		{
			name:    "version",
			summary: "print the version (the one initialize reports)",
			usage:   "tether version",
			run:     runVersion,
		},
		{
			name:    "help",
			summary: "print this help, or a command's (tether help ask)",
			usage:   "tether help [COMMAND]",
			run:     runHelp,
		},
	}
}

// lookup returns the command called name.
func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// commandNames lists the commands, for messages.
func commandNames() string {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	return strings.Join(names, ", ")
}

// Main runs the command in args (os.Args[1:]) and returns the process's
// exit code. version is the one a build set (-ldflags "-X
// main.version=..."), or "" for the one the build info records (see
// Version).
func Main(args []string, stdin io.ReadCloser, stdout, stderr io.Writer, version string) int {
	std := Stdio{In: stdin, Out: stdout, Err: stderr, Version: Version(version)}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return serve(args, std)
	}
	if c, ok := lookup(args[0]); ok {
		return c.run(args[1:], std)
	}
	return usageError(std, fmt.Sprintf("unknown command %q", args[0]))
}

// usageError says what was wrong with the command line, names the
// commands, and returns the usage exit code.
func usageError(std Stdio, msg string) int {
	fmt.Fprintf(std.Err, "tether: %s\n", msg)
	fmt.Fprintf(std.Err, "Commands: %s; with none, tether serves its JSON-RPC protocol on stdin/stdout. Run tether help for more.\n", commandNames())
	return exitUsage
}

// isHelp reports whether arg asks for help, as the flag package reads it.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "--h":
		return true
	}
	return false
}
