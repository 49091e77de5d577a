package tether

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/sessions"
)

// TestQueryReplyIsTheResultStreamedFromTheBlocks checks the streamed reply
// against encoding/json's encoding of the same result, for texts that need
// escaping, and for a text whose blocks split a rune.
func TestQueryReplyIsTheResultStreamedFromTheBlocks(t *testing.T) {
	filler := strings.Repeat("a", 300) // more than a first block
	for name, pieces := range map[string][]string{
		"empty":      nil,
		"plain":      {"hello", " world"},
		"escapes":    {"\"quoted\"\n", "\t<b>&</b>", " \u2028\u2029", " \x00\x1f", " naïve 🙂"},
		"split rune": {filler + "\xf0\x9f", "\x99\x82 after"}, // 🙂 in two tokens, over two blocks
		"invalid":    {filler + "\xff\xf0\x9f", "x"},
		"long":       {strings.Repeat("tok ", 100_000), strings.Repeat("é", 50_000)},
	} {
		t.Run(name, func(t *testing.T) {
			res := sessions.TurnResult{
				SessionID: "s<1>", StopReason: backends.StopEndTurn, Text: sessions.TextOf(pieces...),
				Usage: backends.Usage{InputTokens: 3, OutputTokens: 7}, Duration: 1500 * time.Millisecond,
				CostUSD: 0.25, NumTurns: 2, BackendSessionID: "b&1",
			}
			reply, err := newQueryReply(res)
			require.NoError(t, err)
			var out bytes.Buffer
			require.NoError(t, reply.StreamJSON(&out))
			assert.Equal(t, out.Len(), reply.JSONLen(), "JSONLen is what StreamJSON writes")

			want := queryResult(res)
			want.Text = strings.Join(pieces, "")
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			require.NoError(t, enc.Encode(want))
			assert.Equal(t, strings.TrimSuffix(buf.String(), "\n"), out.String(),
				"byte for byte what encoding/json writes for the whole text")
		})
	}
}
