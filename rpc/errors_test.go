package rpc

import (
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
)

// codes reads the Code constants of the files from their source, so a new
// code is checked without anyone remembering to add it to a list.
func codes(t *testing.T, files ...string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, file := range files {
		codesOf(t, file, out)
	}
	require.NotEmpty(t, out)
	return out
}

func codesOf(t *testing.T, file string, out map[string]int64) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, 0)
	require.NoError(t, err)
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
				out[file+": "+name.Name] = n
			}
		}
	}
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
