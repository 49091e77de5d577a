package claude

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The fake CLI is this test binary re-executed: when fakeScriptEnv names a
// scenario file from testdata/claude, TestMain plays it instead of running
// the tests. A scenario is a script, one step per line:
//
//	{...}                 write the line to stdout ($SID → the session id)
//	raw TEXT              write TEXT as a line, as is (not JSON, broken JSON)
//	await KIND            read stdin until KIND arrives: initialize, interrupt,
//	                      set_model, set_permission_mode (answered with
//	                      success), user (a prompt), permission (the answer to
//	                      a can_use_tool), error_reply (an error response)
//	if allow|deny {...}   write the line only if the last permission answer was
//	                      that
//	stderr TEXT           write TEXT to stderr
//	exit N                exit with status N
//	hugeline N            write a text delta of N bytes
//	crash-once N          exit with status N, the first time only
//	ignore-sigterm        ignore SIGTERM from now on
//	grandchild            start a process in the same group that sleeps forever
//	                      holding stdout open, its pid written to grandchild.pid
//	hang                  stop responding for good
//	[resume]              the steps after it are played instead of those
//	                      before it when the CLI was started with --resume
//	[loop]                the steps after it are played over and over, until
//	                      stdin ends (benchmarks: one turn per prompt)
//	pace DURATION         from now on, wait DURATION after each line written,
//	                      spinning (a model streaming at its pace)
//
// At the end of the script the fake waits for the end of stdin, as the real
// CLI does. It records what it sees in fakeDirEnv: starts.jsonl (argv, cwd,
// environment), requests.jsonl (control requests), responses.jsonl (control
// responses), prompts.jsonl.
const (
	fakeScriptEnv  = "TETHER_FAKE_CLAUDE_SCRIPT"
	fakeDirEnv     = "TETHER_FAKE_CLAUDE_DIR"
	fakeSleeperEnv = "TETHER_FAKE_CLAUDE_SLEEPER"
)

// usedScenarios records which scenarios the tests played, so TestMain can
// fail the run when a fixture is never used.
var usedScenarios sync.Map

func TestMain(m *testing.M) {
	if os.Getenv(fakeSleeperEnv) != "" {
		signal.Ignore(syscall.SIGTERM)
		for {
			time.Sleep(time.Hour)
		}
	}
	if script := os.Getenv(fakeScriptEnv); script != "" {
		os.Exit(runFakeCLI(script))
	}
	if cli := os.Getenv(tapCLIEnv); cli != "" {
		os.Exit(runStdoutTap(cli, os.Getenv(tapFileEnv)))
	}
	code := m.Run()
	if code == 0 && !testing.Short() && flagRunAll() {
		all, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "claude", "*.jsonl"))
		for _, f := range all {
			if _, ok := usedScenarios.Load(strings.TrimSuffix(filepath.Base(f), ".jsonl")); !ok {
				fmt.Fprintf(os.Stderr, "scenario %s is never played by a test\n", f)
				code = 1
			}
		}
	}
	os.Exit(code)
}

// flagRunAll reports whether the whole suite ran (no -run filter), the only
// case in which every scenario must have been used.
func flagRunAll() bool {
	f := flag.Lookup("test.run")
	return f == nil || f.Value.String() == ""
}

type fakeCLI struct {
	in        *bufio.Reader
	out       *bufio.Writer
	dir       string
	sessionID string
	decision  string // "allow" or "deny", the last permission answer
	pace      time.Duration
}

func runFakeCLI(scriptPath string) int {
	script, err := os.ReadFile(scriptPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake claude:", err)
		return 2
	}
	f := &fakeCLI{
		in:        bufio.NewReader(os.Stdin),
		out:       bufio.NewWriter(os.Stdout),
		dir:       os.Getenv(fakeDirEnv),
		sessionID: "fake-session-1",
	}
	fresh, resumed, _ := strings.Cut(string(script), "[resume]\n")
	steps := fresh
	for _, a := range os.Args[1:] {
		if id, ok := strings.CutPrefix(a, "--resume="); ok {
			f.sessionID, steps = id, resumed
		}
	}
	cwd, _ := os.Getwd()
	_, claudecode := os.LookupEnv("CLAUDECODE")
	f.record("starts.jsonl", map[string]any{
		"args": os.Args[1:], "cwd": cwd, "pid": os.Getpid(),
		"entrypoint": os.Getenv("CLAUDE_CODE_ENTRYPOINT"), "claudecode": claudecode,
	})
	steps, loop, looping := strings.Cut(steps, "[loop]\n")
	for _, step := range strings.Split(steps, "\n") {
		if code, done := f.step(strings.TrimSpace(step)); done {
			return code
		}
	}
	for looping {
		for _, step := range strings.Split(loop, "\n") {
			if code, done := f.step(strings.TrimSpace(step)); done {
				return code
			}
		}
	}
	f.await("eof")
	return 0
}

