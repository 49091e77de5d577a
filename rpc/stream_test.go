package rpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readAll reads every message of input with a Stream, and returns them and
// what the Stream wrote back.
func readAll(t *testing.T, input string, f Framing) (msgs []string, written string, err error) {
	t.Helper()
	var out bytes.Buffer
	s := NewStream(strings.NewReader(input), &out, nil, f, slog.New(slog.DiscardHandler))
	s.Close() // so that end of input returns at once
	for {
		var v json.RawMessage
		if err = s.ReadObject(&v); err != nil {
			return msgs, out.String(), err
		}
		msgs = append(msgs, string(v))
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
			assert.Empty(t, written, "nothing to complain about")
			assert.Equal(t, []string{list, list}, msgs)
		})
	}
}

func TestStreamBrokenHeaderEndsIt(t *testing.T) {
	for _, input := range []string{
		"Content-Length: x\r\n\r\n{}",
		"Content-Length: -1\r\n\r\n{}",
		"Content-Length: 99999999999\r\n\r\n{}",
		"Content-Type: json\r\n\r\n{}",
		"just words\r\n\r\n",
		"Content-Length: 10\r\n\r\n{}",
	} {
		msgs, _, err := readAll(t, input, FramingAuto)
		assert.Empty(t, msgs)
		assert.True(t, errors.Is(err, ErrBrokenFrame), "%q: %v", input, err)
	}
}

func TestStreamAnswersBadMessagesAndReadsOn(t *testing.T) {
	msgs, written, err := readAll(t, "{oops\n[1,2]\n"+list+"\n", FramingAuto)
	assert.ErrorIs(t, err, io.EOF)
	assert.Equal(t, []string{list}, msgs, "the good message after the bad ones is read")
	lines := strings.Split(strings.TrimSpace(written), "\n")
	require.Len(t, lines, 2)
	assert.JSONEq(t, `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error: the message is not valid JSON"}}`, lines[0])
	assert.Contains(t, lines[1], `"code":-32600`)
}

func TestStreamWritesInTheFramingItRead(t *testing.T) {
	for _, tc := range []struct {
		input, want string
	}{
		{"Content-Length: 48\r\n\r\n" + list, "Content-Length: 11\r\n\r\n{\"a\":\"<b>\"}"},
		{list + "\n", "{\"a\":\"<b>\"}\n"},
	} {
		var out bytes.Buffer
		s := NewStream(strings.NewReader(tc.input), &out, nil, FramingAuto, slog.New(slog.DiscardHandler))
		var v json.RawMessage
		require.NoError(t, s.ReadObject(&v))
		require.NoError(t, s.WriteObject(map[string]string{"a": "<b>"}))
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

// BenchmarkStreamWriteNotification measures the framing of one token
// notification.
func BenchmarkStreamWriteNotification(b *testing.B) {
	s := NewStream(strings.NewReader(""), io.Discard, nil, FramingLSP, slog.New(slog.DiscardHandler))
	note := map[string]any{"jsonrpc": "2.0", "method": "session/token", "params": map[string]any{"sessionId": "s1", "queryId": 1, "text": " word"}}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.WriteObject(note); err != nil {
			b.Fatal(err)
		}
	}
}
