//go:build unix

package supervisor

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The fake child is this test binary re-executed with fakeEnv set; TestMain
// plays the scenario named by its first argument instead of running tests:
//
//	lines N            print "line 0" … "line N-1", then "last" without a
//	                   newline; exit at the end of stdin
//	echo               copy stdin to stdout, line by line
//	hugeline N         print a line of N bytes, then "after"; exit at the end
//	                   of stdin
//	stderr N           write N bytes of lines to stderr, then "the last
//	                   stderr line", print "done"; exit at the end of stdin
//	wait-stdin         print "ready"; exit 0 at the end of stdin
//	ignore-stdin       print "ready"; run until a signal ends it
//	ignore-term        ignore SIGTERM, print "ready"; run until SIGKILL
//	exit N             exit with status N
//	spawn MODE THEN    start a grandchild (sleeper), print "grandchild PID"
//	                   and "ready", then THEN (below)
//	sleeper OPT        a grandchild: OPT ignore-term, trap:FILE (on SIGTERM
//	                   write FILE and exit), orphan (exit once re-parented);
//	                   print "ready", run; quiet: ignore SIGTERM, print
//	                   nothing, run
//	flood N            print N protocol-sized lines as fast as it can
//	tetherlike [NOJANITOR|IDLE]
//	                   call Init, start two children with grandchildren
//	                   (one setsid'ed; none when IDLE), print "child PID",
//	                   "grandchild PID" and "janitor PID" lines and "ready";
//	                   run until killed
//
// spawn MODEs: group (same group, ignores SIGTERM), group-trap:FILE,
// group-scrubbed (same group, no marker in its environment), setsid (own
// session, ignores SIGTERM), setsid-scrubbed, hold-stdout (shares our
// stdout, own session), orphan (own session, exits once re-parented).
// THENs: exit, wait-stdin, ignore-all (ignore SIGTERM and stdin).
const fakeEnv = "SUPERVISOR_TEST_FAKE"

func TestMain(m *testing.M) {
	RunJanitorIfAsked()
	if os.Getenv(fakeEnv) != "" {
		os.Exit(runFake(os.Args[1], os.Args[2:]))
	}
	if err := Init(Options{JanitorStderr: os.Stderr}); err != nil {
		fmt.Fprintln(os.Stderr, "supervisor.Init:", err)
	}
	// Before any test, so that its waiter goroutine is no test's leak.
	ensureJanitor()
	os.Exit(m.Run())
}

// fakeConfig is a Config that runs scenario.
func fakeConfig(scenario string, args ...string) Config {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return Config{
		Name: "fake-" + scenario,
		Path: exe,
		Args: append([]string{scenario}, args...),
		// A race-enabled fake would otherwise linger 1 s at exit.
		Env: append(os.Environ(), fakeEnv+"=1", "GORACE=atexit_sleep_ms=0"),
	}
}

func runFake(scenario string, args []string) int {
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	num := func(i int) int {
		n, err := strconv.Atoi(arg(i))
		if err != nil {
			panic(fmt.Sprintf("fake %s: argument %d: %v", scenario, i, err))
		}
		return n
	}
	switch scenario {
	case "lines":
		w := bufio.NewWriter(os.Stdout)
		for i := range num(0) {
			fmt.Fprintf(w, "line %d\n", i)
		}
		w.WriteString("last")
		w.Flush()
		return waitStdin()
	case "echo":
		r := bufio.NewReader(os.Stdin)
		for {
			line, err := r.ReadBytes('\n')
			os.Stdout.Write(line)
			if err != nil {
				return 0
			}
		}
	case "hugeline":
		chunk := bytes.Repeat([]byte{'x'}, 1<<20)
		for n := num(0); n > 0; n -= len(chunk) {
			os.Stdout.Write(chunk[:min(n, len(chunk))])
		}
		os.Stdout.WriteString("\nafter\n")
		return waitStdin()
	case "stderr":
		w := bufio.NewWriter(os.Stderr)
		for i := 0; i < num(0); i += 40 {
			fmt.Fprintf(w, "stderr line %028d\n", i)
		}
		w.WriteString("the last stderr line\n")
		w.Flush()
		fmt.Println("done")
		return waitStdin()
	case "wait-stdin":
		fmt.Println("ready")
		return waitStdin()
	case "ignore-stdin":
		fmt.Println("ready")
		runForever()
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		runForever()
	case "exit":
		return num(0)
	case "spawn":
		return fakeSpawn(arg(0), arg(1))
	case "sleeper":
		return fakeSleeper(arg(0))
	case "flood":
		return fakeFlood(num(0))
	case "tetherlike":
		return fakeTether(arg(0) == "NOJANITOR", arg(0) == "IDLE")
	}
	fmt.Fprintln(os.Stderr, "fake: unknown scenario", scenario)
	return 2
}

