package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/internal/testenv"
)

// TestSessionsAndBackendsKnowNoWire keeps the seam honest: the engine
// (sessions, backends) imports no wire package, directly or not, and
// spells no method name of either dialect. A dialect is a package under
// handlers/, and adding one never touches the engine.
//
// One backend is allowed the ACP side of this: backends/acpagent is an ACP
// client of the agent it runs, as the claude backend speaks stream-json to
// its CLI, so it speaks ACP's methods with ACP's schema types over
// Tether's rpc package (which knows no domain). builtin, which lists the
// backends, depends on it. Nothing of the editor's side (handlers,
// protocol, client) is allowed anywhere in the engine, acpagent included.
func TestSessionsAndBackendsKnowNoWire(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", "./sessions/...", "./backends/...").Output()
	require.NoError(t, err, "go list")
	const acpClient = "github.com/tether-dev/tether/backends/acpagent"
	editorWire := []string{
		"github.com/tether-dev/tether/handlers",
		"github.com/tether-dev/tether/protocol",
		"github.com/tether-dev/tether/client",
		"github.com/sourcegraph/jsonrpc2",
	}
	agentWire := []string{
		"github.com/tether-dev/tether/rpc",
		"github.com/coder/acp-go-sdk",
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, deps := fields[0], fields[1:]
		forbidden := editorWire
		if pkg != acpClient && !slices.Contains(deps, acpClient) {
			forbidden = append(slices.Clone(editorWire), agentWire...)
		} else if strings.HasPrefix(pkg, "github.com/tether-dev/tether/sessions") {
			t.Errorf("%s depends on the acp backend", pkg)
		}
		for _, dep := range append([]string{pkg}, deps...) {
			for _, f := range forbidden {
				if dep == f || strings.HasPrefix(dep, f+"/") {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}

	tether, acp := methodNames(t)
	require.Contains(t, tether, "session/query")
	require.Contains(t, acp, "session/request_permission")
	names := append(slices.Clone(tether), acp...)
	var tetherOnly []string // what the acp backend may not spell either
	for _, name := range tether {
		if !slices.Contains(acp, name) {
			tetherOnly = append(tetherOnly, name)
		}
	}
	for _, root := range []string{"sessions", "backends"} {
		require.NoError(t, filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			check := names
			if filepath.Dir(path) == filepath.Join("backends", "acpagent") {
				check = tetherOnly
			}
			for _, lit := range stringLiterals(t, path) {
				for _, name := range check {
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
func methodNames(t *testing.T) (tether, acp []string) {
	sdk, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/coder/acp-go-sdk").Output()
	require.NoError(t, err)
	acp = []string{"$/cancel_request"}
	tether = constants(t, "protocol/protocol.go")
	acp = append(acp, constants(t, filepath.Join(strings.TrimSpace(string(sdk)), "constants_gen.go"))...)
	return tether, acp
}

// constants are the values of a file's Method constants that have a slash
// or a dollar in them.
func constants(t *testing.T, file string) []string {
	var names []string
	for name, lit := range testenv.Consts(t, file) {
		if !strings.Contains(name, "Method") || lit[0] != '"' && lit[0] != '`' {
			continue
		}
		s, err := strconv.Unquote(lit)
		require.NoError(t, err)
		if strings.ContainsAny(s, "/$") {
			names = append(names, s)
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
