package rpc

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// refusedMessages are bodies decodeMessage answers with an error; the
// differential test (message_diff_test.go) checks them against the
// reference too.
var refusedMessages = []struct {
	name, body string
	code       int64
	id         string // the id echoed; "" for null
}{
	{"not json", `{"jsonrpc":"2.0","id":1,"method":`, CodeParseError, ""},
	{"garbage", `hello tether`, CodeParseError, ""},
	{"batch", `[{"jsonrpc":"2.0","id":1,"method":"session/list"}]`, CodeInvalidRequest, ""},
	{"scalar", `42`, CodeInvalidRequest, ""},
	{"no method", `{"jsonrpc":"2.0","id":1}`, CodeInvalidRequest, "1"},
	{"no version", `{"id":1,"method":"session/list"}`, CodeInvalidRequest, "1"},
	{"method not a string", `{"jsonrpc":"2.0","id":1,"method":7}`, CodeInvalidRequest, "1"},
	{"empty method", `{"jsonrpc":"2.0","id":1,"method":""}`, CodeInvalidRequest, "1"},
	{"params not structured", `{"jsonrpc":"2.0","id":1,"method":"m","params":3}`, CodeInvalidRequest, "1"},
	// JSON-RPC's member names are case-sensitive; Go's decoder is not.
	{"member in another case", `{"jsonrpc":"2.0","id":1,"Method":"session/list"}`, CodeInvalidRequest, "1"},
	{"version in another case", `{"JSONRPC":"2.0","id":1,"method":"session/list"}`, CodeInvalidRequest, "1"},
	{"request with a result", `{"jsonrpc":"2.0","id":1,"method":"session/list","result":1}`, CodeInvalidRequest, "1"},
	{"request with an error", `{"jsonrpc":"2.0","id":1,"method":"session/list","params":{},"error":{"code":1,"message":"m"}}`, CodeInvalidRequest, "1"},
	{"error code not an integer", `{"jsonrpc":"2.0","id":1,"error":{"code":"x","message":"m"}}`, CodeInvalidRequest, "1"},
	{"error code fractional", `{"jsonrpc":"2.0","id":1,"error":{"code":1.5,"message":"m"}}`, CodeInvalidRequest, "1"},
	{"error without message", `{"jsonrpc":"2.0","id":1,"error":{"code":1}}`, CodeInvalidRequest, "1"},
	{"error a string", `{"jsonrpc":"2.0","id":1,"result":1,"error":"boom"}`, CodeInvalidRequest, "1"},
	{"result and error", `{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":"m"}}`, CodeInvalidRequest, "1"},
	{"response without id", `{"jsonrpc":"2.0","result":1}`, CodeInvalidRequest, ""},
	{"null id", `{"jsonrpc":"2.0","id":null,"method":"session/list"}`, CodeInvalidRequest, ""},
	{"object id", `{"jsonrpc":"2.0","id":{"a":1},"method":"session/list"}`, CodeInvalidRequest, ""},
	{"fractional id", `{"jsonrpc":"2.0","id":1.5,"method":"session/list"}`, CodeInvalidRequest, "1.5"},
	{"negative id", `{"jsonrpc":"2.0","id":-5,"method":"session/list"}`, CodeInvalidRequest, "-5"},
	{"id of 2^63", `{"jsonrpc":"2.0","id":9223372036854775808,"method":"session/list"}`, CodeInvalidRequest, "9223372036854775808"},
	{"id above 2^64", `{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"session/list"}`, CodeInvalidRequest, "123456789012345678901234567890"},
	{"id with exponent", `{"jsonrpc":"2.0","id":1e3,"method":"session/list"}`, CodeInvalidRequest, "1e3"},
	// The version is compared as written, not unescaped.
	{"version spelt with an escape", `{"jsonrpc":"2\u002e0","id":1,"method":"session/list"}`, CodeInvalidRequest, "1"},
	{"empty object", `{}`, CodeInvalidRequest, ""},
	{"a later null id wins", `{"jsonrpc":"2.0","id":1,"id":null,"method":"session/list"}`, CodeInvalidRequest, ""},
}

