// Package params decodes the params of a request for a dialect, with
// errors that name the parameter at fault, as every dialect answers them.
package params

import (
	"encoding/json"
	"errors"

	"github.com/tether-dev/tether/sessions"
)

// Decode decodes raw into v. Errors are *sessions.ParamError naming the
// field that is wrong; absent params are an error only when required.
// Unknown fields are ignored, so that clients can send fields newer
// versions understand (ACP's extensibility asks the same).
func Decode(raw json.RawMessage, v any, required bool) error {
	if len(raw) == 0 {
		if required {
			return &sessions.ParamError{Field: "params", Reason: "required"}
		}
		return nil
	}
	if raw[0] != '{' {
		return &sessions.ParamError{Field: "params", Reason: "must be an object (by-name params)"}
	}
	if err := json.Unmarshal(raw, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return &sessions.ParamError{Field: te.Field, Reason: "must be " + jsonKind(te.Type.Kind().String()) + ", got " + te.Value}
		}
		return &sessions.ParamError{Field: "params", Reason: err.Error()}
	}
	return nil
}

// jsonKind names a Go kind the way a JSON user would.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return "a number"
}
