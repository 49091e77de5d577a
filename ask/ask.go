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

	"github.com/tether-dev/tether/backends/builtin"
	"github.com/tether-dev/tether/client"
	"github.com/tether-dev/tether/handlers"
	"github.com/tether-dev/tether/protocol"
	"github.com/tether-dev/tether/rpc"
)

const askUsage = `usage: tether ask [flags] PROMPT

Runs one query and prints the assistant's text to stdout as it streams;
tool summaries and status lines go to stderr. PROMPT - reads the prompt
from stdin. Permission requests are asked on the terminal (y/n/always)
when stdin is one; otherwise --allow and --deny-all decide, and anything
else is denied. Exit code 0 when the turn ends normally (end_turn), 1 on
failure or another stop reason, 130 when interrupted, 2 for bad usage.

flags:
`

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
	fs.Usage = func() {
		fmt.Fprint(stderr, askUsage)
		fs.PrintDefaults()
	}
	session := fs.String("session", "ask", "the session id")
	backend := fs.String("backend", "", "backend: claude, openai or mock; by default the first available of them")
	model := fs.String("model", "", "the model, for backends that choose one")
	cwd := fs.String("cwd", "", "directory the agent works in (default: the current one)")
	allowList := fs.String("allow", "", "tools to allow without asking, comma-separated (Bash,Edit)")
	denyAll := fs.Bool("deny-all", false, "deny every permission request without asking")
	jsonOut := fs.Bool("json", false, "print every event, then the result, as one JSON object per line on stdout")
	logLevel := fs.String("log-level", "warn", "log level of Tether's own logs on stderr: debug, info, warn or error")
	newBackends := builtin.Flags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return askOK
		}
		return askUsageError
	}
	usage := func(msg string) int {
		fmt.Fprintf(stderr, "tether ask: %s\n", msg)
		fs.Usage()
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

	out := newAskOutput(stdout, stderr, *jsonOut)
	perm := &askPermissions{out: out, denyAll: *denyAll, allow: make(map[string]bool)}
	for _, t := range strings.Split(*allowList, ",") {
		if t = strings.TrimSpace(t); t != "" {
			perm.allow[t] = true
		}
	}
	if f, ok := stdin.(*os.File); ok && isTerminal(f) {
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
			Log:             log,
		})
		srvOut.Close()
		served <- code
	}()
	c := client.Connect(client.Duplex(clientIn, clientOut), client.Options{
		Permission: perm.decide,
		Log:        log.With("side", "client"),
	})
	res, qerr := c.Query(ctx, protocol.QueryParams{
		SessionID: *session,
		Prompt:    prompt,
		Backend:   *backend,
		Model:     *model,
		Cwd:       *cwd,
	}, out.event)
	closeErr := c.Close() // shutdown stops every backend; exit ends serve
	<-served

	code, reason := askOutcome(ctx, res, qerr)
	out.finish(res, qerr, code)
	if werr := out.writeError(); werr != nil && code == askOK {
		code, reason = askFailed, fmt.Sprintf("writing the answer: %v", werr)
	}
	if closeErr != nil {
		log.Warn("closing tether", "err", closeErr)
	}
	if reason != "" {
		fmt.Fprintf(stderr, "tether: %s\n", reason)
	}
	return code
}

// askOutcome turns the query's answer into ask's exit code, and for a
// failure the one line that says why.
func askOutcome(ctx context.Context, res *protocol.QueryResult, err error) (int, string) {
	switch {
	case err != nil && errors.Is(context.Cause(ctx), errInterrupted):
		return askInterrupted, "cancelled: interrupted"
	case err != nil && ctx.Err() != nil:
		return askFailed, fmt.Sprintf("cancelled: %v", context.Cause(ctx))
	case err != nil:
		var te *client.Error
		if errors.As(err, &te) {
			return askFailed, te.Message
		}
		return askFailed, err.Error()
	case res.StopReason == protocol.StopCancelled && errors.Is(context.Cause(ctx), errInterrupted):
		return askInterrupted, "cancelled: interrupted"
	case res.StopReason != protocol.StopEndTurn:
		return askFailed, "the turn ended with stop reason " + res.StopReason
	}
	return askOK, ""
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
					out.line("[interrupted: cancelling; interrupt again to force]")
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
