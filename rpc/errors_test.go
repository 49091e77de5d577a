package rpc

import (
	"errors"
	"fmt"
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/sessions"
)

// codes reads the Code constants of errors.go from its source, so a new code
// is checked without anyone remembering to add it to a list.
func codes(t *testing.T) map[string]int64 {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "errors.go", nil, 0)
	require.NoError(t, err)
	out := map[string]int64{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Code") {
					continue
				}
				lit := vs.Values[i]
				v := constant.MakeFromLiteral(strings.TrimPrefix(exprString(lit), "-"), token.INT, 0)
				n, _ := constant.Int64Val(v)
				if strings.HasPrefix(exprString(lit), "-") {
					n = -n
				}
				out[name.Name] = n
			}
		}
	}
	require.NotEmpty(t, out)
	return out
}

func exprString(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.BasicLit:
		return e.Value
	case *ast.UnaryExpr:
		return e.Op.String() + exprString(e.X)
	}
	return ""
}

func TestErrorCodesAreUniqueAndMirroredInProtocolMD(t *testing.T) {
	doc, err := os.ReadFile("../protocol.md")
	require.NoError(t, err)
	seen := map[int64]string{}
	for name, code := range codes(t) {
		if other, dup := seen[code]; dup {
			t.Errorf("%s and %s share code %d", name, other, code)
		}
		seen[code] = name
		row := regexp.MustCompile(fmt.Sprintf("(?m)^\\|\\s*`?%d`?\\s*\\|", code))
		assert.Regexp(t, row, string(doc), "protocol.md's error table has no row for %s (%d)", name, code)
	}
}

func TestWireErrorMapsEveryKind(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int64
	}{
		{&sessions.ParamError{Field: "cwd", Reason: "x"}, CodeInvalidParams},
		{fmt.Errorf("wrapped: %w", &sessions.ParamError{Field: "cwd"}), CodeInvalidParams},
		{fmt.Errorf("%w: frob", errMethodNotFound), CodeMethodNotFound},
		{ErrRequestCancelled, CodeRequestCancelled},
		{fmt.Errorf("queue: %w", sessions.ErrBusy), CodeSessionBusy},
		{fmt.Errorf("%w: claude: install it", backends.ErrUnavailable), CodeBackendUnavailable},
		{fmt.Errorf("turn: %w: overloaded", backends.ErrFailed), CodeBackendFailed},
		{sessions.ErrShuttingDown, CodeShuttingDown},
		{sessions.ErrClosed, CodeSessionClosed},
		{errors.New("something unforeseen"), CodeInternalError},
	} {
		e := wireError(tc.err)
		assert.Equal(t, tc.code, e.Code, "%v", tc.err)
		assert.Equal(t, tc.err.Error(), e.Message, "the message is the error's own")
	}
	e := wireError(&sessions.ParamError{Field: "prompt", Reason: "required"})
	require.NotNil(t, e.Data)
	assert.JSONEq(t, `{"field":"prompt"}`, string(*e.Data))
}
