package ask

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/tether-dev/tether/client"
	"github.com/tether-dev/tether/protocol"
)

// askOutput writes what tether ask shows: the assistant's text on stdout,
// everything else as lines on stderr; or, with --json, one JSON object per
// event and one for the outcome on stdout. Query's callback and the
// permission prompt write from different goroutines, so every write takes
// mu.
type askOutput struct {
	stdout, stderr io.Writer
	json           bool
	// sameScreen: stdout and stderr are one terminal, so a stderr line
	// must not continue the text's unfinished line.
	sameScreen bool

	// cancel ends the query when stdout is gone; set before the query.
	cancel context.CancelCauseFunc
	// restoreTerminal puts the terminal back before a forced exit; nil
	// when stdin is not a terminal.
	restoreTerminal func()

	mu       sync.Mutex
	midLine  bool  // text was written that did not end with a newline
	asking   bool  // a question is on screen, its line not ended yet
	wroteAny bool  // any text was written
	err      error // the first failed write to stdout
}

func newAskOutput(stdout, stderr io.Writer, jsonOut bool) *askOutput {
	o := &askOutput{stdout: stdout, stderr: stderr, json: jsonOut}
	fo, ok1 := stdout.(*os.File)
	fe, ok2 := stderr.(*os.File)
	o.sameScreen = ok1 && ok2 && isTerminal(fo) && isTerminal(fe)
	return o
}

// jsonLine is one line of --json output: an event as its notification's
// method and params, or the query's outcome as result or error, as
// JSON-RPC spells them. It is tether ask's output format, not a message of
// the protocol.
type jsonLine struct {
	Method string                `json:"method,omitempty"`
	Params json.RawMessage       `json:"params,omitempty"`
	Result *protocol.QueryResult `json:"result,omitempty"`
	Error  *jsonError            `json:"error,omitempty"`
}

type jsonError struct {
	Code    int64           `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// event shows one event of the query; it is Query's callback.
func (o *askOutput) event(ev client.Event) {
	if o.json {
		o.writeJSON(jsonLine{Method: ev.Method, Params: ev.Params})
		return
	}
	switch {
	case ev.Token != nil:
		o.text(ev.Token.Text)
	case ev.Thinking != nil:
		o.line("[thinking] " + ev.Thinking.Text)
	case ev.ToolUse != nil:
		o.line(fmt.Sprintf("[tool] %s %s", ev.ToolUse.ToolName, compactJSON(ev.ToolUse.Input)))
	case ev.ToolResult != nil:
		tag := "[tool done]"
		if ev.ToolResult.IsError {
			tag = "[tool failed]"
		}
		o.line(tag + " " + ev.ToolResult.Summary)
	case ev.Status != nil && ev.Status.Status == protocol.StatusWaitingPermission:
		// The permission line or question says it, and a status line
		// could land in the middle of the question.
	case ev.Status != nil:
		s := "[status] " + ev.Status.Status
		if ev.Status.Detail != "" {
			s += ": " + ev.Status.Detail
		}
		o.line(s)
	case ev.PermissionCancelled != nil:
		o.line(fmt.Sprintf("[permission] request withdrawn: %s", ev.PermissionCancelled.Reason))
	}
	// A permission request is shown by whoever decides it.
}

// text writes assistant text to stdout.
func (o *askOutput) text(s string) {
	if s == "" {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.writeOut(s)
	o.wroteAny = true
	o.midLine = !strings.HasSuffix(s, "\n")
}

// line writes one line to stderr, starting a new line first when the text
// on the same terminal has not ended its own. Nothing is written with
// --json but the notes a script may need (permissions, interruption).
func (o *askOutput) line(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lineLocked(s)
}

func (o *askOutput) lineLocked(s string) {
	if o.json && !strings.HasPrefix(s, "[permission]") && !strings.HasPrefix(s, "[interrupted") {
		return
	}
	if (o.midLine && o.sameScreen) || o.asking {
		fmt.Fprintln(o.stderr)
		o.midLine, o.asking = false, false
	}
	fmt.Fprintln(o.stderr, s)
}

func (o *askOutput) writeJSON(v jsonLine) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(jsonLine{Error: &jsonError{Code: -32603, Message: "encoding the event: " + err.Error()}})
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.writeOut(string(b) + "\n")
}

// writeOut writes to stdout; the first failure cancels the query: nobody
// reads the answer any more. Called with mu held.
func (o *askOutput) writeOut(s string) {
	if o.err != nil {
		return
	}
	if _, err := io.WriteString(o.stdout, s); err != nil {
		o.err = err
		if o.cancel != nil {
			o.cancel(fmt.Errorf("writing the answer: %w", err))
		}
	}
}

func (o *askOutput) writeError() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// finish ends the output: the text's last line, or with --json the
// outcome's line.
func (o *askOutput) finish(res *protocol.QueryResult, err error, code int) {
	if !o.json {
		o.mu.Lock()
		if o.midLine {
			o.writeOut("\n")
			o.midLine = false
		}
		o.mu.Unlock()
		return
	}
	if err == nil {
		o.writeJSON(jsonLine{Result: res})
		return
	}
	je := &jsonError{Code: -32603, Message: err.Error()}
	var te *client.Error
	switch {
	case code == askInterrupted, errors.Is(err, context.Canceled):
		je = &jsonError{Code: client.CodeRequestCancelled, Message: "cancelled"}
	case errors.As(err, &te):
		je = &jsonError{Code: te.Code, Message: te.Message, Data: te.Data}
	}
	o.writeJSON(jsonLine{Error: je})
}

// forceExit ends the process at once, on a second interrupt: the terminal
// is put back first, since nothing else will run.
func (o *askOutput) forceExit() {
	if o.restoreTerminal != nil {
		o.restoreTerminal()
	}
	o.mu.Lock()
	fmt.Fprintln(o.stderr, "tether: interrupted twice: exiting without waiting for the backends")
	o.mu.Unlock()
	os.Exit(askInterrupted)
}

// prompt writes a question to stderr without ending the line.
func (o *askOutput) prompt(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.midLine && o.sameScreen {
		fmt.Fprintln(o.stderr)
		o.midLine = false
	}
	fmt.Fprint(o.stderr, s)
	o.asking = true
}

// answered says the user ended the question's line (the terminal echoed
// their Enter).
func (o *askOutput) answered() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.asking = false
}
