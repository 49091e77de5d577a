package rpc

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// incoming is one decoded JSON-RPC message: a request (method and id), a
// notification (method, no id) or a response (id and result or error).
type incoming struct {
	id     json.RawMessage // as sent (a slice of the body); nil when absent
	key    string          // id as a map key: strings and numbers never collide
	method string
	params json.RawMessage // a slice of the body; nil when absent or null
	result json.RawMessage // a slice of the body; nil when absent
	err    *Error
}

func (m *incoming) isRequest() bool  { return m.method != "" && m.id != nil }
func (m *incoming) isResponse() bool { return m.method == "" }

// badMessage is a message that is answered with an error and skipped.
type badMessage struct {
	code int64
	msg  string
	id   json.RawMessage // the id to echo, or nil for null
}

// maxID is the first integer id refused: ids are kept exact as int64 by
// most clients (JavaScript only to 2^53), and larger ones are taken for
// mistakes rather than silently rounded somewhere.
const maxID = "9223372036854775808" // 2^63

// decodeMessage checks body against JSON-RPC 2.0 and decodes it. Member
// names are matched exactly (JSON-RPC is case-sensitive, unlike Go's
// encoding/json), so "Method" is no method at all. It never fails in a way
// that ends the connection: anything wrong is a *badMessage to answer.
//
// It runs for every message read, and as the ACP client of an agent every
// streamed chunk is one, so it allocates only the *incoming, the method and
// the id's key: json.Valid (a pooled scanner) checks the syntax, and
// members.scan finds the members without reflection or a map. The id,
// params and result it returns are slices of body, not copies: body must
// be the message's own, never written again, as Stream.Read's bodies are
// (a fresh copy each, which the read loop hands on and forgets).
// decodeMessageReference (message_reference_test.go) is the map-decoding
// one it replaced, against which it is fuzzed.
func decodeMessage(body []byte) (*incoming, *badMessage) {
	if !json.Valid(body) {
		return nil, &badMessage{code: CodeParseError, msg: "parse error: the message is not valid JSON"}
	}
	switch body[0] {
	case '[':
		return nil, &badMessage{code: CodeInvalidRequest, msg: "invalid request: batches are not supported; send one message at a time"}
	case '{':
	default:
		return nil, &badMessage{code: CodeInvalidRequest, msg: "invalid request: a message must be a JSON object"}
	}
	var f members
	if !f.scan(body) {
		// Not after json.Valid: a scanner bug is answered, not a panic.
		return nil, &badMessage{code: CodeInvalidRequest, msg: "invalid request: the message's members could not be read"}
	}
	m := &incoming{}
	echo := echoable(f.id)
	bad := func(msg string) (*incoming, *badMessage) {
		return nil, &badMessage{code: CodeInvalidRequest, msg: "invalid request: " + msg, id: echo}
	}
	// Compared as written, so "2\u002e0" is refused, as it always was.
	if string(f.jsonrpc) != `"2.0"` {
		return bad(`"jsonrpc" must be "2.0"`)
	}
	if f.id != nil {
		key, ok := idKey(f.id)
		if !ok {
			return bad("id must be a string or an integer from 0 to 2^63-1")
		}
		m.id, m.key = f.id, key
	}
	hasResult, hasError := f.result != nil, f.error != nil
	switch {
	case f.method != nil:
		method, ok := unquoteString(f.method)
		if !ok || method == "" {
			return bad("method must be a non-empty string")
		}
		m.method = method
		if hasResult || hasError {
			return bad("a request or notification cannot carry a result or error")
		}
		if p := f.params; p != nil {
			// null params are taken as absent: clients send them for
			// methods without params (LSP's shutdown).
			switch p[0] {
			case '{', '[':
				m.params = p
			case 'n':
			default:
				return bad("params must be an object or an array")
			}
		}
	case hasResult || hasError:
		if f.id == nil {
			return bad("a response needs an id")
		}
		if hasResult && hasError {
			return bad("a response has a result or an error, not both")
		}
		if hasError {
			e, ok := decodeError(f.error)
			if !ok {
				return bad(`error must be {"code": integer, "message": string}`)
			}
			m.err = e
		} else {
			m.result = f.result
		}
	default:
		return bad("a message needs a method, or a result or error")
	}
	return m, nil
}

// idKey validates an id and returns it as a map key, in one allocation
// unless a string id has escapes.
func idKey(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	switch raw[0] {
	case '"':
		if s, ok := plainString(raw); ok {
			return "s" + string(s), true
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return "s" + s, true
	case 'n', '{', '[', 't', 'f', '-':
		return "", false
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return "", false // a fraction or an exponent
		}
	}
	if len(raw) > len(maxID) || len(raw) == len(maxID) && string(raw) >= maxID {
		return "", false
	}
	return "n" + string(raw), true
}

// echoable returns raw when it can be sent back exactly as it came (a
// string or a number), else nil (answered with id null).
func echoable(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	switch raw[0] {
	case '"', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return raw
	}
	return nil
}

// decodeError decodes a response's error member, which must be an object
// with an integer code and a string message.
func decodeError(raw json.RawMessage) (*Error, bool) {
	var fields map[string]json.RawMessage
	if raw[0] != '{' || json.Unmarshal(raw, &fields) != nil {
		return nil, false
	}
	code, err := strconv.ParseInt(string(fields["code"]), 10, 64)
	if err != nil {
		return nil, false
	}
	var msg string
	if m, ok := fields["message"]; !ok || json.Unmarshal(m, &msg) != nil {
		return nil, false
	}
	e := &Error{Code: code, Message: msg}
	if d, ok := fields["data"]; ok && !bytes.Equal(d, []byte("null")) {
		e.Data = d
	}
	return e, true
}
