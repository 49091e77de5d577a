// Package ask is `tether ask`: one query from a shell, through the client
// package, against a Tether served in-process.
package ask

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/tether-dev/tether/backends/builtin"
	"github.com/tether-dev/tether/client"
	"github.com/tether-dev/tether/handlers"
	"github.com/tether-dev/tether/internal/flaghelp"
	"github.com/tether-dev/tether/internal/storeflags"
	"github.com/tether-dev/tether/internal/term"
	"github.com/tether-dev/tether/protocol"
	"github.com/tether-dev/tether/rpc"
	"github.com/tether-dev/tether/store"
)

const askHelp = `Usage: tether ask [flags] PROMPT

Runs one query against a Tether of its own and prints the assistant's
text to stdout as it streams; tool, thinking and status lines go to stderr,
and a closing line sums the turn up ([end_turn · 12 in, 6 out tokens ·
$0.0123 · 840 ms]). At a terminal, a spinner on stderr shows what the agent
is doing until the text starts. PROMPT - reads the prompt from stdin.
Flags go before the prompt.

Permission requests are asked on the terminal (y/n/always) when stdin is
one; otherwise --allow and --deny-all decide, and anything else is denied.

Conversations are kept in the session store (as by tether itself; see
--state-dir and --no-store): --session ID continues that stored
conversation, on its backend and in its directory, across invocations;
without --session a new session is made and its id printed on stderr
([session] ...), so the next call can continue it; --new starts the
session of --session afresh, deleting what was stored under its id.

Exit code 0 when the turn ends normally (end_turn), 1 on failure or another
stop reason, 130 when interrupted (Ctrl-C cancels the turn and stops the
backend; a second Ctrl-C exits at once), 2 for bad usage.

`

const askExamples = `
Examples:
  tether ask --backend mock 'Hello from a script'
  { echo 'Review this diff:'; git diff; } | tether ask -
  tether ask --allow Bash 'Run the tests and tell me what fails.'
  tether ask --json --backend mock '/tokens 3' | jq -j 'select(.method=="session/token").params.text'
`

// askFlagGroups are ask's flags as --help groups them.
var askFlagGroups = []flaghelp.Group{
	{Title: "Query", Names: []string{"backend", "model", "cwd", "session", "new"}},
	{Title: "Session store", Names: []string{storeflags.StateDir, storeflags.NoStore}},
	{Title: "Permissions", Names: []string{"allow", "deny-all"}},
	{Title: "Output", Names: []string{"json", "quiet", "log-level"}},
	{Title: "Backend claude", Prefix: "claude-"},
	{Title: "Backend openai", Prefix: "openai-"},
	{Title: "ACP agents as backends", Names: []string{"agent"}, Prefix: "agent-"},
}

// Exit codes of tether ask.
const (
	askOK          = 0
	askFailed      = 1
	askUsageError  = 2
	askInterrupted = 130 // as shells report a command ended by SIGINT
)

// errInterrupted is the cause the query is cancelled with on SIGINT or
// SIGTERM.
var errInterrupted = errors.New("interrupted")

