package rpc

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// decodeMessageReference is decodeMessage as it was before it stopped
// decoding through encoding/json into a map (reflection, a map and a copy
// of every member value: about 20 allocations a message). It is kept, with
// the helpers it called as they were then, as the specification the faster
// one is checked against (message_diff_test.go): same messages taken, same
// fields, same answers to what is refused. Do not "fix" it; change both
// together, deliberately, or neither.
func decodeMessageReference(body []byte) (*incoming, *badMessage) {
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
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, &badMessage{code: CodeInvalidRequest, msg: "invalid request: " + err.Error()}
	}
	m := &incoming{}
	idRaw, hasID := fields["id"]
	echo := echoableReference(idRaw)
	bad := func(msg string) (*incoming, *badMessage) {
		return nil, &badMessage{code: CodeInvalidRequest, msg: "invalid request: " + msg, id: echo}
	}
	if string(fields["jsonrpc"]) != `"2.0"` {
		return bad(`"jsonrpc" must be "2.0"`)
	}
	if hasID {
		key, ok := idKeyReference(idRaw)
		if !ok {
			return bad("id must be a string or an integer from 0 to 2^63-1")
		}
		m.id, m.key = idRaw, key
	}
	methodRaw, hasMethod := fields["method"]
	resultRaw, hasResult := fields["result"]
	errorRaw, hasError := fields["error"]
	switch {
	case hasMethod:
		if json.Unmarshal(methodRaw, &m.method) != nil || m.method == "" {
			return bad("method must be a non-empty string")
		}
		if hasResult || hasError {
			return bad("a request or notification cannot carry a result or error")
		}
		if p, ok := fields["params"]; ok {
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
		if !hasID {
			return bad("a response needs an id")
		}
		if hasResult && hasError {
			return bad("a response has a result or an error, not both")
		}
		if hasError {
			e, ok := decodeErrorReference(errorRaw)
			if !ok {
				return bad(`error must be {"code": integer, "message": string}`)
			}
			m.err = e
		} else {
			m.result = resultRaw
		}
	default:
		return bad("a message needs a method, or a result or error")
	}
	return m, nil
}

// idKeyReference is idKey as decodeMessageReference called it.
func idKeyReference(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return "s" + s, true
	case 'n', '{', '[', 't', 'f', '-':
		return "", false
	}
	digits := string(raw)
	for _, c := range digits {
		if c < '0' || c > '9' {
			return "", false // a fraction or an exponent
		}
	}
	if len(digits) > len(maxID) || len(digits) == len(maxID) && digits >= maxID {
		return "", false
	}
	return "n" + digits, true
}

// echoableReference is echoable as decodeMessageReference called it.
func echoableReference(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	switch raw[0] {
	case '"', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return raw
	}
	return nil
}

// decodeErrorReference is decodeError as decodeMessageReference called it.
func decodeErrorReference(raw json.RawMessage) (*Error, bool) {
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
