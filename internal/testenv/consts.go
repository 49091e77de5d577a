package testenv

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"
)

// Consts returns the constants a Go source file declares with a literal
// value, each as that literal's text: a string constant's quoted, a
// negative number's with its sign ("-32602"). Tests check constants
// against documents and code with it: error codes against protocol.md,
// method names against the packages that must not know them.
func Consts(t testing.TB, file string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if i < len(vs.Values) {
					if lit := literal(vs.Values[i]); lit != "" {
						out[name.Name] = lit
					}
				}
			}
		}
	}
	return out
}

func literal(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.BasicLit:
		return e.Value
	case *ast.UnaryExpr:
		if x := literal(e.X); x != "" {
			return e.Op.String() + x
		}
	}
	return ""
}

// ConstInt is the integer value of a literal Consts returned.
func ConstInt(t testing.TB, lit string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(strings.ReplaceAll(lit, "_", ""), 0, 64)
	if err != nil {
		t.Fatalf("constant %s: %v", lit, err)
	}
	return n
}
