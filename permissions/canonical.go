package permissions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tether-dev/tether/internal/jsonwire"
)

// Errors of canonical.
var (
	errInvalidJSON  = errors.New("not valid JSON")
	errDuplicateKey = errors.New("an object has a key twice")
)

// canonical returns the JSON value in input in canonical form: object keys
// sorted, no insignificant white space, strings escaped as encoding/json
// escapes them without HTML escaping, numbers as written. Two inputs that
// a tool reads alike have the same canonical form. An input that tools
// may read differently (a key given twice, bytes that are not UTF-8) has
// none.
func canonical(input []byte) ([]byte, error) {
	if !utf8.Valid(input) {
		return nil, fmt.Errorf("%w: not UTF-8", errInvalidJSON)
	}
	dec := json.NewDecoder(bytes.NewReader(input))
	dec.UseNumber()
	out, err := canonicalValue(dec, nil)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: more after the value", errInvalidJSON)
	}
	return out, nil
}

// canonicalValue appends the next value of dec to out.
func canonicalValue(dec *json.Decoder, out []byte) ([]byte, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalidJSON, err)
	}
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			return canonicalObject(dec, out)
		case '[':
			out = append(out, '[')
			for i := 0; dec.More(); i++ {
				if i > 0 {
					out = append(out, ',')
				}
				if out, err = canonicalValue(dec, out); err != nil {
					return nil, err
				}
			}
			if _, err := dec.Token(); err != nil { // ]
				return nil, fmt.Errorf("%w: %w", errInvalidJSON, err)
			}
			return append(out, ']'), nil
		}
		return nil, fmt.Errorf("%w: unexpected %v", errInvalidJSON, v)
	case string:
		return jsonwire.AppendString(out, v), nil
	case json.Number:
		return append(out, v...), nil
	case bool:
		if v {
			return append(out, "true"...), nil
		}
		return append(out, "false"...), nil
	case nil:
		return append(out, "null"...), nil
	}
	return nil, fmt.Errorf("%w: unexpected token %v", errInvalidJSON, tok)
}

// canonicalObject appends the rest of an object whose '{' was read.
func canonicalObject(dec *json.Decoder, out []byte) ([]byte, error) {
	type member struct {
		key   string
		value []byte
	}
	var members []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errInvalidJSON, err)
		}
		key, _ := tok.(string)
		value, err := canonicalValue(dec, nil)
		if err != nil {
			return nil, err
		}
		members = append(members, member{key, value})
	}
	if _, err := dec.Token(); err != nil { // }
		return nil, fmt.Errorf("%w: %w", errInvalidJSON, err)
	}
	slices.SortFunc(members, func(a, b member) int { return strings.Compare(a.key, b.key) })
	out = append(out, '{')
	for i, m := range members {
		if i > 0 {
			if members[i-1].key == m.key {
				return nil, fmt.Errorf("%w: %q", errDuplicateKey, m.key)
			}
			out = append(out, ',')
		}
		out = jsonwire.AppendString(out, m.key)
		out = append(out, ':')
		out = append(out, m.value...)
	}
	return append(out, '}'), nil
}
