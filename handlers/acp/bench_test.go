package acp

import (
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	schema "github.com/coder/acp-go-sdk"

	"github.com/tether-dev/tether/rpc"
)

// BenchmarkChunk measures one agent_message_chunk, encoded and framed: by
// hand into the presenter's buffer (what Tether does), and through the
// schema's SessionUpdate union (what it would cost to use the generated
// types on the token path).
func BenchmarkChunk(b *testing.B) {
	const text = " token"
	log := slog.New(slog.DiscardHandler)
	conn := rpc.NewConn(rpc.NewStream(eof{}, io.Discard, nil, rpc.FramingNDJSON, 0, log), log, rpc.Options{})
	conn.Start() // its writer takes what is sent
	defer conn.Close()
	b.Run("hand", func(b *testing.B) {
		p := newPresenter(&Dialect{conn: conn, log: log}, "2f0c8c53-3c4e-4d5c-9a53-8c1f8f4d6a21")
		b.ReportAllocs()
		for b.Loop() {
			p.Token(text)
		}
	})
	b.Run("schema", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			n := schema.SessionNotification{SessionId: "2f0c8c53-3c4e-4d5c-9a53-8c1f8f4d6a21", Update: schema.UpdateAgentMessageText(text)}
			body, err := json.Marshal(struct {
				JSONRPC string                     `json:"jsonrpc"`
				Method  string                     `json:"method"`
				Params  schema.SessionNotification `json:"params"`
			}{"2.0", methodUpdate, n})
			if err != nil {
				b.Fatal(err)
			}
			if err := conn.Send(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}

type eof struct{}

func (eof) Read([]byte) (int, error) { return 0, io.EOF }
