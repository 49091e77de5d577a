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
	"time"

	"github.com/tether-dev/tether/client"
	"github.com/tether-dev/tether/internal/term"
	"github.com/tether-dev/tether/protocol"
)

// askOutput writes what tether ask shows: the assistant's text on stdout,
// everything else as lines on stderr; or, with --json, one JSON object per
// event and one for the outcome on stdout. Query's callback, the
// permission prompt, the signal handler and the spinner's goroutine write
// from different goroutines, so every write takes mu.
type askOutput struct {
	stdout, stderr io.Writer
	json           bool
	quiet          bool // --quiet: no status lines, no closing line
	// shared: stdout and stderr are one file (a terminal, or the pipe of
	// `2>&1`), so a stderr line must not continue the text's unfinished
	// line.
	shared bool

	// cancel ends the query when stdout is gone; set before the query.
	cancel context.CancelCauseFunc
	// restoreTerminal puts the terminal back before a forced exit; nil
	// when stdin is not a terminal.
	restoreTerminal func()

	mu         sync.Mutex
	spin       *spinner // nil unless stderr is a terminal (and not --json or --quiet)
	midLine    bool     // text was written that did not end with a newline
	lastStatus string   // the last status line written
	asking     bool     // a question is on screen, its line not ended yet
	err        error    // the first failed write to stdout

	// The spinner's goroutine: started by startSpinner, stopped and
	// waited for by stopSpinner.
	spinStop chan struct{}
	spinDone sync.WaitGroup
}

func newAskOutput(stdout, stderr io.Writer, jsonOut, quiet bool) *askOutput {
	o := &askOutput{stdout: stdout, stderr: stderr, json: jsonOut, quiet: quiet}
	fo, ok1 := stdout.(*os.File)
	fe, ok2 := stderr.(*os.File)
	if ok1 && ok2 {
		so, err1 := fo.Stat()
		se, err2 := fe.Stat()
		o.shared = err1 == nil && err2 == nil && os.SameFile(so, se)
	}
	if ok2 && !jsonOut && !quiet && term.IsTerminal(fe) {
		o.spin = newSpinner(stderr, term.Width(fe), time.Now())
	}
	return o
}

// startSpinner starts turning the spinner, if there is one, until
// stopSpinner.
func (o *askOutput) startSpinner() {
	if o.spin == nil {
		return
	}
	o.spinStop = make(chan struct{})
	o.mu.Lock()
	o.spin.draw(time.Now())
	o.mu.Unlock()
	o.spinDone.Go(func() {
		tick := time.NewTicker(spinnerTick)
		defer tick.Stop()
		for {
			select {
			case <-o.spinStop:
				return
			case now := <-tick.C:
				o.mu.Lock()
				o.spin.draw(now)
				o.mu.Unlock()
			}
		}
	})
}

// stopSpinner erases the spinner for good and waits for its goroutine.
func (o *askOutput) stopSpinner() {
	if o.spin == nil {
		return
	}
	if o.spinStop != nil {
		close(o.spinStop)
		o.spinDone.Wait()
		o.spinStop = nil
	}
	o.mu.Lock()
	o.spin.stop()
	o.mu.Unlock()
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
	case ev.Status != nil:
		o.status(ev.Status.Status, ev.Status.Detail)
	case ev.PermissionCancelled != nil:
		o.line(fmt.Sprintf("[permission] request withdrawn: %s", ev.PermissionCancelled.Reason))
	}
	// A permission request is shown by whoever decides it.
}

// status shows a session/status. What the closing line or the failure's
// line will say (idle, failed) is not said twice; a permission wait is
// said by the permission line or question; at a terminal, the spinner
// shows the rest, and only a status with something to say (a retry, a
// compaction) also gets a line, to stay in the scrollback.
func (o *askOutput) status(status, detail string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.spin != nil {
		o.spin.set(status, detail)
	}
	switch {
	case o.quiet, status == protocol.StatusIdle, status == protocol.StatusFailed,
		status == protocol.StatusWaitingPermission:
		return
	case o.spin != nil && (status == protocol.StatusStarting || detail == ""):
		o.spin.draw(time.Now())
		return
	}
	s := "[status] " + status
	if detail != "" {
		s += ": " + detail
	}
	if s != o.lastStatus { // busy again after a permission wait says nothing new
		o.lastStatus = s
		o.lineLocked(s)
	}
}