// step plays one line of the script; done means exit with code.
func (f *fakeCLI) step(step string) (code int, done bool) {
	defer f.out.Flush()
	verb, arg, _ := strings.Cut(step, " ")
	switch {
	case step == "" || strings.HasPrefix(step, "#"):
	case strings.HasPrefix(step, "{"):
		f.emit(step)
	case verb == "raw":
		f.emit(arg)
	case verb == "await":
		if !f.await(arg) {
			return 0, true // stdin ended: exit like the real CLI
		}
	case verb == "if":
		want, line, _ := strings.Cut(arg, " ")
		if want == f.decision {
			f.emit(line)
		}
	case verb == "stderr":
		fmt.Fprintln(os.Stderr, arg)
	case verb == "exit":
		n, _ := strconv.Atoi(arg)
		return n, true
	case verb == "hugeline":
		n, _ := strconv.Atoi(arg)
		f.emit(`{"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"` +
			strings.Repeat("x", n) + `"}},"session_id":"$SID","parent_tool_use_id":null}`)
	case verb == "crash-once":
		// Exit the first time any start of this run gets here.
		marker := filepath.Join(f.dir, "crashed-once")
		if _, err := os.Stat(marker); err != nil {
			os.WriteFile(marker, nil, 0o644)
			n, _ := strconv.Atoi(arg)
			return n, true
		}
	case verb == "pace":
		f.pace, _ = time.ParseDuration(arg)
	case verb == "ignore-sigterm":
		signal.Ignore(syscall.SIGTERM)
	case verb == "grandchild":
		exe, _ := os.Executable()
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), fakeSleeperEnv+"=1", fakeScriptEnv+"=")
		cmd.Stdout = os.Stdout // holds the pipe open after the fake exits
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "fake claude: grandchild:", err)
			return 2, true
		}
		os.WriteFile(filepath.Join(f.dir, "grandchild.pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
	case verb == "hang":
		f.out.Flush()
		for {
			time.Sleep(time.Hour)
		}
	default:
		fmt.Fprintf(os.Stderr, "fake claude: unknown step %q\n", step)
		return 2, true
	}
	return 0, false
}

func (f *fakeCLI) emit(line string) {
	f.out.WriteString(strings.ReplaceAll(line, "$SID", f.sessionID))
	f.out.WriteByte('\n')
	if f.pace > 0 {
		f.out.Flush()
		// Spin: a sleep this short takes a millisecond on some machines.
		for end := time.Now().Add(f.pace); time.Now().Before(end); {
		}
	}
}

// await reads stdin until kind arrives; false means stdin ended first.
func (f *fakeCLI) await(kind string) bool {
	f.out.Flush()
	for {
		line, err := f.in.ReadBytes('\n')
		if len(strings.TrimSpace(string(line))) == 0 && err != nil {
			return false
		}
		var m struct {
			Type      string `json:"type"`
			RequestID string `json:"request_id"`
			Request   struct {
				Subtype string `json:"subtype"`
			} `json:"request"`
			Response struct {
				Subtype  string `json:"subtype"`
				Response struct {
					Behavior string `json:"behavior"`
				} `json:"response"`
			} `json:"response"`
			Message json.RawMessage `json:"message"`
		}
		if err := json.Unmarshal(line, &m); err != nil {
			fmt.Fprintf(os.Stderr, "Error parsing streaming input line: %s\n", line)
			os.Exit(1)
		}
		switch m.Type {
		case "user":
			f.record("prompts.jsonl", m.Message)
			if kind == "user" {
				return true
			}
		case "control_request":
			f.record("requests.jsonl", json.RawMessage(line))
			if m.Request.Subtype == kind {
				f.emit(fmt.Sprintf(`{"type":"control_response","response":{"subtype":"success","request_id":%q,"response":{}}}`, m.RequestID))
				f.out.Flush()
				return true
			}
		case "control_response":
			f.record("responses.jsonl", json.RawMessage(line))
			switch {
			case kind == "permission" && m.Response.Subtype == "success":
				f.decision = m.Response.Response.Behavior
				return true
			case kind == "error_reply" && m.Response.Subtype == "error":
				return true
			}
		}
	}
}

// record appends v as a JSON line to the named file in the fake's dir.
func (f *fakeCLI) record(name string, v any) {
	if f.dir == "" {
		return
	}
	b, _ := json.Marshal(v)
	fh, err := os.OpenFile(filepath.Join(f.dir, name), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer fh.Close()
	fh.Write(append(b, '\n'))
}

// readRecords reads the JSON lines the fake recorded in dir/name.
func readRecords(t *testing.T, dir, name string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, m)
	}
	return out
}

// stringsOf converts a recorded JSON array of strings.
func stringsOf(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
