package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/cli"
	"github.com/tether-dev/tether/store"
)

var updateTranscripts = flag.Bool("update", false, "rewrite the server and exit sections of testdata/transcripts/*.txtar from what Tether writes")

// Conformance transcripts, testdata/transcripts/*.txtar: each pins one
// behaviour of a dialect on the wire. A prose header says what; then
//
//	-- args --    the command line after `tether` (`acp ...` for ACP)
//	-- client --  what the client does, one line at a time
//	-- server --  every line Tether writes, in order, normalised
//	-- exit --    Tether's exit code once its input has ended
//
// A client line is sent as it is (so it may be malformed on purpose),
// except:
//
//	# text            a comment
//	@wait METHOD      wait for the next message with METHOD not waited for yet
//	@response ID      wait for the response to ID (as on the wire: 3, "tether-1")
//	@until TEXT       wait for a line with TEXT (normalised) among those not read yet
//
// and $CWD and $UUIDn in it are replaced as below. After the last line
// the client closes Tether's input and reads to the end.
//
// Tether's lines are normalised so a run can be compared with another:
// the working directory becomes $CWD, each UUID $UUIDn (n counting from 1
// in order of first appearance, so a client line may name it), durations
// $MS and timestamps $TIME. How many session/token (or session/thinking)
// notifications a query's text comes in depends on how fast the client
// reads (Tether merges the texts that wait), so consecutive ones of one
// query are compared merged, on both sides (mergeTexts). Each transcript
// is replayed in-process (cli.Main on pipes) and against the built binary;
// -update rewrites the server and exit sections from the in-process run.
func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/transcripts/*.txtar")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		file, err := filepath.Abs(file)
		require.NoError(t, err)
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			a := parseTxtar(data)
			args := strings.Fields(a.section("args"))
			client := a.section("client")
			require.NotEmpty(t, client, "%s has no client section", file)

			t.Run("in-process", func(t *testing.T) {
				lines, code := replayInProcess(t, args, client)
				got, gotExit := strings.Join(lines, "\n")+"\n", strconv.Itoa(code)+"\n"
				if *updateTranscripts {
					a.set("server", got)
					a.set("exit", gotExit)
					require.NoError(t, os.WriteFile(file, a.format(), 0o644))
					return
				}
				assert.Equal(t, mergeTexts(t, a.section("server")), mergeTexts(t, got), "the server's lines")
				assert.Equal(t, a.section("exit"), gotExit, "the exit code")
			})
			t.Run("binary", func(t *testing.T) {
				lines, code := replayBinary(t, args, client)
				assert.Equal(t, mergeTexts(t, a.section("server")), mergeTexts(t, strings.Join(lines, "\n")+"\n"), "the server's lines")
				assert.Equal(t, a.section("exit"), strconv.Itoa(code)+"\n", "the exit code")
			})
		})
	}
}

// mergeTexts merges each run of consecutive session/token (and
// session/thinking) lines of one session and query, and of ACP's
// agent_message_chunk (and agent_thought_chunk) updates of one session,
// into one line, whose text is their texts' concatenation, encoded as
// Tether encodes it: how many notifications a text took depends on how
// fast the client read.
func mergeTexts(t *testing.T, server string) string {
	var out []string
	lastKey, lastText, lastTail := "", "", ""
	flush := func() {
		if lastKey != "" {
			var text bytes.Buffer
			enc := json.NewEncoder(&text)
			enc.SetEscapeHTML(false)
			require.NoError(t, enc.Encode(lastText))
			out = append(out, lastKey+strings.TrimSuffix(text.String(), "\n")+lastTail)
		}
		lastKey, lastText = "", ""
	}
	for _, line := range strings.Split(strings.TrimSuffix(server, "\n"), "\n") {
		key, quoted, ok := strings.Cut(line, `,"text":`)
		tail := "}}"
		if strings.Contains(key, `"sessionUpdate":"agent_message_chunk"`) || strings.Contains(key, `"sessionUpdate":"agent_thought_chunk"`) {
			tail = "}}}}" // ACP's chunks: the text block inside the update
		}
		isText := ok && strings.HasSuffix(line, tail) &&
			(strings.Contains(key, `"method":"session/token"`) || strings.Contains(key, `"method":"session/thinking"`) || tail == "}}}}")
		var text string
		if isText && json.Unmarshal([]byte(strings.TrimSuffix(quoted, tail)), &text) != nil {
			isText = false
		}
		if !isText {
			flush()
			out = append(out, line)
			continue
		}
		key += `,"text":`
		if tail != lastTail {
			flush()
		}
		lastTail = tail
		if key != lastKey {
			flush()
			lastKey = key
		}
		lastText += text
	}
	flush()
	return strings.Join(out, "\n") + "\n"
}

// replayInProcess runs cli.Main on pipes, in a fresh directory and with
// an environment in which no real agent is found, as the binary runs.
func replayInProcess(t *testing.T, args []string, client string) ([]string, int) {
	cwd := t.TempDir()
	t.Chdir(cwd)
	for _, env := range []string{"OPENAI_API_KEY", "OPENAI_BASE_URL", "TETHER_CLAUDE_PATH"} {
		t.Setenv(env, "")
	}
	t.Setenv(store.EnvStateDir, transcriptStateDir(cwd))
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(args, inR, outW, testWriter{t}, "dev")
		outW.Close()
	}()
	lines := replay(t, cwd, inW, outR, client)
	select {
	case code := <-done:
		return lines, code
	case <-time.After(guard):
		t.Fatalf("tether did not exit within %v", guard)
		return nil, -1
	}
}

// transcriptStateDir is where a replay keeps its session store: in its
// own working directory, so that each replay starts with an empty store
// and the path initialize reports reads $CWD/... in both runs.
func transcriptStateDir(cwd string) string { return filepath.Join(cwd, ".tether-state") }

// replayBinary runs the built binary, and checks it leaves no process
// behind.
func replayBinary(t *testing.T, args []string, client string) ([]string, int) {
	cwd := t.TempDir()
	mark := "TETHER_TRANSCRIPT=" + strconv.Itoa(os.Getpid()) + "-" + filepath.Base(cwd)
	cmd := exec.Command(tetherBinary(t), args...)
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=/usr/bin:/bin", mark, store.EnvStateDir + "=" + transcriptStateDir(cwd)}
	cmd.Dir = cwd
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	waited := make(chan error, 1)
	t.Cleanup(func() {
		select {
		case <-waited:
		default:
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	lines := replay(t, cwd, stdin, stdout, client)
	go func() { waited <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-waited:
		waited <- werr
	case <-time.After(guard):
		t.Fatalf("tether did not exit within %v; stderr:\n%s", guard, stderr.String())
	}
	code := 0
	if exit, ok := werr.(*exec.ExitError); ok {
		code = exit.ExitCode()
	} else {
		require.NoError(t, werr)
	}
	assert.Empty(t, processesWith(mark), "processes left behind")
	if t.Failed() {
		t.Logf("stderr:\n%s", stderr.String())
	}
	return lines, code
}

// processesWith lists the processes whose environment holds mark: those
// a Tether started with it set, and their children, that still live.
func processesWith(mark string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, p := range procs {
		env, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if string(kv) == mark {
				out = append(out, p)
			}
		}
	}
	return out
}

// replay plays the client section on in and out, closes in, reads out to
// its end and returns Tether's lines, normalised.
func replay(t *testing.T, cwd string, in io.WriteCloser, out io.Reader, client string) []string {
	n := newNormaliser(cwd)
	msgs := make(chan string, 1<<12)
	go func() {
		defer close(msgs)
		r := bufio.NewReader(out)
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				msgs <- strings.TrimRight(line, "\n")
			}
			if err != nil {
				return
			}
		}
	}()
	var lines []string
	var seen []message
	next := func(what string) bool {
		select {
		case line, ok := <-msgs:
			if !ok {
				return false
			}
			lines = append(lines, n.normalise(line))
			var m message
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Errorf("tether wrote a line that is not JSON: %q", line)
			}
			seen = append(seen, m)
			return true
		case <-time.After(guard):
			t.Fatalf("waiting for %s: nothing within %v; so far:\n%s", what, guard, strings.Join(lines, "\n"))
			return false
		}
	}
	cursor := map[string]int{} // per method: where the next @wait searches from
	for _, step := range strings.Split(client, "\n") {
		step = strings.TrimSpace(step)
		switch {
		case step == "" || strings.HasPrefix(step, "#"):
		case strings.HasPrefix(step, "@wait "):
			method := strings.TrimSpace(strings.TrimPrefix(step, "@wait "))
			for i := cursor[method]; ; i++ {
				for i >= len(seen) {
					require.True(t, next(method), "tether's output ended before %s", method)
				}
				if seen[i].Method == method {
					cursor[method] = i + 1
					break
				}
			}
		case strings.HasPrefix(step, "@until "):
			text := strings.TrimPrefix(step, "@until ")
			for i := len(seen); ; i++ {
				for i >= len(seen) {
					require.True(t, next(text), "tether's output ended before a line with %s", text)
				}
				if strings.Contains(lines[i], text) {
					break
				}
			}
		case strings.HasPrefix(step, "@response "):
			id := strings.TrimSpace(strings.TrimPrefix(step, "@response "))
			for i := 0; ; i++ {
				for i >= len(seen) {
					require.True(t, next("the response to "+id), "tether's output ended before the response to %s", id)
				}
				if seen[i].isResponse() && string(seen[i].ID) == id {
					break
				}
			}
		case strings.HasPrefix(step, "@"):
			t.Fatalf("unknown directive %q", step)
		default:
			_, err := io.WriteString(in, n.substitute(step)+"\n")
			require.NoError(t, err, "writing %q", step)
		}
	}
	require.NoError(t, in.Close())
	for next("the end of tether's output") {
	}
	return lines
}

// normaliser replaces what differs from run to run in Tether's lines, and
// the placeholders in the client's.
type normaliser struct {
	cwd   string
	uuids map[string]string // real → $UUIDn
	real  map[string]string // $UUIDn → real
}

var (
	uuidRE     = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	durationRE = regexp.MustCompile(`"durationMs":\d+`)
	timeRE     = regexp.MustCompile(`"(createdAt|updatedAt)":"[^"]*"`)
	holderRE   = regexp.MustCompile(`\$UUID\d+`)
)

func newNormaliser(cwd string) *normaliser {
	return &normaliser{cwd: cwd, uuids: map[string]string{}, real: map[string]string{}}
}

func (n *normaliser) normalise(line string) string {
	line = strings.ReplaceAll(line, n.cwd, "$CWD")
	line = uuidRE.ReplaceAllStringFunc(line, func(u string) string {
		if h, ok := n.uuids[u]; ok {
			return h
		}
		h := fmt.Sprintf("$UUID%d", len(n.uuids)+1)
		n.uuids[u], n.real[h] = h, u
		return h
	})
	line = durationRE.ReplaceAllString(line, `"durationMs":$$MS`)
	return timeRE.ReplaceAllString(line, `"$1":"$$TIME"`)
}

func (n *normaliser) substitute(line string) string {
	line = strings.ReplaceAll(line, "$CWD", n.cwd)
	return holderRE.ReplaceAllStringFunc(line, func(h string) string {
		if u, ok := n.real[h]; ok {
			return u
		}
		return h
	})
}

// txtar is a txtar archive (golang.org/x/tools/txtar's format): a comment,
// then files, each "-- name --" on a line of its own and its lines.
type txtar struct {
	comment string
	names   []string
	files   map[string]string
}

var txtarHeader = regexp.MustCompile(`(?m)^-- (.+) --$`)

func parseTxtar(data []byte) *txtar {
	a := &txtar{files: map[string]string{}}
	s := string(data)
	idx := txtarHeader.FindAllStringSubmatchIndex(s, -1)
	if len(idx) == 0 {
		a.comment = s
		return a
	}
	a.comment = s[:idx[0][0]]
	for i, m := range idx {
		name := s[m[2]:m[3]]
		end := len(s)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		body := s[m[1]:end]
		body = strings.TrimPrefix(body, "\n")
		a.names = append(a.names, name)
		a.files[name] = body
	}
	return a
}

func (a *txtar) section(name string) string { return a.files[name] }

func (a *txtar) set(name, body string) {
	if _, ok := a.files[name]; !ok {
		a.names = append(a.names, name)
	}
	a.files[name] = body
}

func (a *txtar) format() []byte {
	var b strings.Builder
	b.WriteString(a.comment)
	for _, name := range a.names {
		fmt.Fprintf(&b, "-- %s --\n", name)
		body := a.files[name]
		b.WriteString(body)
		if body != "" && !strings.HasSuffix(body, "\n") {
			b.WriteString("\n")
		}
	}
	return []byte(b.String())
}