func TestDecodeMessageAnswersWhatIsNotJSONRPC(t *testing.T) {
	for _, tc := range refusedMessages {
		t.Run(tc.name, func(t *testing.T) {
			m, bad := decodeMessage([]byte(tc.body))
			require.Nil(t, m)
			require.NotNil(t, bad)
			assert.Equal(t, tc.code, bad.code, bad.msg)
			assert.Equal(t, tc.id, string(bad.id), "the id is echoed exactly as sent, or null")
		})
	}
}

// acceptedMessages are bodies decodeMessage takes, and what they are.
var acceptedMessages = []struct {
	name, body string
	request    bool
	response   bool
}{
	{"request", `{"jsonrpc":"2.0","id":1,"method":"m","params":{}}`, true, false},
	{"largest id", `{"jsonrpc":"2.0","id":9223372036854775807,"method":"m"}`, true, false},
	{"string id", `{"jsonrpc":"2.0","id":"abc","method":"m","params":[1]}`, true, false},
	{"null params", `{"jsonrpc":"2.0","id":0,"method":"shutdown","params":null}`, true, false},
	{"notification", `{"jsonrpc":"2.0","method":"exit"}`, false, false},
	{"unknown members", `{"jsonrpc":"2.0","id":2,"method":"m","extra":true}`, true, false},
	{"result", `{"jsonrpc":"2.0","id":"tether-1","result":{"content":"x"}}`, false, true},
	{"null result", `{"jsonrpc":"2.0","id":"tether-1","result":null}`, false, true},
	{"error", `{"jsonrpc":"2.0","id":"tether-1","error":{"code":-1,"message":"no","data":{"a":1}}}`, false, true},
	// Member names are matched after unescaping, as JSON means them.
	{"escaped member names", `{"\u006a\u0073onrpc":"2.0","\u0069d":1,"\u006dethod":"m"}`, true, false},
	{"a later id wins", `{"jsonrpc":"2.0","id":null,"id":3,"method":"m"}`, true, false},
	{"white space everywhere", "{ \"jsonrpc\" :\t\"2.0\" ,\r\n\"method\" : \"m\" }", false, false},
}

func TestDecodeMessageTakesWhatIsValid(t *testing.T) {
	for _, tc := range acceptedMessages {
		t.Run(tc.name, func(t *testing.T) {
			m, bad := decodeMessage([]byte(tc.body))
			require.Nil(t, bad)
			assert.Equal(t, tc.request, m.isRequest())
			assert.Equal(t, tc.response, m.isResponse())
		})
	}
}

func TestDecodeMessageKeepsValuesAsWritten(t *testing.T) {
	body := "{ \"jsonrpc\":\"2.0\", \"id\" :\t\"a\\u0062\" ,\n\"m\\u0065thod\": \"s\\u00e9\\\"}\" ," +
		"\"params\": [1], \"params\" : { \"a\" : \"}]\\\"\" , \"b\":[ {} ] } }"
	m, bad := decodeMessage([]byte(body))
	require.Nil(t, bad)
	assert.Equal(t, `"a\u0062"`, string(m.id), "the id as sent, without the white space around it")
	assert.Equal(t, "sab", m.key)
	assert.Equal(t, "s\u00e9\"}", m.method, "unescaped")
	assert.Equal(t, `{ "a" : "}]\"" , "b":[ {} ] }`, string(m.params), "the last params, exactly as written inside")
}

func TestIDKeysOfStringsAndNumbersNeverCollide(t *testing.T) {
	n, ok := idKey([]byte(`1`))
	require.True(t, ok)
	s, ok := idKey([]byte(`"1"`))
	require.True(t, ok)
	assert.NotEqual(t, n, s)
	escaped, ok := idKey([]byte(`"\u0031"`))
	require.True(t, ok)
	assert.Equal(t, s, escaped, "the same string, spelt two ways, is the same id")
}
