package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
)

// fuzzSeeds are inputs that once ended the connection, or nearly did: each
// must be answered and skipped. testdata/fuzz/FuzzStream holds them as
// files too, with the framing each was found in.
var fuzzSeeds = []string{
	`{"jsonrpc":"2.0","id":1,"method":"echo","params":{}}`,
	`{"jsonrpc":"2.0","id":1,"Method":"echo"}`,
	`{"jsonrpc":"2.0","id":1,"method":"echo","result":1}`,
	`{"jsonrpc":"2.0","id":1,"method":"echo","params":{},"error":{"code":1,"message":"m"}}`,
	`{"jsonrpc":"2.0","id":1,"error":{"code":"x","message":"m"}}`,
	`{"jsonrpc":"2.0","id":1,"result":1,"error":"boom"}`,
	`{"jsonrpc":"2.0","id":9223372036854775808,"method":"echo"}`,
	`{"jsonrpc":"2.0","id":18446744073709551615,"method":"echo"}`,
	`{"jsonrpc":"2.0","id":1e400,"method":"echo"}`,
	` {"jsonrpc":"2.0","id":2,"method":"echo"}`,
	`[{"jsonrpc":"2.0","id":1,"method":"echo"}]`,
	`{"jsonrpc":"2.0","id":null,"method":"echo"}`,
	`{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":1}}`,
	`{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":{"x":1}}}`,
	"\x00\xff{",
	`{"jsonrpc":"2.0","id":"a","method":"echo"}` + "\n" + `{"jsonrpc":"2.0","id":"a","method":"echo"}`,
}

// FuzzStream feeds any bytes to a Conn, as NDJSON or as Content-Length
// frames, and checks what a client relies on: no panic; everything Tether
// writes is a JSON-RPC message; every request is answered exactly once;
// and the input ends cleanly, or as broken only for a Content-Length
// stream whose header broke.
func FuzzStream(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, input string, lsp bool) {
		framing := FramingNDJSON
		if lsp {
			framing = FramingLSP
			input = frameLSP(input)
		}
		var out bytes.Buffer
		var problems []string
		c := NewConn(NewStream(strings.NewReader(input), &out, nil, framing, 1<<12, slog.New(slog.DiscardHandler)),
			slog.New(slog.DiscardHandler), Options{
				CancelMethod:   "$/cancelRequest",
				CancelParam:    "id",
				OnReplyProblem: func(m, p string) { problems = append(problems, m+": "+p) },
			})
		c.Register("echo", func(_ context.Context, r *Request) { r.Reply(r.Params, nil) })
		c.Start()
		select {
		case <-c.InputEnded():
		case <-c.Broken():
			if !lsp || !errors.Is(c.Err(), ErrBrokenFrame) {
				t.Fatalf("the input broke (%v) though only a Content-Length header may break it", c.Err())
			}
		}
		c.Close()
		if len(problems) > 0 {
			t.Fatalf("replies not exactly once: %v", problems)
		}
		checkOutput(t, out.Bytes(), framing)
	})
}

// frameLSP frames each line of input as its own Content-Length message.
func frameLSP(input string) string {
	var b strings.Builder
	for _, line := range strings.Split(input, "\n") {
		b.WriteString("Content-Length: " + strconv.Itoa(len(line)) + "\r\n\r\n" + line)
	}
	return b.String()
}

func checkOutput(t *testing.T, out []byte, framing Framing) {
	t.Helper()
	s := NewStream(bytes.NewReader(out), io.Discard, nil, framing, 0, slog.New(slog.DiscardHandler))
	for {
		body, err := s.Read()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("Tether wrote a bad frame: %v", err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil || string(m["jsonrpc"]) != `"2.0"` {
			t.Fatalf("Tether wrote something that is not a JSON-RPC message: %q", body)
		}
	}
}