// Run runs `tether ask`: one query through the client package, against a
// Tether served in-process on pipes. In-process rather than a spawned copy
// of the binary: the backend flags are parsed once, there is no second
// process to find (os.Executable), to keep out of the terminal's Ctrl-C
// or to leave behind, and serve's own shutdown stops the backends (a
// Claude process group) before ask returns. It returns the exit code.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer, version string) int {
	fs := flag.NewFlagSet("tether ask", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // --help and errors are answered below
	session := fs.String("session", "", "continue the stored session `id` (default: a new session, its id printed on stderr)")
	fresh := fs.Bool("new", false, "start the session of --session afresh: what was stored under its id is deleted first")
	storeFlags := storeflags.Register(fs, false)
	backend := fs.String("backend", "", "the `backend`: claude, openai or mock (default: the first available of them)")
	model := fs.String("model", "", "the `model`, for backends that choose one")
	cwd := fs.String("cwd", "", "the `directory` the agent works in (default: the current one)")
	allowList := fs.String("allow", "", "`tools` to allow without asking, comma-separated (Bash,Edit)")
	denyAll := fs.Bool("deny-all", false, "deny every permission request without asking")
	jsonOut := fs.Bool("json", false, "print every event, then the result, as one JSON object per line on stdout")
	quiet := fs.Bool("quiet", false, "print no status lines, no spinner and no closing line: the answer, tool lines and errors only")
	logLevel := fs.String("log-level", "error", "`level` of Tether's own logs on stderr: debug, info, warn or error (a failure is reported once, without them)")
	newBackends := builtin.Flags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, askHelp)
			flaghelp.Print(stdout, fs, askFlagGroups...)
			fmt.Fprint(stdout, askExamples)
			return askOK
		}
		fmt.Fprintln(stderr, "Run tether ask --help for the flags.")
		return askUsageError
	}
	usage := func(msg string) int {
		fmt.Fprintf(stderr, "tether ask: %s\nUsage: tether ask [flags] PROMPT (tether ask --help for more)\n", msg)
		return askUsageError
	}
	if fs.NArg() != 1 {
		return usage("want exactly one PROMPT (flags go before it)")
	}
	if *denyAll && *allowList != "" {
		return usage("--allow and --deny-all exclude each other")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usage(fmt.Sprintf("bad --log-level: %v", err))
	}
	prompt := fs.Arg(0)
	if prompt == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			fmt.Fprintf(stderr, "tether ask: reading the prompt from stdin: %v\n", err)
			return askFailed
		}
		prompt = strings.TrimRight(string(b), "\n")
	}
	if *cwd != "" {
		abs, err := filepath.Abs(*cwd)
		if err != nil {
			return usage(fmt.Sprintf("bad --cwd: %v", err))
		}
		*cwd = abs
	}

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	all := newBackends(log)
	def, err := builtin.Default(all, *backend)
	if err != nil {
		return usage(err.Error())
	}

	st, problem := storeFlags.Open(log)
	if st != nil {
		defer func() {
			if err := st.Close(); err != nil {
				log.Error("closing the session store", "err", err)
			}
		}()
	}
	id, err := askSession(st, *session, *fresh)
	if err != nil {
		fmt.Fprintf(stderr, "tether: %v\n", err)
		return askFailed
	}

	out := newAskOutput(stdout, stderr, *jsonOut, *quiet)
	if *session == "" && st != nil && !*quiet {
		out.line(fmt.Sprintf("[session] %s: tether ask --session %s continues it", id, id))
	}
	perm := &askPermissions{out: out, denyAll: *denyAll, allow: make(map[string]bool)}
	for _, t := range strings.Split(*allowList, ",") {
		if t = strings.TrimSpace(t); t != "" {
			perm.allow[t] = true
		}
	}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(f) {
		in, restore, err := terminalInput(f)
		if err != nil {
			fmt.Fprintf(stderr, "tether ask: %v; permission requests will be denied\n", err)
		} else {
			defer restore()
			perm.tty = newTerminalPrompt(in, out)
			out.restoreTerminal = restore
		}
	}

	// The query's context ends on the first SIGINT or SIGTERM (the cause
	// is errInterrupted), or when stdout is gone.
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	out.cancel = cancel
	stopSignals := handleSignals(cancel, out)
	defer stopSignals()

	srvIn, clientOut := io.Pipe()
	clientIn, srvOut := io.Pipe()
	served := make(chan int, 1)
	go func() {
		code := handlers.Serve(context.Background(), srvIn, srvOut, handlers.Config{
			Backends:        all,
			DefaultBackend:  def,
			Version:         version,
			Framing:         rpc.FramingAuto,
			ShutdownTimeout: 30 * time.Second,
			Store:           st,
			StoreProblem:    problem,
			Log:             log,
		})
		srvOut.Close()
		served <- code
	}()
	c := client.Connect(client.Duplex(clientIn, clientOut), client.Options{
		Permission: perm.decide,
		Log:        log.With("side", "client"),
	})
	out.startSpinner()
	res, qerr := c.Query(ctx, protocol.QueryParams{
		SessionID: id,
		Prompt:    prompt,
		Backend:   *backend,
		Model:     *model,
		Cwd:       *cwd,
	}, out.event)
	out.stopSpinner()     // the turn is over, whatever shutting down takes
	closeErr := c.Close() // shutdown stops every backend; exit ends serve
	<-served

	code, reason, byStop := askOutcome(ctx, res, qerr)
	out.finish(res, qerr, code)
	if werr := out.writeError(); werr != nil && code == askOK {
		code, reason, byStop = askFailed, fmt.Sprintf("writing the answer: %v", werr), false
	}
	if closeErr != nil {
		log.Warn("closing tether", "err", closeErr)
	}
	out.closing(res, reason, byStop)
	return code
}

