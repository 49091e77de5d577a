package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestVSCodeClient runs editors/vscode/test/tether.test.ts: the TypeScript
// client of editors/vscode, on the real vscode-jsonrpc, driving a freshly
// built tether binary on its mock backend. The npm packages (vscode-jsonrpc,
// typescript, @types/node) are the ones pinned in testdeps/, which
// scripts/test.sh installs with npm ci.
//
// The TypeScript is compiled by tsc at test time, into a temp dir beside a
// link to testdeps/node_modules (Node 20 cannot run TypeScript itself), so
// the tests also type-check tether.ts and the README's example against the
// library's own declarations.
func TestVSCodeClient(t *testing.T) {
	nodeModules, err := filepath.Abs(filepath.Join("testdeps", "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	tsc := filepath.Join(nodeModules, "typescript", "bin", "tsc")
	for _, p := range []string{tsc, filepath.Join(nodeModules, "vscode-jsonrpc", "package.json"), filepath.Join(nodeModules, "@types", "node")} {
		if _, err := os.Stat(p); err != nil {
			vscodeMissing(t, "run `npm ci --prefix testdeps` (scripts/test.sh does): %v", err)
		}
	}
	node, err := exec.LookPath("node")
	if err != nil {
		vscodeMissing(t, "node is not on PATH: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	run := func(what, dir string, env []string, name string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		// The run's own session store: TestMain's is shared.
		cmd.Env = append(append(os.Environ(), "TETHER_STATE_DIR="+filepath.Join(tmp, "state")), env...)
		cmd.WaitDelay = 10 * time.Second
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", what, err, out)
		}
		return string(out)
	}

	start := time.Now()
	bin := tetherBinary(t)
	built := time.Since(start)

	// The sources, laid out as tsc and node will find them: src/tether.ts,
	// src/test/tether.test.ts, src/exampleN.ts (the README examples), and
	// node_modules → testdeps/node_modules.
	src := filepath.Join(tmp, "src")
	vscodeCopy(t, filepath.Join("editors", "vscode", "tether.ts"), filepath.Join(src, "tether.ts"))
	vscodeCopy(t, filepath.Join("editors", "vscode", "test", "tether.test.ts"), filepath.Join(src, "test", "tether.test.ts"))
	examples := vscodeExamples(t)
	sources := []string{filepath.Join("src", "tether.ts"), filepath.Join("src", "test", "tether.test.ts")}
	var compiledExamples []string
	for i, ex := range examples {
		name := fmt.Sprintf("example%d", i+1)
		vscodeWrite(t, filepath.Join(src, name+".ts"), ex)
		sources = append(sources, filepath.Join("src", name+".ts"))
		compiledExamples = append(compiledExamples, filepath.Join(tmp, "out", name+".js"))
	}
	if err := os.Symlink(nodeModules, filepath.Join(tmp, "node_modules")); err != nil {
		t.Fatal(err)
	}

	start = time.Now()
	run("tsc", tmp, nil, node, append([]string{tsc, "--strict", "--noUnusedLocals", "--target", "es2022",
		"--module", "node16", "--moduleResolution", "node16", "--types", "node",
		"--rootDir", "src", "--outDir", "out"}, sources...)...)
	compiled := time.Since(start)

	start = time.Now()
	out := run("node --test", tmp, []string{
		"TETHER_BIN=" + bin,
		"TETHER_README_EXAMPLES=" + strings.Join(compiledExamples, string(os.PathListSeparator)),
		"NODE_PATH=" + nodeModules,
	}, node, "--test", "--test-reporter=tap", filepath.Join("out", "test", "tether.test.js"))
	ran := time.Since(start)

	// node exited 0; make sure it ran the tests rather than none.
	counts := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^# (tests|pass|fail|skipped|skip|todo|cancelled) (\d+)$`).FindAllStringSubmatch(out, -1) {
		counts[m[1]] = m[2]
	}
	if counts["pass"] == "" || counts["pass"] == "0" || counts["pass"] != counts["tests"] {
		t.Fatalf("node --test passed %q of %q tests:\n%s", counts["pass"], counts["tests"], out)
	}
	t.Logf("vscode-jsonrpc client: %s of %s node tests passed; go build %v, tsc %v, node --test %v",
		counts["pass"], counts["tests"], built.Round(time.Millisecond), compiled.Round(time.Millisecond), ran.Round(time.Millisecond))
	if testing.Verbose() {
		t.Log(strings.TrimSpace(out))
	}
}

// vscodeExamples returns the TypeScript examples the docs promise work as
// written: the first ```ts block of editors/vscode/README.md, and the one of
// the "Use it from VS Code" section of README.md, each once.
func vscodeExamples(t *testing.T) [][]byte {
	t.Helper()
	block := regexp.MustCompile("(?s)```ts\n(.*?)```")
	first := func(path, section string) []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		if section != "" {
			i := bytes.Index(b, []byte(section))
			if i < 0 {
				return nil
			}
			b = b[i+len(section):]
			if j := bytes.Index(b, []byte("\n## ")); j >= 0 {
				b = b[:j]
			}
		}
		if m := block.FindSubmatch(b); m != nil {
			return m[1]
		}
		return nil
	}
	own := first(filepath.Join("editors", "vscode", "README.md"), "")
	if own == nil {
		t.Fatal("editors/vscode/README.md has no ```ts example")
	}
	examples := [][]byte{own}
	readme := first("README.md", "## Use it from VS Code")
	if readme == nil {
		t.Fatal(`README.md's "Use it from VS Code" section has no ` + "```ts example")
	}
	if !bytes.Equal(readme, own) {
		examples = append(examples, readme)
	}
	return examples
}

// vscodeMissing skips the test when what it needs is not installed, and
// fails it under CI, where scripts/test.sh installs everything.
func vscodeMissing(t *testing.T, format string, args ...any) {
	t.Helper()
	missingInCI(t, fmt.Sprintf("vscode-jsonrpc end-to-end test: "+format, args...))
}

func vscodeCopy(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	vscodeWrite(t, to, b)
}

func vscodeWrite(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