// text writes assistant text to stdout; the spinner goes for good.
func (o *askOutput) text(s string) {
	if s == "" {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.spin != nil {
		o.spin.stop()
	}
	o.writeOut(s)
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
	o.endLineLocked()
	fmt.Fprintln(o.stderr, s)
	if o.spin != nil {
		o.spin.draw(time.Now())
	}
}

// endLineLocked makes stderr's next write start a line of its own: the
// spinner is erased, an unanswered question's line ended, and an answer's
// unfinished line on the shared terminal or pipe ended too. Called with mu
// held.
func (o *askOutput) endLineLocked() {
	if o.spin != nil {
		o.spin.erase()
	}
	if (o.midLine && o.shared) || o.asking {
		fmt.Fprintln(o.stderr)
		o.midLine, o.asking = false, false
		if o.spin != nil {
			o.spin.held = false // the question was withdrawn
		}
	}
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

// finish ends the output of the query: the spinner goes, the text's last
// line is ended, and with --json the outcome's line is written.
func (o *askOutput) finish(res *protocol.QueryResult, err error, code int) {
	o.stopSpinner()
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

// closing writes the last line on stderr, once finish has ended the
// answer: why the query failed (always), or else the closing line that
// sums the turn up (not with --quiet or --json; with --quiet a stop
// reason that fails the command still gets its line).
func (o *askOutput) closing(res *protocol.QueryResult, failure string, byStopReason bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.endLineLocked()
	summarise := res != nil && !o.quiet && !o.json
	if summarise {
		fmt.Fprintln(o.stderr, closingLine(res))
	}
	if failure != "" && !(summarise && byStopReason) {
		fmt.Fprintf(o.stderr, "tether: %s\n", failure)
	}
}

// closingLine sums a turn up as the Neovim plugin does:
//
//	[end_turn · 12 in, 6 out tokens · $0.0123 · 840 ms]
//
// with tokens and cost where the backend reports them.
func closingLine(res *protocol.QueryResult) string {
	parts := []string{res.StopReason}
	if u := res.Usage; u.InputTokens != 0 || u.OutputTokens != 0 {
		parts = append(parts, fmt.Sprintf("%d in, %d out tokens", u.InputTokens, u.OutputTokens))
	}
	if c := res.CostUSD; c > 0 {
		if c < 1 {
			parts = append(parts, fmt.Sprintf("$%.4f", c))
		} else {
			parts = append(parts, fmt.Sprintf("$%.2f", c))
		}
	}
	parts = append(parts, duration(time.Duration(res.DurationMs)*time.Millisecond))
	return "[" + strings.Join(parts, " · ") + "]"
}

// duration formats a turn's duration: 840 ms, 2.4 s, 3m05s.
func duration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	sec := int(d / time.Second)
	return fmt.Sprintf("%dm%02ds", sec/60, sec%60)
}

// interrupted says the turn is being cancelled, on a line and in the
// spinner.
func (o *askOutput) interrupted() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.spin != nil {
		o.spin.cancelling = true
	}
	o.lineLocked("[interrupted: cancelling; interrupt again to force]")
}

// forceExit ends the process at once, on a second interrupt: the terminal
// is put back first, since nothing else will run.
func (o *askOutput) forceExit() {
	if o.restoreTerminal != nil {
		o.restoreTerminal()
	}
	o.mu.Lock()
	o.endLineLocked()
	fmt.Fprintln(o.stderr, "tether: interrupted twice: exiting without waiting for the backends")
	o.mu.Unlock()
	os.Exit(askInterrupted)
}

// prompt writes a question to stderr without ending the line; the spinner
// waits until it is answered.
func (o *askOutput) prompt(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.endLineLocked()
	if o.spin != nil {
		o.spin.held = true
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
	if o.spin != nil {
		o.spin.held = false
	}
}
