package openai

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
)

// events reads every event's data from body.
func events(t *testing.T, r io.Reader) ([]string, error) {
	t.Helper()
	s := newSSEReader(r)
	var out []string
	for {
		data, err := s.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return out, err
		}
		out = append(out, string(data))
	}
}

func TestSSEFormat(t *testing.T) {
	body := ": keep-alive comment\n\n" +
		"data: {\"a\":1}\n\n" +
		"event: message\r\nid: 7\r\nretry: 100\r\ndata: crlf\r\n\r\n" +
		"data: first line\ndata:second, no space\ndata\n\n" +
		"\n\n\n" +
		"data:  two spaces keep one\n\n" +
		"event: only-an-event\n\n" +
		"data: [DONE]\n\n" +
		"data: cut off without its blank line"
	got, err := events(t, strings.NewReader(body))
	require.NoError(t, err)
	assert.Equal(t, []string{
		`{"a":1}`,
		"crlf",
		"first line\nsecond, no space\n",
		" two spaces keep one",
		"[DONE]",
	}, got)
}

// Lines longer than the read buffer, read a byte at a time, arrive whole.
func TestSSELongLines(t *testing.T) {
	long := strings.Repeat("x", 100<<10)
	body := "data: " + long + "\n\ndata: short\n\n"
	got, err := events(t, iotest.OneByteReader(strings.NewReader(body)))
	require.NoError(t, err)
	assert.Equal(t, []string{long, "short"}, got)
}

func TestSSEBrokenBody(t *testing.T) {
	r := io.MultiReader(strings.NewReader("data: one\n\ndata: tw"), iotest.ErrReader(io.ErrUnexpectedEOF))
	got, err := events(t, r)
	assert.Equal(t, []string{"one"}, got)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

// Reading a token reuses the reader's buffers.
func TestSSEReadsWithoutAllocating(t *testing.T) {
	line := "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n"
	body := strings.NewReader(strings.Repeat(line, 200))
	s := newSSEReader(body)
	_, err := s.next() // the first event sizes the buffers
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := s.next(); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

// nopSink takes a turn's events and keeps the text.
type nopSink struct {
	backends.Sink // nil: a call of anything else fails the test
	text          strings.Builder
}

func (s *nopSink) Token(t string) { s.text.WriteString(t) }

func readReply(t *testing.T, body string) (*reply, *nopSink, error) {
	t.Helper()
	idle := time.NewTimer(time.Hour)
	defer idle.Stop()
	r, sink := &reply{}, &nopSink{}
	err := r.read(newSSEReader(strings.NewReader(body)), idle, time.Hour, sink)
	return r, sink, err
}

func TestReadStopsAtDone(t *testing.T) {
	r, sink, err := readReply(t, `data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"stop"}]}`+"\n\n"+
		"data: [DONE]\n\n"+
		`data: {"choices":[{"index":0,"delta":{"content":" after"}}]}`+"\n\n")
	require.NoError(t, err)
	assert.Equal(t, "Hi", sink.text.String())
	assert.Equal(t, "stop", r.finish)
	assert.Equal(t, 1, r.chunks)
}

func TestReadErrorEvents(t *testing.T) {
	for body, want := range map[string]string{
		`{"error":{"message":"model overloaded","type":"server_error"}}`: "model overloaded",
		`{"error":"quota exceeded"}`:                                     "quota exceeded",
		`{"error":{"code":500}}`:                                         `{"code":500}`,
	} {
		_, _, err := readReply(t, "data: "+body+"\n\n")
		var se *streamError
		require.ErrorAs(t, err, &se, body)
		assert.Equal(t, want, se.Message, body)
	}
	// "error": null is no error.
	_, sink, err := readReply(t, `data: {"error":null,"choices":[{"index":0,"delta":{"content":"ok"}}]}`+"\n\n")
	require.NoError(t, err)
	assert.Equal(t, "ok", sink.text.String())
}

// BenchmarkTokenPath reads a response of 1000 content tokens the way
// stream does: event reader, chunk decoder, delta. Its allocs/op over
// 1000 is the cost of a token.
func BenchmarkTokenPath(b *testing.B) {
	const line = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1764000000,"model":"m",` +
		`"choices":[{"index":0,"delta":{"content":"Hel"},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n"
	body := strings.Repeat(line, 1000) + "data: [DONE]\n\n"
	idle := time.NewTimer(time.Hour)
	defer idle.Stop()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		r := &reply{}
		if err := r.read(newSSEReader(strings.NewReader(body)), idle, time.Hour, &nopSink{}); err != nil {
			b.Fatal(err)
		}
		if r.chunks != 1000 {
			b.Fatalf("%d chunks", r.chunks)
		}
	}
}
