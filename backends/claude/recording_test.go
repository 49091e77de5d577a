package claude

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/backends/claude/claudetest"
)

// The recorded stream: what the real CLI writes on stdout during the second
// turn of a session in which the fake API streams recordedDeltas text
// deltas. The benchmarks decode it; TestRealCLIStreamsManyDeltas checks on
// every run that the CLI still writes lines of the same kinds in the same
// order, and rewrites it with -record-stream.

const (
	recordedDeltas = 5000
	recordingName  = "stream-5000" // in testdata/claude, as .jsonl
)

var recordStream = flag.Bool("record-stream", false, "rewrite testdata/claude/"+recordingName+".jsonl from the real claude CLI")

// The stdout tap is this test binary re-executed in place of the CLI: it
// runs the real CLI (tapCLIEnv) with the same argv, stdin and stderr, and
// copies the CLI's stdout both to its own stdout and to the file
// tapFileEnv names. It stays in the process group Tether made for it, so
// the stop ladder reaches the CLI too.
const (
	tapCLIEnv  = "TETHER_TAP_CLAUDE_CLI"
	tapFileEnv = "TETHER_TAP_CLAUDE_FILE"
)

func runStdoutTap(cli, file string) int {
	f, err := os.Create(file)
	if err != nil {
		os.Stderr.WriteString("claude tap: " + err.Error() + "\n")
		return 2
	}
	defer f.Close()
	cmd := exec.Command(cli, os.Args[1:]...)
	cmd.Stdin, cmd.Stderr = os.Stdin, os.Stderr
	// The file first: a line is in it before Tether can act on it.
	cmd.Stdout = io.MultiWriter(f, os.Stdout)
	err = cmd.Run()
	if exit := (*exec.ExitError)(nil); errors.As(err, &exit) {
		return exit.ExitCode()
	} else if err != nil {
		os.Stderr.WriteString("claude tap: " + err.Error() + "\n")
		return 2
	}
	return 0
}

// recordedChunks is the text of the second turn, one chunk per delta:
// mostly short ASCII words, as a model streams them, with newlines, quotes,
// backslashes, tabs, non-ASCII letters, an emoji and U+2028 mixed in at
// fixed places, so that escaping is part of what is measured.
func recordedChunks(n int) []string {
	words := []string{
		" the", " function", " returns", " an", " error", " when", " the", " file",
		".", ",", " is", " not", " found", " and", " we", " retry", ":", " it",
		"\n", "\n\n", " `ctx`", " \"quoted\"", " C:\\path\\to", "\t", " naïve", " café",
		" —", " 日本語", " 🙂", " x := 1", " // note", " <b>&amp;</b>", " \u2028", " {\"k\": [1, 2]}",
	}
	chunks := make([]string, n)
	state := uint32(1)
	for i := range chunks {
		// A fixed linear congruential sequence: the same text every run.
		var b strings.Builder
		for range 1 + i%3 {
			state = state*1664525 + 1013904223
			b.WriteString(words[(state>>16)%uint32(len(words))])
		}
		chunks[i] = b.String()
	}
	return chunks
}

