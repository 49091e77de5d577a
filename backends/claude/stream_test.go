package claude

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hotLines are lines the fast path must take, each with what it decodes
// to; every one must also equal the full decode.
var hotLines = []struct {
	line string
	want message
}{
	{
		`{"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}},"session_id":"s1","parent_tool_use_id":null,"uuid":"u1"}`,
		message{Type: typeStreamEvent, SessionID: "s1", Event: streamEvent{Type: "content_block_delta", Delta: streamDelta{Type: "text_delta", Text: "Hello"}}},
	},
	{
		`{"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me think."}},"session_id":"s1","parent_tool_use_id":null,"uuid":"u3"}`,
		message{Type: typeStreamEvent, SessionID: "s1", Event: streamEvent{Type: "content_block_delta", Delta: streamDelta{Type: "thinking_delta", Thinking: "Let me think."}}},
	},
	{
		`{"type":"stream_event","event":{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"command\": \"ec"}},"session_id":"s1","parent_tool_use_id":null,"uuid":"u4"}`,
		message{Type: typeStreamEvent, SessionID: "s1", Event: streamEvent{Type: "content_block_delta", Delta: streamDelta{Type: "input_json_delta"}}},
	},
	{ // keys in another order, whitespace, a sub-agent's line
		" { \"uuid\" : \"u\" , \"parent_tool_use_id\":\"toolu_1\",\t\"session_id\":\"s2\",\"event\":{\"delta\":{\"text\":\"x\",\"type\":\"text_delta\"},\"index\":1,\"type\":\"content_block_delta\"},\"type\":\"stream_event\"}\r\n",
		message{Type: typeStreamEvent, SessionID: "s2", ParentToolUseID: "toolu_1", Event: streamEvent{Type: "content_block_delta", Delta: streamDelta{Type: "text_delta", Text: "x"}}},
	},
	{ // escapes: the usual ones, \u with a surrogate pair, a lone surrogate, U+2028
		`{"type":"stream_event","event":{"type":"content_block_delta","delta":{"type":"text_delta","text":"a\"b\\c\/d\n\t\r\b\f\u00e9\ud83d\ude42\ud800x\udc00\u2028"}}}`,
		message{Type: typeStreamEvent, Event: streamEvent{Type: "content_block_delta", Delta: streamDelta{Type: "text_delta", Text: "a\"b\\c/d\n\t\r\b\f\u00e9\U0001F642\uFFFDx\uFFFD\u2028"}}},
	},
	{ // raw UTF-8, and invalid UTF-8 (each bad byte is U+FFFD)
		"{\"type\":\"stream_event\",\"event\":{\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"\u65e5\u672c \xff\xc3(\"}}}",
		message{Type: typeStreamEvent, Event: streamEvent{Type: "content_block_delta", Delta: streamDelta{Type: "text_delta", Text: "\u65e5\u672c \uFFFD\uFFFD("}}},
	},
	{ // nested values of unknown keys are skipped
		`{"type":"stream_event","event":{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":9,"x":[1,-2.5e+3,true,false,{"a":[]}]}},"session_id":"s1","parent_tool_use_id":null,"uuid":"u12"}`,
		message{Type: typeStreamEvent, SessionID: "s1", Event: streamEvent{Type: "message_delta"}},
	},
	{`{"type":"keep_alive"}`, message{Type: "keep_alive"}},
	{`{}`, message{}},
}

// coldLines are lines the fast path must leave to the full decode.
var coldLines = []string{
	// other line types, which have other fields
	`{"type":"stream_event","event":{"type":"message_start","message":{"id":"msg_1"}},"session_id":"s1","parent_tool_use_id":null}`,
	`{"type":"assistant","message":{"id":"msg_1","content":[{"type":"text","text":"Hi"}]},"parent_tool_use_id":null,"session_id":"s1"}`,
	`{"type":"system","subtype":"init","session_id":"s1","model":"m"}`,
	`{"type":"result","subtype":"success","is_error":false,"session_id":"s1"}`,
	// keys that match a field only ignoring case, or in an escaped form
	`{"Type":"stream_event"}`,
	`{"type":"stream_event","event":{"TYPE":"content_block_delta"}}`,
	`{"type":"stream_event","event":{"type":"content_block_delta","delta":{"Text":"x"}}}`,
	`{"\u0074ype":"stream_event"}`,
	"{\"type\":\"stream_event\",\"\u017Fession_id\":\"s\"}", // ſ folds to s
	// repeated keys
	`{"type":"stream_event","type":"user"}`,
	`{"type":"stream_event","event":{"type":"a"},"event":{"delta":{"text":"x"}}}`,
	`{"type":"stream_event","event":{"type":"content_block_delta","delta":{"text":"x","text":"y"}}}`,
	// other value kinds where a string or object is expected
	`{"type":null}`,
	`{"type":"stream_event","event":null}`,
	`{"type":"stream_event","event":{"delta":null}}`,
	`{"type":"stream_event","event":{"delta":{"text":5}}}`,
	`{"type":"stream_event","session_id":["s"]}`,
	`{"type":"stream_event","parent_tool_use_id":false}`,
	// not JSON
	`{"type":"stream_event"`,
	`{"type":"stream_event"}x`,
	`{"type":"stream_event","uuid":01}`,
	`{"type":"stream_event","uuid":"\x"}`,
	"{\"type\":\"stream_event\",\"uuid\":\"a\tb\"}",
	`{"type":"stream_event","uuid":[1,]}`,
	`{"type":"stream_event","uuid":nul}`,
}

func TestLineDecoderTakesHotLines(t *testing.T) {
	for _, tc := range hotLines {
		var d lineDecoder
		var got message
		require.True(t, d.decodeHot(bytes.TrimSpace([]byte(tc.line)), &got), "the fast path takes %s", tc.line)
		assert.Equal(t, tc.want, got, tc.line)
		full, ok, err := decodeLine([]byte(tc.line))
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, full, got, "the full decode of %s", tc.line)
	}
}

