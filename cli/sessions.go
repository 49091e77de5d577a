package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/internal/storeflags"
	"github.com/tether-dev/tether/internal/term"
	"github.com/tether-dev/tether/sessions"
)

const sessionsHelp = `Usage: tether sessions [flags]
       tether sessions show [flags] ID
       tether sessions rm [flags] ID...

Lists the sessions in the session store, newest first: their id, title
(the first line of the first prompt), backend, directory, when they were
last used and how many turns they had; as a table, or with --json as one
JSON object per line. show prints a session's conversation; rm deletes
sessions (not the claude CLI's own transcripts), and refuses one that
another Tether process runs. Any session listed can be continued: a
session/query or session/load naming it, or tether ask --session ID.

Flags:
`

// runSessions is `tether sessions`: the stored sessions, read through a
// Registry with the store and no backends, so that they are described,
// replayed and deleted exactly as the dialects do it.
func runSessions(args []string, std Stdio) int {
	sub := "list"
	if len(args) > 0 && (args[0] == "show" || args[0] == "rm") {
		sub, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("tether sessions", flag.ContinueOnError)
	fs.SetOutput(std.Err)
	fs.Usage = func() {}
	var sf storeflags.Flags
	storeflags.RegisterStateDir(fs, &sf)
	jsonOut := fs.Bool("json", false, "list as JSON lines, one object per session")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(std.Out, sessionsHelp)
			fs.SetOutput(std.Out)
			fs.PrintDefaults()
			return exitOK
		}
		fmt.Fprintln(std.Err, "Run tether sessions --help for the flags.")
		return exitUsage
	}
	switch {
	case sub == "list" && fs.NArg() > 0:
		return usageError(std, fmt.Sprintf("tether sessions: unexpected argument %q (show ID, or rm ID...)", fs.Arg(0)))
	case sub == "show" && fs.NArg() != 1:
		return usageError(std, "tether sessions show takes one session id")
	case sub == "rm" && fs.NArg() == 0:
		return usageError(std, "tether sessions rm takes the ids of the sessions to delete")
	}

	path, err := sf.Path()
	if err != nil {
		fmt.Fprintf(std.Err, "tether: %v\n", err)
		return 1
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && sub == "list" {
		return exitOK // no store yet, so no session: nothing to make a file for
	}
	log := slog.New(slog.NewTextHandler(std.Err, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := sf.OpenRequired(log)
	if err != nil {
		fmt.Fprintf(std.Err, "tether: %v\n", err)
		return 1
	}
	defer st.Close()
	reg := sessions.NewRegistry(sessions.Config{Store: st, Log: log})
	defer reg.Shutdown(context.Background())

	switch sub {
	case "show":
		return showSession(reg, fs.Arg(0), std)
	case "rm":
		return removeSessions(reg, fs.Args(), std)
	}
	return listSessions(reg, *jsonOut, std)
}

// listSessions prints every stored session, newest first.
func listSessions(reg *sessions.Registry, jsonOut bool, std Stdio) int {
	var all []sessions.Info
	for q := (sessions.ListQuery{Limit: 500}); ; {
		page, err := reg.ListSessions(q)
		if err != nil {
			fmt.Fprintf(std.Err, "tether: %v\n", err)
			return 1
		}
		all = append(all, page.Sessions...)
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	if jsonOut {
		enc := json.NewEncoder(std.Out)
		for _, s := range all {
			if err := enc.Encode(jsonSession(s)); err != nil {
				return 1
			}
		}
		return exitOK
	}
	if len(all) == 0 {
		if isTerminal(std.Out) {
			fmt.Fprintln(std.Err, "No stored sessions.")
		}
		return exitOK
	}
	w := tabwriter.NewWriter(std.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tTITLE\tBACKEND\tCWD\tUPDATED\tTURNS")
	for _, s := range all {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\n", s.SessionID, cell(s.Title, 48), s.Backend, dirCell(s.Cwd, 40),
			s.UpdatedAt.Local().Format("2006-01-02 15:04"), s.Turns)
	}
	w.Flush()
	return exitOK
}

// sessionLine is one line of tether sessions --json.
type sessionLine struct {
	SessionID        string  `json:"sessionId"`
	Title            string  `json:"title"`
	Backend          string  `json:"backend"`
	Model            string  `json:"model,omitempty"`
	Mode             string  `json:"mode,omitempty"`
	Cwd              string  `json:"cwd"`
	CreatedAt        string  `json:"createdAt"`
	UpdatedAt        string  `json:"updatedAt"`
	Turns            int     `json:"turns"`
	InputTokens      int64   `json:"inputTokens"`
	OutputTokens     int64   `json:"outputTokens"`
	CostUSD          float64 `json:"costUsd,omitempty"`
	BackendSessionID string  `json:"backendSessionId,omitempty"`
}

func jsonSession(s sessions.Info) sessionLine {
	return sessionLine{
		SessionID: s.SessionID, Title: s.Title, Backend: s.Backend, Model: s.Model, Mode: s.Mode, Cwd: s.Cwd,
		CreatedAt: s.CreatedAt.Format(time.RFC3339Nano), UpdatedAt: s.UpdatedAt.Format(time.RFC3339Nano),
		Turns: s.Turns, InputTokens: s.Usage.InputTokens, OutputTokens: s.Usage.OutputTokens,
		CostUSD: s.CostUSD, BackendSessionID: s.ResumeHandle,
	}
}

// cell cuts s to n runes for a table cell, and keeps it on one line.
func cell(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "-"
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// dirCell shows a directory in n runes at most: under the home directory
// as ~/..., and cut at the front, since its end says most.
func dirCell(dir string, n int) string {
	if home, err := os.UserHomeDir(); err == nil && home != "/" {
		if rest, ok := strings.CutPrefix(dir, home); ok && (rest == "" || rest[0] == '/') {
			dir = "~" + rest
		}
	}
	if r := []rune(dir); len(r) > n {
		return "…" + string(r[len(r)-n+1:])
	}
	return dir
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(f)
}

// showSession prints a session's conversation as a person reads it.
func showSession(reg *sessions.Registry, id string, std Stdio) int {
	t := &transcript{w: std.Out}
	info, err := reg.Replay(context.Background(), id, t)
	if errors.Is(err, sessions.ErrNotFound) {
		fmt.Fprintf(std.Err, "tether: no stored session %q (tether sessions lists them)\n", id)
		return 1
	}
	if err != nil {
		fmt.Fprintf(std.Err, "tether: %v\n", err)
		return 1
	}
	fmt.Fprintf(std.Out, "\nSession %s · %s · %s · %d turns · %d in, %d out tokens", info.SessionID, info.Backend, info.Cwd,
		info.Turns, info.Usage.InputTokens, info.Usage.OutputTokens)
	if info.CostUSD > 0 {
		fmt.Fprintf(std.Out, " · $%.4f", info.CostUSD)
	}
	fmt.Fprintln(std.Out)
	return exitOK
}

// transcript writes a replayed conversation: each prompt quoted, the
// agent's text as it is, the rest as bracketed lines (tether ask's).
type transcript struct {
	w       io.Writer
	midLine bool // the agent's text did not end its line
}

func (t *transcript) line(format string, args ...any) {
	if t.midLine {
		fmt.Fprintln(t.w)
		t.midLine = false
	}
	fmt.Fprintf(t.w, format+"\n", args...)
}

func (t *transcript) TurnStarted(turn sessions.StoredTurn) {
	if turn.Seq > 1 {
		t.line("")
	}
	t.line("── %d · %s", turn.Seq, turn.StartedAt.Local().Format("2006-01-02 15:04:05"))
	for _, l := range strings.Split(backends.PromptText(turn.Prompt), "\n") {
		t.line("> %s", l)
	}
	t.line("")
}

func (t *transcript) Token(text string) {
	fmt.Fprint(t.w, text)
	t.midLine = !strings.HasSuffix(text, "\n")
}

func (t *transcript) Thinking(text string) { t.line("[thinking] %s", text) }

func (t *transcript) ToolUse(u backends.ToolUse) {
	title := u.Title
	if title == "" || title == u.Name {
		title = string(u.Input)
	}
	t.line("[tool] %s %s", u.Name, title)
}

func (t *transcript) ToolResult(r backends.ToolResult) {
	if r.IsError {
		t.line("[tool failed] %s", r.Summary)
		return
	}
	t.line("[tool done] %s", r.Summary)
}

func (t *transcript) Permission(d sessions.Decision) {
	switch {
	case d.Allow && d.Rule != "":
		t.line("[permission] %s allowed, always: %s", d.Tool, d.Rule)
	case d.Allow:
		t.line("[permission] %s allowed", d.Tool)
	case d.Reason != "":
		t.line("[permission] %s denied: %s", d.Tool, d.Reason)
	default:
		t.line("[permission] %s denied", d.Tool)
	}
}

func (t *transcript) TurnEnded(turn sessions.StoredTurn) {
	switch {
	case turn.EndedAt.IsZero():
		t.line("[no end: Tether stopped during this turn, or it still runs]")
	case turn.Error != "":
		t.line("[error · %s]", turn.Error)
	default:
		t.line("[%s · %d in, %d out tokens]", turn.StopReason, turn.Usage.InputTokens, turn.Usage.OutputTokens)
	}
}

// removeSessions deletes the sessions ids; it goes on past one it cannot
// delete, and fails if any could not be.
func removeSessions(reg *sessions.Registry, ids []string, std Stdio) int {
	code := exitOK
	for _, id := range ids {
		done := make(chan struct{})
		reg.Delete(id, func(deleted bool, err error) {
			defer close(done)
			switch {
			case err != nil:
				fmt.Fprintf(std.Err, "tether: %v\n", err)
				code = 1
			case !deleted:
				fmt.Fprintf(std.Err, "tether: no stored session %q\n", id)
				code = 1
			}
		})
		<-done
	}
	return code
}
