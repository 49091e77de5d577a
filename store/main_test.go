package store_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tether-dev/tether/store"
)

// Tests that need more than one process re-execute this test binary with
// roleEnv naming what the child does (a helper process, as in go-sdk's
// cmd_test.go). A child speaks in lines: it writes what it did on stdout and
// waits for the parent's word on stdin.
const (
	roleEnv = "TETHER_STORE_TEST_ROLE"
	pathEnv = "TETHER_STORE_TEST_PATH"
	argEnv  = "TETHER_STORE_TEST_ARG"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role, os.Getenv(pathEnv), os.Getenv(argEnv)))
	}
	// Every test closes what it opens: Close must leave no goroutine.
	goleak.VerifyTestMain(m)
}

// roles are what a child process can do.
var roles = map[string]func(path, arg string, in *bufio.Scanner) error{
	"open":    roleOpen,
	"writer":  roleWriter,
	"holder":  roleHolder,
	"crasher": roleCrasher,
}

// runRole runs a child's role and returns its exit status.
func runRole(role, path, arg string) int {
	fn, ok := roles[role]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown role %q\n", role)
		return 2
	}
	if err := fn(path, arg, bufio.NewScanner(os.Stdin)); err != nil {
		fmt.Fprintf(os.Stderr, "role %s: %v\n", role, err)
		return 1
	}
	return 0
}

// say writes one line for the parent.
func say(format string, args ...any) { fmt.Printf(format+"\n", args...) }

// openResult is what roleOpen reports.
type openResult struct {
	Err      string `json:"err,omitempty"`
	Unusable bool   `json:"unusable,omitempty"`
}

// roleOpen opens the store, reports the outcome as JSON and closes it.
func roleOpen(path, _ string, _ *bufio.Scanner) error {
	st, err := store.Open(path, store.Options{})
	var res openResult
	if err != nil {
		res = openResult{Err: err.Error(), Unusable: isUnusable(err)}
	} else if err := st.Close(); err != nil {
		return err
	}
	out, _ := json.Marshal(res)
	say("%s", out)
	return nil
}

// roleWriter opens the store, says "ready", waits for "go", then writes
// arg sessions named after its pid, each with a turn, a claim and history,
// and says "done".
func roleWriter(path, arg string, in *bufio.Scanner) error {
	n, err := strconv.Atoi(arg)
	if err != nil {
		return err
	}
	st, err := store.Open(path, store.Options{FlushInterval: time.Millisecond})
	if err != nil {
		return err
	}
	defer st.Close()
	say("ready")
	if !in.Scan() || in.Text() != "go" {
		return errors.New("no go")
	}
	for i := range n {
		id := fmt.Sprintf("p%d-%d", os.Getpid(), i)
		if err := writeProcessSession(st, id); err != nil {
			return err
		}
	}
	if err := st.Flush(context.Background()); err != nil {
		return err
	}
	if st.WriteErrors() != 0 {
		return fmt.Errorf("%d write errors", st.WriteErrors())
	}
	say("done")
	return nil
}

// writeProcessSession writes what checkProcessSession expects.
func writeProcessSession(st *store.Store, id string) error {
	if err := st.UpsertSession(store.Session{ID: id, Backend: "mock", Cwd: "/multi"}); err != nil {
		return err
	}
	if err := st.Claim(id); err != nil {
		return err
	}
	r := st.BeginTurn(id, prompt("go "+id), "go "+id)
	for range 50 {
		r.Text("tok ")
	}
	r.ToolUse(store.ToolUse{ID: "t-" + id, Name: "Read", Input: json.RawMessage(`{}`)})
	r.ToolResult(store.ToolResult{ID: "t-" + id, Name: "Read", Summary: "ok"})
	r.End(store.TurnEnd{StopReason: "end_turn", Usage: store.Usage{OutputTokens: 50}})
	return st.AppendHistory(id, json.RawMessage(`{"role":"user","content":"`+id+`"}`))
}

// roleHolder claims session arg, says "claimed", and holds it until stdin
// ends; then it closes the store, which releases the claim.
func roleHolder(path, arg string, in *bufio.Scanner) error {
	st, err := store.Open(path, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Claim(arg); err != nil {
		return err
	}
	say("claimed")
	for in.Scan() {
	}
	return nil
}

// roleCrasher records a turn, has the writer commit part of it, says
// "flushed", records more that it never flushes, and waits to be killed.
func roleCrasher(path, _ string, in *bufio.Scanner) error {
	st, err := store.Open(path, store.Options{FlushInterval: time.Hour})
	if err != nil {
		return err
	}
	if err := st.UpsertSession(store.Session{ID: "c", Backend: "mock"}); err != nil {
		return err
	}
	r := st.BeginTurn("c", prompt("crash"), "crash")
	r.Text("committed ")
	r.Text("text")
	r.ToolUse(store.ToolUse{ID: "t", Name: "Bash", Input: json.RawMessage(`{"command":"ls"}`)})
	if err := st.Flush(context.Background()); err != nil {
		return err
	}
	r.Text("the tail a crash loses")
	say("flushed")
	for in.Scan() {
	}
	return errors.New("not killed")
}

// isUnusable reports whether err wraps store.ErrUnusable.
func isUnusable(err error) bool { return errors.Is(err, store.ErrUnusable) }
