package rpc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readAll reads every message of input with a Stream until an error other
// than a skipped message, and returns them and the errors of the skipped
// ones.
func readAll(t *testing.T, input string, f Framing) (msgs []string, skipped []error, err error) {
	t.Helper()
	s := NewStream(strings.NewReader(input), io.Discard, nil, f, 0, slog.New(slog.DiscardHandler))
	for {
		body, err := s.Read()
		var tooLarge *TooLargeError
		if errors.As(err, &tooLarge) {
			skipped = append(skipped, err)
			continue
		}
		if err != nil {
			return msgs, skipped, err
		}
		msgs = append(msgs, string(body))
	}
}

const list = `{"jsonrpc":"2.0","id":1,"method":"session/list"}`

func TestStreamReadsWhatClientsSend(t *testing.T) {
	for _, tc := range []struct {
		name, input string
		framing     Framing
	}{
		{"vscode", "Content-Length: 48\r\n\r\n" + list, FramingAuto},
		{"with content-type", "Content-Length: 48\r\nContent-Type: application/vscode-jsonrpc; charset=utf8\r\n\r\n" + list, FramingAuto},
		{"lowercase header", "content-length: 48\r\n\r\n" + list, FramingAuto},
		{"LF only", "Content-Length: 48\n\n" + list, FramingAuto},
		{"no space", "Content-Length:48\r\n\r\n" + list, FramingAuto},
		{"blank lines between frames", "\r\nContent-Length: 48\r\n\r\n" + list, FramingLSP},
		{"ndjson", list + "\n", FramingAuto},
		{"ndjson after white space", "\n  " + list + "\n\n", FramingAuto},
		{"ndjson without final newline", list, FramingNDJSON},
		{"leading white space in the body", "Content-Length: 50\r\n\r\n \n" + list, FramingAuto},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs, written, err := readAll(t, tc.input+tc.input, tc.framing)
			assert.ErrorIs(t, err, io.EOF)
			if tc.name == "ndjson without final newline" {
				// Two values on one line is one bad line; a single one is fine.
				msgs, _, err = readAll(t, tc.input, tc.framing)
				assert.ErrorIs(t, err, io.EOF)
				assert.Equal(t, []string{list}, msgs)
				return
			}
			assert.Empty(t, written, "nothing skipped")
			assert.Equal(t, []string{list, list}, msgs)
		})
	}
}

func TestStreamBrokenHeaderEndsIt(t *testing.T) {
	for _, input := range []string{
		"Content-Length: x\r\n\r\n{}",
		"Content-Length: -1\r\n\r\n{}",
		"Content-Type: json\r\n\r\n{}",
		"just words\r\n\r\n",
		"Content-Length: 10\r\n\r\n{}",
	} {
		msgs, _, err := readAll(t, input, FramingAuto)
		assert.Empty(t, msgs)
		assert.True(t, errors.Is(err, ErrBrokenFrame), "%q: %v", input, err)
	}
}

func TestStreamSkipsMessagesOverTheLimitAndReadsOn(t *testing.T) {
	big := `{"jsonrpc":"2.0","method":"x","params":{"text":"` + strings.Repeat("a", 300<<10) + `"}}`
	for _, tc := range []struct {
		name, input string
	}{
		{"ndjson line", big + "\n" + list + "\n"},
		{"content-length", fmt.Sprintf("Content-Length: %d\r\n\r\n%sContent-Length: 48\r\n\r\n%s", len(big), big, list)},
		{"announced but not sent", "Content-Length: 99999999999\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewStream(strings.NewReader(tc.input), io.Discard, nil, FramingAuto, 100<<10, slog.New(slog.DiscardHandler))
			_, err := s.Read()
			var tooLarge *TooLargeError
			if tc.name == "announced but not sent" {
				// Skipping needs the body; a stream that ends first is
				// broken, and nothing was allocated for it.
				assert.ErrorIs(t, err, ErrBrokenFrame)
				return
			}
			require.ErrorAs(t, err, &tooLarge)
			assert.Equal(t, 100<<10, tooLarge.Limit)
			body, err := s.Read()
			require.NoError(t, err)
			assert.Equal(t, list, string(body), "the message after the big one is read")
		})
	}
}

func TestStreamWritesInTheFramingItRead(t *testing.T) {
	for _, tc := range []struct {
		input, want string
	}{
		{"Content-Length: 48\r\n\r\n" + list, "Content-Length: 11\r\n\r\n{\"a\":\"<b>\"}"},
		{list + "\n", "{\"a\":\"<b>\"}\n"},
	} {
		var out bytes.Buffer
		s := NewStream(strings.NewReader(tc.input), &out, nil, FramingAuto, 0, slog.New(slog.DiscardHandler))
		_, err := s.Read()
		require.NoError(t, err)
		w := newWriter(s, slog.New(slog.DiscardHandler), false)
		w.start()
		require.NoError(t, w.sendMessage([]byte(`{"a":"<b>"}`), nil))
		require.True(t, w.stop(guard))
		assert.Equal(t, tc.want, out.String(), "HTML characters are not escaped either")
	}
}

func TestParseFraming(t *testing.T) {
	for in, want := range map[string]Framing{"auto": FramingAuto, "lsp": FramingLSP, "ndjson": FramingNDJSON} {
		f, err := ParseFraming(in)
		require.NoError(t, err)
		assert.Equal(t, want, f)
	}
	_, err := ParseFraming("xml")
	assert.ErrorContains(t, err, "xml")
}

// BenchmarkOutboxText sends one query's tokens through an outbox to a peer
// that discards them: the encoding on the sender's goroutine, and the
// writer's framing and writes, merged as far as the sender outpaces the
// writer (as a backend streaming faster than the client reads).
func BenchmarkOutboxText(b *testing.B) {
	inR, inW := io.Pipe()
	c := NewConn(NewStream(inR, io.Discard, inR, FramingLSP, 0, slog.New(slog.DiscardHandler)), slog.New(slog.DiscardHandler), Options{})
	c.Start()
	o := c.NewOutbox()
	token := NewTextKind([]byte(`{"jsonrpc":"2.0","method":"session/token","params":{"sessionId":"s1","queryId":1,"text":"`), []byte(`"}}`))
	b.ReportAllocs()
	for b.Loop() {
		if err := o.Text(token, " word"); err != nil {
			b.Fatal(err)
		}
	}
	inW.Close()
	c.Close()
}

// decodeMessage keeps slices of a body as the message's id, params and
// result, so a body must stay as read while later ones are read.
func TestStreamBodiesAreTheCallersToKeep(t *testing.T) {
	first := `{"jsonrpc":"2.0","method":"m","params":["first"]}`
	second := `{"jsonrpc":"2.0","method":"m","params":["second, longer than the first"]}`
	for _, tc := range []struct {
		name, input string
		framing     Framing
	}{
		{"ndjson", first + "\n" + second + "\n" + first + "\n", FramingNDJSON},
		{"lsp", frameLSP(first + "\n" + second + "\n" + first), FramingLSP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewStream(strings.NewReader(tc.input), io.Discard, nil, tc.framing, 0, slog.New(slog.DiscardHandler))
			var bodies [][]byte
			for {
				body, err := s.Read()
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err)
				bodies = append(bodies, body)
			}
			require.Len(t, bodies, 3)
			assert.Equal(t, first, string(bodies[0]))
			assert.Equal(t, second, string(bodies[1]))
			assert.Equal(t, first, string(bodies[2]))
		})
	}
}
