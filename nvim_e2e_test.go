package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nvimTimeout bounds one Neovim run; the scripts bound each of their own
// waits at 15 s, so reaching it means Neovim itself hung.
const nvimTimeout = 90 * time.Second

// TestNeovimPlugin runs the Neovim plugin in editors/nvim, in a headless
// Neovim, against the real binary on the mock backend: one Neovim per Lua
// script under editors/nvim/test. Each script asserts what the plugin shows
// and sends, and exits non-zero on failure; this test then checks that no
// Tether process outlived Neovim.
func TestNeovimPlugin(t *testing.T) {
	nvim, err := exec.LookPath("nvim")
	if err != nil {
		missingInCI(t, "nvim not found: install Neovim (apt-get install neovim; scripts/test.sh does when run as root) to run the Neovim plugin's end-to-end tests")
	}
	bin := tetherBinary(t)

	root, err := filepath.Abs(filepath.Join("editors", "nvim"))
	if err != nil {
		t.Fatal(err)
	}
	for _, script := range []string{"stream", "progress", "permission", "cancel", "flood", "crash", "leave"} {
		t.Run(script, func(t *testing.T) {
			runNvimScript(t, nvim, bin, root, script)
		})
	}
}

// runNvimScript runs editors/nvim/test/NAME.lua in a headless Neovim with a
// private config, data and cache directory, and fails with Neovim's output
// and Tether's trace log if the script fails or a Tether process remains.
func runNvimScript(t *testing.T, nvim, bin, root, name string) {
	home := t.TempDir()
	trace := filepath.Join(home, "tether-trace.log")
	ctx, cancel := context.WithTimeout(context.Background(), nvimTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, nvim, "--headless", "-u", "NONE", "-i", "NONE",
		"-c", "luafile "+filepath.ToSlash(filepath.Join("editors", "nvim", "test", name+".lua")))
	cmd.Env = append(os.Environ(),
		"TETHER_BIN="+bin,
		"TETHER_NVIM_ROOT="+root,
		"TETHER_TRACE_LOG="+trace,
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"),
		"XDG_DATA_HOME="+filepath.Join(home, "data"),
		"XDG_CACHE_HOME="+filepath.Join(home, "cache"),
		"XDG_STATE_HOME="+filepath.Join(home, "state"),
		// The run's own session store: TestMain's is shared.
		"TETHER_STATE_DIR="+filepath.Join(home, "state", "tether"),
	)
	// Neovim and whatever it starts share a process group, so that a hung
	// run is ended whole.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr

	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)

	report := func() string {
		log, _ := os.ReadFile(trace)
		return "nvim stdout:\n" + stdout.String() + "\nnvim stderr:\n" + stderr.String() +
			"\ntether log (" + trace + "):\n" + tail(string(log), 60)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s.lua: Neovim still running after %v; killed\n%s", name, nvimTimeout, report())
	}
	if err != nil {
		t.Fatalf("%s.lua failed: %v\n%s", name, err, report())
	}
	if !strings.Contains(stdout.String(), "PASS") {
		t.Fatalf("%s.lua exited without PASS\n%s", name, report())
	}
	t.Logf("%s.lua passed; Neovim ran %v", name, took.Round(time.Millisecond))
	sc := bufio.NewScanner(strings.NewReader(stdout.String()))
	for sc.Scan() {
		if m, ok := strings.CutPrefix(sc.Text(), "METRIC "); ok {
			t.Logf("  %s", m)
		}
	}

	if left := processesOf(t, bin); len(left) > 0 {
		for _, p := range left {
			_ = p.Kill()
		}
		t.Fatalf("%s.lua: %d Tether process(es) still running after Neovim exited\n%s", name, len(left), report())
	}
}

// processesOf lists the live processes running the binary bin (Linux: from
// /proc; zombies have no exe link and are not listed).
func processesOf(t *testing.T, bin string) []*os.Process {
	t.Helper()
	if runtime.GOOS != "linux" {
		return nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Logf("cannot list processes: %v", err)
		return nil
	}
	var found []*os.Process
	for _, e := range entries {
		pid := 0
		for _, c := range e.Name() {
			if c < '0' || c > '9' {
				pid = -1
				break
			}
			pid = pid*10 + int(c-'0')
		}
		if pid <= 0 {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || strings.TrimSuffix(exe, " (deleted)") != bin {
			continue
		}
		if p, err := os.FindProcess(pid); err == nil {
			found = append(found, p)
		}
	}
	return found
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