func TestLineDecoderLeavesOtherLinesToTheFullDecode(t *testing.T) {
	for _, line := range coldLines {
		var d lineDecoder
		assert.False(t, d.decodeHot([]byte(line), &message{}), "the fast path leaves %s", line)
		got, gotOK, gotErr := d.decode([]byte(line))
		want, wantOK, wantErr := decodeLine([]byte(line))
		assert.Equal(t, want, got, line)
		assert.Equal(t, wantOK, gotOK, line)
		assert.Equal(t, wantErr, gotErr, line)
	}
}

func TestLineDecoderReusesTheSessionID(t *testing.T) {
	var d lineDecoder
	first, _, _ := d.decode([]byte(hotLines[0].line))
	second, _, _ := d.decode([]byte(hotLines[1].line))
	require.Equal(t, "s1", second.SessionID)
	assert.Same(t, unsafe.StringData(first.SessionID), unsafe.StringData(second.SessionID), "one string for a repeated session id")
	// A full decode updates what is remembered.
	other, _, _ := d.decode([]byte(`{"type":"system","subtype":"init","session_id":"s9"}`))
	next, _, _ := d.decode([]byte(strings.Replace(hotLines[0].line, `"s1"`, `"s9"`, 1)))
	assert.Same(t, unsafe.StringData(other.SessionID), unsafe.StringData(next.SessionID))
}

