package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSessionsAndBackendsKnowNoWire keeps the seam honest: the engine
// (sessions, backends) imports no wire package, directly or not, and
// spells no method name of either dialect. A dialect is a package under
// handlers/, and adding one never touches the engine.
func TestSessionsAndBackendsKnowNoWire(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "./sessions/...", "./backends/...").Output()
	require.NoError(t, err, "go list")
	forbidden := []string{
		"github.com/tether-dev/tether/handlers",
		"github.com/tether-dev/tether/rpc",
		"github.com/tether-dev/tether/protocol",
		"github.com/tether-dev/tether/client",
		"github.com/sourcegraph/jsonrpc2",
		"github.com/coder/acp-go-sdk",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("sessions or backends depend on %s", dep)
			}
		}
	}

	names := methodNames(t)
	require.Contains(t, names, "session/query")
	require.Contains(t, names, "session/request_permission")
	for _, root := range []string{"sessions", "backends"} {
		require.NoError(t, filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			for _, lit := range stringLiterals(t, path) {
				for _, name := range names {
					if strings.Contains(lit, name) {
						t.Errorf("%s spells the wire method %q (in %q)", path, name, lit)
					}
				}
			}
			return nil
		}))
	}
}

// methodNames are the method names of both dialects that have a slash or
// a dollar in them: Tether's (protocol/protocol.go's Method constants) and
// ACP's (the schema package's constants). Plain words (initialize, exit)
// are left out: they are also the Claude CLI's own vocabulary, which the
// claude backend speaks.
func methodNames(t *testing.T) []string {
	sdk, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/coder/acp-go-sdk").Output()
	require.NoError(t, err)
	names := []string{"$/cancel_request"}
	for _, file := range []string{"protocol/protocol.go", filepath.Join(strings.TrimSpace(string(sdk)), "constants_gen.go")} {
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		require.NoError(t, err)
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if !strings.Contains(n.Name, "Method") || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					s, err := strconv.Unquote(lit.Value)
					require.NoError(t, err)
					if strings.ContainsAny(s, "/$") {
						names = append(names, s)
					}
				}
			}
		}
	}
	return names
}

// stringLiterals returns the string literals of a Go file.
func stringLiterals(t *testing.T, path string) []string {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	require.NoError(t, err)
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			if s, err := strconv.Unquote(lit.Value); err == nil {
				out = append(out, s)
			}
		}
		return true
	})
	return out
}
