package tether

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/tether-dev/tether/internal/jsonwire"
	"github.com/tether-dev/tether/protocol"
	"github.com/tether-dev/tether/rpc"
	"github.com/tether-dev/tether/sessions"
)

// queryReply is session/query's result (protocol.QueryResult), written by
// the connection's writer straight from the blocks the turn's text was
// streamed into (rpc.Streamer): a long turn's text is held once, never
// copied whole into a reply.
type queryReply struct {
	head []byte // the result's JSON up to the text's opening quote, included
	text sessions.Text
	tail []byte // from the text's closing quote on
}

var _ rpc.Streamer = (*queryReply)(nil)

// textMember is how encoding/json writes an empty text member; nothing
// else in a result can look like it, since a quote inside a string is
// escaped.
var textMember = []byte(`"text":""`)

func newQueryReply(res sessions.TurnResult) (*queryReply, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(queryResult(res)); err != nil {
		return nil, fmt.Errorf("encoding the result: %w", err)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	i := bytes.Index(b, textMember)
	if i < 0 {
		return nil, fmt.Errorf("encoding the result: no %s in %s", textMember, b)
	}
	cut := i + len(textMember) - 1
	return &queryReply{head: b[:cut], text: res.Text, tail: b[cut:]}, nil
}

// queryResult is the result without its text, which queryReply adds.
func queryResult(res sessions.TurnResult) protocol.QueryResult {
	return protocol.QueryResult{
		SessionID:  res.SessionID,
		StopReason: res.StopReason,
		Usage: protocol.Usage{
			InputTokens:      res.Usage.InputTokens,
			OutputTokens:     res.Usage.OutputTokens,
			CacheReadTokens:  res.Usage.CacheReadTokens,
			CacheWriteTokens: res.Usage.CacheWriteTokens,
		},
		DurationMs:       res.Duration.Milliseconds(),
		CostUSD:          res.CostUSD,
		NumTurns:         res.NumTurns,
		BackendSessionID: res.BackendSessionID,
	}
}

// contents calls emit with the text's escaped contents, a block at a time,
// in a buffer it reuses.
func (q *queryReply) contents(emit func([]byte) error) error {
	var c jsonwire.Contents
	var buf []byte
	for _, block := range q.text.Blocks() {
		buf = c.Append(buf[:0], block)
		if err := emit(buf); err != nil {
			return err
		}
	}
	return emit(c.End(buf[:0]))
}

// JSONLen implements rpc.Streamer.
func (q *queryReply) JSONLen() int {
	n := len(q.head) + len(q.tail)
	q.contents(func(b []byte) error {
		n += len(b)
		return nil
	})
	return n
}

// StreamJSON implements rpc.Streamer.
func (q *queryReply) StreamJSON(w io.Writer) error {
	if _, err := w.Write(q.head); err != nil {
		return err
	}
	if err := q.contents(func(b []byte) error {
		_, err := w.Write(b)
		return err
	}); err != nil {
		return err
	}
	_, err := w.Write(q.tail)
	return err
}