// FuzzLineDecoder checks the fast path against the full decode: whenever
// it takes a line, the full decode must accept the line and give the same
// message; and the decoder as a whole (with what it remembers from the line
// before) always gives the full decode's result.
func FuzzLineDecoder(f *testing.F) {
	for _, tc := range hotLines {
		f.Add([]byte(tc.line))
	}
	for _, line := range coldLines {
		f.Add([]byte(line))
	}
	scenarios, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "claude", "*.jsonl"))
	for _, file := range scenarios {
		b, err := os.ReadFile(file)
		require.NoError(f, err)
		// The scenarios whole, the recording's first lines: one of each
		// type, then deltas.
		recording, n := filepath.Base(file) == recordingName+".jsonl", 0
		for line := range bytes.Lines(b) {
			if n++; recording && n > 40 {
				break
			}
			f.Add(bytes.TrimSuffix(line, []byte("\n")))
		}
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		want, wantOK, wantErr := decodeLine(line)
		var d lineDecoder
		var hot message
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 && trimmed[0] == '{' && d.decodeHot(trimmed, &hot) {
			if wantErr != nil || !wantOK {
				t.Fatalf("the fast path took %q, which the full decode refuses: %v", line, wantErr)
			}
			if !reflect.DeepEqual(want, hot) {
				t.Fatalf("%q: fast path %+v, full decode %+v", line, hot, want)
			}
		}
		for range 2 { // a fresh decoder, then one that remembers this line's ids
			got, gotOK, gotErr := d.decode(line)
			if gotOK != wantOK || (gotErr == nil) != (wantErr == nil) || !reflect.DeepEqual(want, got) {
				t.Fatalf("%q: decoder %+v %v %v, full decode %+v %v %v", line, got, gotOK, gotErr, want, wantOK, wantErr)
			}
		}
	})
}

// BenchmarkDecodeLine decodes the recorded second turn (5,000 text deltas
// from the real CLI), one line per op, in the order the CLI wrote them:
// full is encoding/json, decoder the stdout reader's lineDecoder. The
// /hot benchmarks decode only the turn's 5,000 text delta lines; the
// others also the 9 other lines, of which the assistant and result
// lines carry the whole text again.
func BenchmarkDecodeLine(b *testing.B) {
	all := loadRecording(b)
	var hot [][]byte
	for _, l := range all {
		if bytes.Contains(l, []byte(`"text_delta"`)) {
			hot = append(hot, l)
		}
	}
	for _, set := range []struct {
		name  string
		lines [][]byte
	}{{"all", all}, {"hot", hot}} {
		b.Run(set.name, func(b *testing.B) { benchmarkDecodeLines(b, set.lines) })
	}
}

// benchmarkDecodeLines runs the full decode and the decoder over lines. Go
// reports allocs/op rounded down, and a one-byte text costs none, so
// allocs/line says what a line costs to the hundredth.
func benchmarkDecodeLines(b *testing.B, lines [][]byte) {
	b.Run("full", func(b *testing.B) {
		defer reportAllocsPerLine(b)()
		for i := 0; b.Loop(); i++ {
			if _, ok, err := decodeLine(lines[i%len(lines)]); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("decoder", func(b *testing.B) {
		defer reportAllocsPerLine(b)()
		var d lineDecoder
		for i := 0; b.Loop(); i++ {
			if _, ok, err := d.decode(lines[i%len(lines)]); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
}

// BenchmarkHandleLine runs the stdout reader's work per line over the
// recorded turn (the supervisor splits the lines; see its own benchmark),
// with a receiver taking every message off msgs as a turn would: one op
// is one line decoded and handed over.
func BenchmarkHandleLine(b *testing.B) {
	lines := loadRecording(b)
	defer reportAllocsPerLine(b)()
	p := &process{
		log:      slog.New(slog.DiscardHandler),
		msgs:     make(chan message),
		stopping: make(chan struct{}),
	}
	received := make(chan int)
	go func() {
		n := 0
		for range p.msgs {
			n++
		}
		received <- n
	}()
	b.ResetTimer()
	for i := range b.N {
		p.handleLine(lines[i%len(lines)])
	}
	close(p.msgs)
	if n := <-received; n != b.N {
		b.Fatalf("received %d messages of %d lines", n, b.N)
	}
}

// reportAllocsPerLine reports allocations per op as a fraction, from its
// call to the call of the function it returns.
func reportAllocsPerLine(b *testing.B) func() {
	b.ReportAllocs()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	return func() {
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "allocs/line")
	}
}
