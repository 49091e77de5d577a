package rpc

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/internal/testenv"
)

// codes are the Code constants of files, by file and name.
func codes(t *testing.T, files ...string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, file := range files {
		for name, lit := range testenv.Consts(t, file) {
			if strings.HasPrefix(name, "Code") {
				out[file+": "+name] = testenv.ConstInt(t, lit)
			}
		}
	}
	require.NotEmpty(t, out)
	return out
}

func TestErrorCodesAreUniqueAndMirroredInProtocolMD(t *testing.T) {
	doc, err := os.ReadFile("../protocol.md")
	require.NoError(t, err)
	seen := map[int64]string{}
	// The transport's codes and Tether's own share one table in
	// protocol.md; ACP's are its own (handlers/acp).
	for name, code := range codes(t, "errors.go", "../protocol/errors.go") {
		if other, dup := seen[code]; dup {
			t.Errorf("%s and %s share code %d", name, other, code)
		}
		seen[code] = name
		row := regexp.MustCompile(fmt.Sprintf("(?m)^\\|\\s*`?%d`?\\s*\\|", code))
		assert.Regexp(t, row, string(doc), "protocol.md's error table has no row for %s (%d)", name, code)
	}
}

func TestAsErrorKeepsCodesAndDefaultsToInternal(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int64
	}{
		{&Error{Code: -32010, Message: "busy"}, -32010},
		{fmt.Errorf("wrapped: %w", &Error{Code: -32011, Message: "x"}), -32011},
		{fmt.Errorf("%w: frob", ErrMethodNotFound), CodeMethodNotFound},
		{ErrRequestCancelled, CodeRequestCancelled},
		{ErrClosed, CodeRequestCancelled},
		{fmt.Errorf("something unforeseen"), CodeInternalError},
	} {
		assert.Equal(t, tc.code, asError(tc.err).Code, "%v", tc.err)
	}
}