// TestRealCLIStreamsManyDeltas runs two turns in one session of the real
// CLI, the second streaming recordedDeltas text deltas, and checks that
// every delta reaches the sink as one token, in order, with nothing lost.
// It taps the CLI's stdout to check the recording's shape still holds, and
// with -record-stream writes the second turn's lines to testdata.
func TestRealCLIStreamsManyDeltas(t *testing.T) {
	usedScenarios.Store(recordingName, true) // a recording, not a fake-CLI scenario
	chunks := recordedChunks(recordedDeltas)
	r := newRealRun(t, func(req claudetest.Request) []claudetest.Event {
		if strings.Contains(req.LastUserText(), "second question") {
			return claudetest.TextReply(req.Model, chunks...)
		}
		return claudetest.TextReply(req.Model, "First", " answer")
	})
	exe, err := os.Executable()
	require.NoError(t, err)
	tap := filepath.Join(t.TempDir(), "stdout.jsonl")
	cfg := r.b.cfg
	cfg.env = append(cfg.env, tapCLIEnv+"="+cfg.Path, tapFileEnv+"="+tap,
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	cfg.Path = exe
	r.b = New(cfg, testLogger(t))
	c := r.open()

	_, err = realQuery(t, c, context.Background(), "first question", &fakeSink{})
	require.NoError(t, err)
	sink := &fakeSink{}
	res, err := realQuery(t, c, context.Background(), "second question", sink)
	require.NoError(t, err)
	assert.Equal(t, backends.StopEndTurn, res.StopReason)
	require.Equal(t, strings.Join(chunks, ""), sink.tokens.String())
	assert.Len(t, sink.events, recordedDeltas, "one token per delta")
	require.NoError(t, c.Close(context.Background())) // the tap has written everything once the process is gone

	stdout, err := os.ReadFile(tap)
	require.NoError(t, err)
	turn := secondTurn(t, stdout)
	var text strings.Builder
	var dec lineDecoder
	deltas, hot := 0, 0
	for line := range bytes.Lines(turn) {
		m, ok, err := decodeLine(line)
		require.NoError(t, err)
		require.True(t, ok, "line %q", line)
		if m.Type == typeStreamEvent && m.Event.Type == "content_block_delta" {
			deltas++
			text.WriteString(m.Event.Delta.Text)
			var fast message
			if dec.decodeHot(bytes.TrimSpace(line), &fast) && assert.Equal(t, m, fast) {
				hot++
			}
		}
	}
	assert.Equal(t, recordedDeltas, deltas, "the CLI writes one line per delta")
	assert.Equal(t, deltas, hot, "the fast path takes every delta line")
	assert.Equal(t, strings.Join(chunks, ""), text.String())
	t.Logf("the second turn is %d lines, %d bytes", bytes.Count(turn, []byte("\n")), len(turn))

	if *recordStream {
		path := filepath.Join("..", "..", "testdata", "claude", recordingName+".jsonl")
		require.NoError(t, os.WriteFile(path, turn, 0o644))
		t.Logf("wrote %s", path)
		return
	}
	var recorded []byte
	for _, line := range loadRecording(t) {
		recorded = append(append(recorded, line...), '\n')
	}
	assert.Equal(t, lineKinds(t, recorded), lineKinds(t, turn),
		"the CLI's stream has changed since the recording; rewrite it with -record-stream")
}

// lineKinds names each line of stream by its type, subtype, event type and
// delta type.
func lineKinds(t *testing.T, stream []byte) []string {
	t.Helper()
	var kinds []string
	for line := range bytes.Lines(stream) {
		m, _, err := decodeLine(line)
		require.NoError(t, err)
		kinds = append(kinds, strings.Join([]string{m.Type, m.Subtype, m.Event.Type, m.Event.Delta.Type}, "/"))
	}
	return kinds
}

// secondTurn is the lines of stdout after the first result, up to and
// including the second.
func secondTurn(t *testing.T, stdout []byte) []byte {
	t.Helper()
	var turn []byte
	results := 0
	for line := range bytes.Lines(stdout) {
		m, ok, _ := decodeLine(line)
		if results == 1 {
			turn = append(turn, line...)
		}
		if ok && m.Type == typeResult {
			results++
		}
	}
	require.GreaterOrEqual(t, results, 2, "two results on stdout")
	return turn
}

// loadRecording returns the recorded lines, each without its newline.
func loadRecording(tb testing.TB) [][]byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "claude", recordingName+".jsonl"))
	require.NoError(tb, err, "the recording; regenerate it with go test -run TestRealCLIStreamsManyDeltas -record-stream ./backends/claude/")
	var lines [][]byte
	for line := range bytes.Lines(b) {
		lines = append(lines, bytes.TrimSuffix(line, []byte("\n")))
	}
	return lines
}