// askSession is the id of the session to ask in: a new one when none is
// named; named with fresh, the stored session of that id is deleted first.
func askSession(st *store.Store, named string, fresh bool) (string, error) {
	if named == "" {
		return uuid.NewString(), nil
	}
	if fresh && st != nil {
		if err := st.Delete(named); err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("--new: %w", err)
		}
	}
	return named, nil
}

// askOutcome turns the query's answer into ask's exit code, and for a
// failure the one line that says why; byStopReason says the failure is
// the turn's stop reason, which the closing line names already.
func askOutcome(ctx context.Context, res *protocol.QueryResult, err error) (code int, reason string, byStopReason bool) {
	switch {
	case err != nil && errors.Is(context.Cause(ctx), errInterrupted):
		return askInterrupted, "cancelled: interrupted", false
	case err != nil && ctx.Err() != nil:
		return askFailed, fmt.Sprintf("cancelled: %v", context.Cause(ctx)), false
	case err != nil:
		var te *client.Error
		if errors.As(err, &te) {
			return askFailed, te.Message, false
		}
		return askFailed, err.Error(), false
	case res.StopReason == protocol.StopCancelled && errors.Is(context.Cause(ctx), errInterrupted):
		return askInterrupted, "cancelled: interrupted", true
	case res.StopReason != protocol.StopEndTurn:
		return askFailed, "the turn ended with stop reason " + res.StopReason, true
	}
	return askOK, "", false
}

// handleSignals cancels the query on the first SIGINT or SIGTERM, and on a
// second one exits at once, for a user who will not wait for the backends
// to stop. It also takes SIGPIPE, so that a closed stdout is a write error
// ask handles (cancel, stop the backends, exit 1) rather than death. The
// returned func stops it and waits for its goroutine.
func handleSignals(cancel context.CancelCauseFunc, out *askOutput) (stop func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGPIPE)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		interrupted := false
		for {
			select {
			case <-done:
				return
			case sig := <-sigs:
				if sig == syscall.SIGPIPE {
					continue // the failed write reports it
				}
				if !interrupted {
					interrupted = true
					out.interrupted()
					cancel(errInterrupted)
					continue
				}
				out.forceExit()
			}
		}
	})
	return func() {
		signal.Stop(sigs)
		close(done)
		wg.Wait()
	}
}

// askPermissions answers permission requests: --allow, --deny-all, the
// terminal, or, with none of those, deny.
type askPermissions struct {
	out     *askOutput
	allow   map[string]bool
	denyAll bool
	tty     *terminalPrompt // nil when stdin is not a terminal
}

func (p *askPermissions) decide(ctx context.Context, req protocol.PermissionRequestParams) client.Decision {
	tool := req.ToolName
	switch {
	case p.allow[tool]:
		p.out.line(fmt.Sprintf("[permission] %s allowed by --allow", tool))
		return client.Decision{Allow: true}
	case p.denyAll:
		p.out.line(fmt.Sprintf("[permission] %s denied by --deny-all", tool))
		return client.Decision{Reason: "denied by --deny-all"}
	case p.tty == nil:
		p.out.line(fmt.Sprintf("[permission] %s denied: stdin is not a terminal to ask on (use --allow %s or --deny-all)", tool, tool))
		return client.Decision{Reason: "nobody to ask: tether ask runs without a terminal"}
	}
	return p.tty.ask(ctx, tool, compactJSON(req.ToolInput), req.AlwaysRule)
}

func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}
