package acp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/internal/testenv"
	"github.com/tether-dev/tether/rpc"
	"github.com/tether-dev/tether/sessions"
)

func TestWireErrorMapsEveryKind(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int64
	}{
		{&sessions.ParamError{Field: "cwd", Reason: "x"}, rpc.CodeInvalidParams},
		{fmt.Errorf("%w: images", backends.ErrUnsupported), rpc.CodeInvalidParams},
		{rpc.ErrRequestCancelled, rpc.CodeRequestCancelled},
		{context.Canceled, rpc.CodeRequestCancelled},
		{fmt.Errorf("turn: %w: %w: please log in", backends.ErrFailed, backends.ErrAuthRequired), CodeAuthRequired},
		{fmt.Errorf("%w: %q", sessions.ErrNotFound, "s"), CodeResourceNotFound},
		{sessions.ErrClosed, CodeResourceNotFound},
		{sessions.ErrBusy, rpc.CodeInternalError},
		{fmt.Errorf("%w: claude: install it", backends.ErrUnavailable), rpc.CodeInternalError},
		{fmt.Errorf("%w: overloaded", backends.ErrFailed), rpc.CodeInternalError},
		{sessions.ErrShuttingDown, rpc.CodeInternalError},
		{sessions.ErrShutdownTimeout, rpc.CodeInternalError},
	} {
		e := WireError(tc.err)
		require.NotNil(t, e, "%v", tc.err)
		assert.Equal(t, tc.code, e.Code, "%v", tc.err)
		assert.Equal(t, tc.err.Error(), e.Message, "the message is the error's own")
	}
	assert.Nil(t, WireError(errors.New("something unforeseen")), "left to the transport: an internal error")
	e := WireError(&sessions.ParamError{Field: "prompt", Reason: "required"})
	assert.JSONEq(t, `{"field":"prompt"}`, string(e.Data))
}

// TestErrorCodesAreListedInProtocolMD keeps protocol.md's ACP chapter in
// step with the codes: those of this package, read from errors.go's
// source so that a new one is checked without anyone listing it here, and
// the transport's that the dialect answers with.
func TestErrorCodesAreListedInProtocolMD(t *testing.T) {
	doc, err := os.ReadFile("../../protocol.md")
	require.NoError(t, err)
	chapter := acpChapter(t, string(doc))
	codes := map[string]int64{
		"rpc.CodeParseError": rpc.CodeParseError, "rpc.CodeInvalidRequest": rpc.CodeInvalidRequest,
		"rpc.CodeMethodNotFound": rpc.CodeMethodNotFound, "rpc.CodeInvalidParams": rpc.CodeInvalidParams,
		"rpc.CodeInternalError": rpc.CodeInternalError, "rpc.CodeRequestCancelled": rpc.CodeRequestCancelled,
	}
	own := constCodes(t, "errors.go")
	require.NotEmpty(t, own)
	seen := map[int64]string{}
	for name, code := range own {
		if other, dup := seen[code]; dup {
			t.Errorf("%s and %s share code %d", name, other, code)
		}
		seen[code] = name
		codes[name] = code
	}
	for name, code := range codes {
		row := regexp.MustCompile(fmt.Sprintf("(?m)^\\|\\s*`?%d`?\\s*\\|", code))
		assert.Regexp(t, row, chapter, "protocol.md's ACP chapter has no error row for %s (%d)", name, code)
	}
}

// acpChapter is protocol.md from its ACP heading to the next chapter.
func acpChapter(t *testing.T, doc string) string {
	start := regexp.MustCompile(`(?m)^## ACP`).FindStringIndex(doc)
	require.NotNil(t, start, "protocol.md has an \"## ACP\" chapter")
	rest := doc[start[1]:]
	if end := regexp.MustCompile(`(?m)^## `).FindStringIndex(rest); end != nil {
		rest = rest[:end[0]]
	}
	return rest
}

// constCodes reads the Code constants of file from its source.
func constCodes(t *testing.T, file string) map[string]int64 {
	out := map[string]int64{}
	for name, lit := range testenv.Consts(t, file) {
		if strings.HasPrefix(name, "Code") {
			out[name] = testenv.ConstInt(t, lit)
		}
	}
	return out
}