func waitStdin() int {
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// runForever keeps a fake alive until a signal ends it.
func runForever() {
	for {
		time.Sleep(time.Hour)
	}
}

func fakeSpawn(mode, then string) int {
	exe, _ := os.Executable()
	opt := "ignore-term"
	var sys syscall.SysProcAttr
	env := append(os.Environ(), fakeEnv+"=1")
	scrubbed := []string{fakeEnv + "=1"}
	handshake := true
	switch {
	case mode == "group":
	case strings.HasPrefix(mode, "group-trap:"):
		opt = "trap:" + strings.TrimPrefix(mode, "group-trap:")
	case mode == "group-scrubbed":
		env = scrubbed
	case mode == "setsid":
		sys.Setsid = true
	case mode == "setsid-scrubbed":
		sys.Setsid, env = true, scrubbed
	case mode == "hold-stdout":
		// Quiet: its lines would mix with ours on the shared stdout.
		sys.Setsid, opt, handshake = true, "quiet", false
	case mode == "orphan":
		sys.Setsid, opt = true, "orphan"
	default:
		fmt.Fprintln(os.Stderr, "fake spawn: unknown mode", mode)
		return 2
	}
	gc := exec.Command(exe, "sleeper", opt)
	gc.Env, gc.SysProcAttr = env, &sys
	var ready io.Reader
	if handshake {
		out, err := gc.StdoutPipe()
		if err != nil {
			panic(err)
		}
		ready = out
	} else {
		gc.Stdout = os.Stdout
	}
	if err := gc.Start(); err != nil {
		panic(err)
	}
	if handshake {
		// The grandchild's signal setup is in place once it says so.
		if line, _ := bufio.NewReader(ready).ReadString('\n'); line != "ready\n" {
			panic("grandchild did not start: " + line)
		}
	}
	if then == "ignore-all" {
		signal.Ignore(syscall.SIGTERM)
	}
	fmt.Printf("grandchild %d\n", gc.Process.Pid)
	fmt.Println("ready")
	switch then {
	case "exit":
		return 0
	case "wait-stdin":
		return waitStdin()
	}
	runForever()
	return 0
}

func fakeSleeper(opt string) int {
	switch {
	case opt == "ignore-term":
		signal.Ignore(syscall.SIGTERM)
	case opt == "quiet":
		signal.Ignore(syscall.SIGTERM)
		runForever()
	case strings.HasPrefix(opt, "trap:"):
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		go func() {
			<-term
			os.WriteFile(strings.TrimPrefix(opt, "trap:"), []byte("SIGTERM\n"), 0o644)
			os.Exit(0)
		}()
	case opt == "orphan":
		parent := os.Getppid()
		fmt.Println("ready")
		for os.Getppid() == parent {
			time.Sleep(5 * time.Millisecond)
		}
		return 0
	}
	fmt.Println("ready")
	runForever()
	return 0
}

// floodLine is a typical token-path line of the Claude CLI.
const floodLine = `{"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello, world"}},"session_id":"0b9e3a52"}` + "\n"

func fakeFlood(n int) int {
	const perWrite = 512
	buf := bytes.Repeat([]byte(floodLine), perWrite)
	for n > 0 {
		k := min(n, perWrite)
		if _, err := os.Stdout.Write(buf[:k*len(floodLine)]); err != nil {
			return 1
		}
		n -= k
	}
	return 0
}

// fakeTether is a Tether in miniature: Init, then two children with
// grandchildren (none when idle), whose pids it prints; it runs until it is
// killed.
func fakeTether(noJanitor, idle bool) int {
	modes := []string{"group", "setsid"}
	if idle {
		modes = nil
	}
	if err := Init(Options{JanitorStderr: os.Stderr, JanitorGrace: 500 * time.Millisecond, NoJanitor: noJanitor}); err != nil {
		fmt.Fprintln(os.Stderr, "tetherlike: Init:", err)
		return 1
	}
	for _, mode := range modes {
		lines := make(chan string, 16)
		cfg := fakeConfig("spawn", mode, "ignore-all")
		cfg.OnLine = func(line []byte) { lines <- string(line) }
		p, err := Start(cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, "tetherlike:", err)
			return 1
		}
		fmt.Printf("child %d\n", p.Pid())
		for line := range lines {
			if line == "ready" {
				break
			}
			fmt.Println(line) // "grandchild PID"
		}
	}
	if !noJanitor {
		fmt.Printf("janitor %d\n", janitorPid())
	}
	fmt.Println("ready")
	runForever()
	return 0
}
