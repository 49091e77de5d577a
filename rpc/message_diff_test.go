package rpc

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// diffCases are bodies chosen where a hand-written member scanner could
// part from encoding/json's map decode: member names spelt with escapes,
// duplicate members, white space, strings holding brackets and quotes,
// unicode and broken UTF-8, ids at the edges, and nesting.
var diffCases = []string{
	// Member names match after unescaping, and only exactly.
	`{"jsonrpc":"2.0","id":1,"\u006dethod":"m"}`,
	`{"jsonrpc":"2.0","id":1,"\u006Dethod":"m"}`,
	`{"\u006a\u0073\u006f\u006e\u0072\u0070\u0063":"2.0","method":"m"}`,
	`{"jsonrpc":"2.0","\u0069\u0064":"x","method":"m"}`,
	`{"jsonrpc":"2.0","method":"m","para\u006ds":{"a":1}}`,
	`{"jsonrpc":"2.0","id":1,"res\u0075lt":[]}`,
	`{"jsonrpc":"2.0","id":1,"\u0065rror":{"code":1,"message":"m"}}`,
	`{"jsonrpc":"2.0","id":1,"Method":"m"}`,
	`{"jsonrpc":"2.0","id":1,"meth\u00f6d":"m"}`,
	`{"jsonrpc":"2.0","id":1,"method\u0000":"m"}`,
	`{"jsonrpc":"2.0","id":1,"\ud800method":"m"}`,
	`{"jsonrpc":"2.0","id":1,"me\"thod":"m"}`,
	`{"jsonrpc":"2.0","id":1,"me\/thod":"m"}`,
	`{"jsonrpc":"2.0","id":1,"\/":"m","method":"n"}`,
	`{"jsonrpc":"2.0","id":1,"methodmethod":"m"}`,
	`{"jsonrpc":"2.0","id":1,"metho":"m"}`,
	`{"jsonrpc":"2.0","id":1,"":"m","method":"n"}`,
	"{\"jsonrpc\":\"2.0\",\"id\":1,\"meth\xffod\":\"m\"}",
	"{\"jsonrpc\":\"2.0\",\"id\":1,\"\xef\xbf\xbd\":\"m\",\"method\":\"n\"}",
	// Duplicate members: the last one wins.
	`{"jsonrpc":"2.0","method":"a","method":"b"}`,
	`{"jsonrpc":"1.0","jsonrpc":"2.0","method":"m"}`,
	`{"jsonrpc":"2.0","jsonrpc":"1.0","method":"m"}`,
	`{"jsonrpc":"2.0","id":1,"id":"two","method":"m"}`,
	`{"jsonrpc":"2.0","id":1,"\u0069d":null,"method":"m"}`,
	`{"jsonrpc":"2.0","method":"m","params":{"a":1},"params":null}`,
	`{"jsonrpc":"2.0","method":"m","params":null,"params":[1]}`,
	`{"jsonrpc":"2.0","id":1,"result":1,"result":null}`,
	`{"jsonrpc":"2.0","id":1,"error":"x","error":{"code":2,"message":"n"}}`,
	// White space everywhere.
	"{ \"jsonrpc\" : \"2.0\" , \"id\" : 1 , \"method\" : \"m\" , \"params\" : { \"a\" : [ 1 , 2 ] } }",
	"{\t\r\n\"jsonrpc\"\t:\r\n\"2.0\"\n,\n\"method\"\n:\n\"m\"\n,\"params\"\t:\t[\t]\t}",
	"{\"jsonrpc\":\"2.0\",\"id\":\"r\",\"result\" :\n null \n}",
	"{\"jsonrpc\":\"2.0\",\"id\":1 ,\"result\":  {\"a\" : 1}  }",
	` {"jsonrpc":"2.0","id":2,"method":"m"}`,
	`{"jsonrpc":"2.0","id":2,"method":"m"}` + " \n\t",
	"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"m\"}\n{}",
	// Strings inside values that hold brackets, quotes and escapes.
	`{"jsonrpc":"2.0","method":"m","params":{"a":"}]\"\\","b":[{"c":"]}"}],"d":"\\\"","e":"\u007d"},"id":3}`,
	`{"jsonrpc":"2.0","method":"m","params":["}","]","{","[","\"","\\",":",","],"id":"\"}"}`,
	`{"jsonrpc":"2.0","id":"a\"b\\c","result":"}"}`,
	`{"jsonrpc":"2.0","id":1,"result":{"a":{"b":{"c":[[],[{}],"]]]"]}}}}`,
	`{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"a \"quoted\" }","data":["}"]}}`,
	// Unicode and broken UTF-8 in methods and ids.
	`{"jsonrpc":"2.0","id":1,"method":"séance/日本"}`,
	`{"jsonrpc":"2.0","id":1,"method":"s\u00e9ance"}`,
	`{"jsonrpc":"2.0","id":1,"method":"\ud83d\ude00"}`,
	`{"jsonrpc":"2.0","id":1,"method":"\ud800"}`,
	`{"jsonrpc":"2.0","id":1,"method":"\udc00\ud800x"}`,
	`{"jsonrpc":"2.0","id":1,"method":"a\nb\t\/\b\f\r"}`,
	`{"jsonrpc":"2.0","id":1,"method":"\u0000"}`,
	"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}",
	"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\xc3\"}",
	"{\"jsonrpc\":\"2.0\",\"id\":\"\xff\",\"method\":\"m\"}",
	`{"jsonrpc":"2.0","id":"\ud800","method":"m"}`,
	`{"jsonrpc":"2.0","id":"日本","method":"m"}`,
	`{"jsonrpc":"2.0","id":"\u0031","method":"m"}`,
	`{"jsonrpc":"2.0","id":"","method":"m"}`,
	`{"jsonrpc":"2.0","id":1,"method":""}`,
	`{"jsonrpc":"2.0","id":1,"method":null}`,
	`{"jsonrpc":"2.0","id":1,"method":["m"]}`,
	`{"jsonrpc":"2.0","id":1,"method":true}`,
	// Ids at and beyond 2^63, negative, fractional, exponents.
	`{"jsonrpc":"2.0","id":0,"method":"m"}`,
	`{"jsonrpc":"2.0","id":9223372036854775807,"method":"m"}`,
	`{"jsonrpc":"2.0","id":9223372036854775808,"method":"m"}`,
	`{"jsonrpc":"2.0","id":9223372036854775809,"method":"m"}`,
	`{"jsonrpc":"2.0","id":9999999999999999999,"method":"m"}`,
	`{"jsonrpc":"2.0","id":1000000000000000000,"method":"m"}`,
	`{"jsonrpc":"2.0","id":18446744073709551616,"method":"m"}`,
	`{"jsonrpc":"2.0","id":-1,"method":"m"}`,
	`{"jsonrpc":"2.0","id":-0,"method":"m"}`,
	`{"jsonrpc":"2.0","id":1.0,"method":"m"}`,
	`{"jsonrpc":"2.0","id":0.5,"method":"m"}`,
	`{"jsonrpc":"2.0","id":1E2,"method":"m"}`,
	`{"jsonrpc":"2.0","id":true,"method":"m"}`,
	`{"jsonrpc":"2.0","id":false,"result":1}`,
	`{"jsonrpc":"2.0","id":[1],"result":1}`,
	`{"jsonrpc":"2.0","id":-7,"result":1}`,
	`{"jsonrpc":"2.0","id":"x","result":1}`,
	`{"jsonrpc":"2.0","id":null,"result":1}`,
	// The version, spelt otherwise.
	`{"jsonrpc":"2\u002e0","method":"m"}`,
	`{"jsonrpc":"\u0032.0","method":"m"}`,
	`{"jsonrpc":2.0,"method":"m"}`,
	`{"jsonrpc":"2.00","method":"m"}`,
	`{"jsonrpc":null,"method":"m"}`,
	`{"jsonrpc":"2.0 ","method":"m"}`,
	`{"jsonrpc" : "2.0"  ,"method":"m"}`,
	// Empty, scalar and broken messages.
	``, ` `, `{}`, `{ }`, `{"":""}`, `[]`, `"str"`, `true`, `null`, `0`, `{`, `}`, `{"a"}`,
	`{"a":1,}`, `{"a":1}x`, `{"jsonrpc":"2.0","method":"m"`, `{"jsonrpc":"2.0","method":"m"}}`,
	`{'jsonrpc':'2.0'}`, `{"jsonrpc":"2.0","method":"m","params":[1,]}`, `{"a":"\x"}`, `{"a":"\u12"}`,
	"{\"a\":\"\x01\"}", `{"a":01}`, `{"a":1.}`, `{"a":-}`, `{"a":tru}`, `{"a":nul}`,
	// Params and results of every kind.
	`{"jsonrpc":"2.0","method":"m","params":"x"}`,
	`{"jsonrpc":"2.0","method":"m","params":1}`,
	`{"jsonrpc":"2.0","method":"m","params":-1}`,
	`{"jsonrpc":"2.0","method":"m","params":true}`,
	`{"jsonrpc":"2.0","method":"m","params":false}`,
	`{"jsonrpc":"2.0","method":"m","params":[]}`,
	`{"jsonrpc":"2.0","id":1,"result":"x"}`,
	`{"jsonrpc":"2.0","id":1,"result":false}`,
	`{"jsonrpc":"2.0","id":1,"result":-1.5e3}`,
	`{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"m","data":null}}`,
	`{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"m","data":0}}`,
	`{"jsonrpc":"2.0","id":1,"error":{"code":9223372036854775808,"message":"m"}}`,
	`{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":null}}`,
	`{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"\u00e9","message":"x"}}`,
	`{"jsonrpc":"2.0","id":1,"error":null}`,
	`{"jsonrpc":"2.0","id":1,"error":[]}`,
	`{"jsonrpc":"2.0","error":{"code":1,"message":"m"}}`,
	// Deep nesting, under and over encoding/json's limit of 10000.
	`{"jsonrpc":"2.0","method":"m","params":` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) + `}`,
	`{"jsonrpc":"2.0","method":"m","params":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
	`{"jsonrpc":"2.0","method":"m","params":` + strings.Repeat(`{"a":`, 500) + "1" + strings.Repeat("}", 500) + `}`,
}

// referenceSeeds are every body the tests know: the cases above, the
// decodeMessage tests', FuzzStream's seeds and its corpus in testdata.
func referenceSeeds(tb testing.TB) []string {
	tb.Helper()
	seeds := append([]string(nil), diffCases...)
	for _, tc := range refusedMessages {
		seeds = append(seeds, tc.body)
	}
	for _, tc := range acceptedMessages {
		seeds = append(seeds, tc.body)
	}
	inputs := append([]string(nil), fuzzSeeds...)
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzStream", "*"))
	if err != nil {
		tb.Fatalf("listing FuzzStream's corpus: %v", err)
	}
	for _, name := range files {
		input, err := corpusString(name)
		if err != nil {
			tb.Fatal(err)
		}
		inputs = append(inputs, input)
	}
	// A FuzzStream input holds one message a line, as the stream reads
	// them (trimmed); the whole input is a body of its own too.
	for _, input := range inputs {
		seeds = append(seeds, input)
		for _, line := range strings.Split(input, "\n") {
			seeds = append(seeds, strings.TrimSpace(line))
		}
	}
	return seeds
}

// corpusString reads the first string(...) value of a go test fuzz v1 file.
func corpusString(name string) (string, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if q, ok := strings.CutPrefix(line, "string("); ok {
			s, err := strconv.Unquote(strings.TrimSuffix(q, ")"))
			if err != nil {
				return "", fmt.Errorf("fuzz corpus file %s: %w", name, err)
			}
			return s, nil
		}
	}
	return "", fmt.Errorf("fuzz corpus file %s: no string value", name)
}

func TestDecodeMessageMatchesReference(t *testing.T) {
	for _, body := range referenceSeeds(t) {
		checkSameDecoding(t, []byte(body))
	}
}

// FuzzDecodeMessageMatchesReference checks decodeMessage against the
// map-decoding one it replaced, on any bytes: the same message taken with
// the same fields (byte for byte, nil where it was nil), or the same
// answer (code, text, echoed id). idKey is checked against its old self
// on the same bytes as a raw id.
func FuzzDecodeMessageMatchesReference(f *testing.F) {
	for _, body := range referenceSeeds(f) {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkSameDecoding(t, body)
		key, ok := idKey(body)
		wantKey, wantOK := idKeyReference(body)
		if key != wantKey || ok != wantOK {
			t.Fatalf("idKey(%q) = %q, %v; the reference gives %q, %v", body, key, ok, wantKey, wantOK)
		}
	})
}

func checkSameDecoding(t *testing.T, body []byte) {
	t.Helper()
	// Each decoder gets its own copy: neither may see what the other did
	// to its input, if either wrote to it.
	m, bad := decodeMessage(bytes.Clone(body))
	want, wantBad := decodeMessageReference(bytes.Clone(body))
	if (m == nil) != (want == nil) || (bad == nil) != (wantBad == nil) {
		t.Fatalf("%q: decoded %+v, %+v; the reference %+v, %+v", body, m, bad, want, wantBad)
	}
	if bad != nil {
		if bad.code != wantBad.code || bad.msg != wantBad.msg || !sameRaw(bad.id, wantBad.id) {
			t.Fatalf("%q: answered %d %q id %q; the reference %d %q id %q", body,
				bad.code, bad.msg, bad.id, wantBad.code, wantBad.msg, wantBad.id)
		}
		return
	}
	switch {
	case m.method != want.method:
		t.Fatalf("%q: method %q; the reference %q", body, m.method, want.method)
	case m.key != want.key:
		t.Fatalf("%q: id key %q; the reference %q", body, m.key, want.key)
	case !sameRaw(m.id, want.id):
		t.Fatalf("%q: id %q; the reference %q", body, m.id, want.id)
	case !sameRaw(m.params, want.params):
		t.Fatalf("%q: params %q; the reference %q", body, m.params, want.params)
	case !sameRaw(m.result, want.result):
		t.Fatalf("%q: result %q; the reference %q", body, m.result, want.result)
	case (m.err == nil) != (want.err == nil):
		t.Fatalf("%q: error %+v; the reference %+v", body, m.err, want.err)
	case m.err != nil && (m.err.Code != want.err.Code || m.err.Message != want.err.Message || !sameRaw(m.err.Data, want.err.Data)):
		t.Fatalf("%q: error %+v; the reference %+v", body, m.err, want.err)
	}
}

// sameRaw compares raw JSON byte for byte, and absent (nil) apart from
// present.
func sameRaw(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

// The messages decodeMessage sees most: a streamed chunk from an ACP agent
// (when Tether is its client) and an editor's request.
var (
	benchChunk   = []byte(`{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"sess-1","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"Hello, wor"}}}}`)
	benchRequest = []byte(`{"jsonrpc":"2.0","id":7,"method":"session/prompt","params":{"sessionId":"sess-1","prompt":[{"type":"text","text":"explain this function"}]}}`)
)

func BenchmarkDecodeMessage(b *testing.B) {
	for _, bc := range []struct {
		name string
		body []byte
	}{{"chunk", benchChunk}, {"request", benchRequest}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.body)))
			for b.Loop() {
				if _, bad := decodeMessage(bc.body); bad != nil {
					b.Fatal(bad.msg)
				}
			}
		})
	}
}

// A message costs its *incoming, its method and its id's key, and nothing
// else: every streamed chunk from an ACP agent is one.
func TestDecodeMessageAllocatesOnlyWhatItReturns(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's sync.Pool drops json.Valid's scanners")
	}
	for _, tc := range []struct {
		name, body string
		allocs     float64
	}{
		{"chunk notification", string(benchChunk), 2},
		{"request", string(benchRequest), 3},
		{"string id", `{"jsonrpc":"2.0","id":"tether-12","method":"session/prompt","params":{}}`, 3},
		{"escaped member names", `{"\u006a\u0073onrpc":"2.0","i\u0064":4,"\u006dethod":"session/cancel","param\u0073":[1]}`, 3},
		{"result", `{"jsonrpc":"2.0","id":"tether-3","result":{"stopReason":"end_turn"}}`, 2},
		{"null params", `{"jsonrpc":"2.0","id":0,"method":"shutdown","params":null}`, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			allocs := testing.AllocsPerRun(100, func() {
				if _, bad := decodeMessage(body); bad != nil {
					t.Fatal(bad.msg)
				}
			})
			assert.Equal(t, tc.allocs, allocs)
		})
	}
}
