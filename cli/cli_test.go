package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// run runs tether in-process with args, stdin as given (no terminal),
// and returns the exit code, stdout and stderr.
func run(t *testing.T, stdin string, version string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(args, io.NopCloser(strings.NewReader(stdin)), &out, &errOut, version)
	t.Logf("tether %q: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, out.String(), errOut.String())
	return code, out.String(), errOut.String()
}

func TestHelpGoesToStdoutAndExitsZero(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}, {"-help"}, {"help", "help"}, {"help", "--help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, stdout, stderr := run(t, "", "", args...)
			assert.Equal(t, exitOK, code)
			assert.Empty(t, stderr)
			for _, want := range []string{
				"Usage:",
				"tether [flags] ", "tether ask [flags] PROMPT ", "tether version ", "tether help [COMMAND] ",
				"Transport:\n  --framing FRAMING\n",
				"Logging:\n  --log-level LEVEL\n",
				"Limits:\n  --max-message-size BYTES\n",
				"Backends:\n  --backend BACKEND\n",
				"Backend claude (", "--claude-path",
				"Backend openai (", "--openai-base-url",
				"Examples:\n", "tether ask --backend mock",
			} {
				assert.Contains(t, stdout, want)
			}
		})
	}
}

// Every flag of the server is in a group of its own kind: a new flag that
// lands under "Other flags" needs a group in serveFlagGroups (or a prefix
// that one takes).
func TestHelpGroupsEveryServerFlag(t *testing.T) {
	_, stdout, _ := run(t, "", "", "help")
	_, other, ok := strings.Cut(stdout, "Other flags:\n")
	require.True(t, ok)
	other, _, _ = strings.Cut(other, "\n\n")
	assert.Equal(t, "  --version\n      print the version and exit", other)
}

func TestCommandHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ask", "--help"}, "Usage: tether ask [flags] PROMPT\n"},
		{[]string{"ask", "-h"}, "Usage: tether ask [flags] PROMPT\n"},
		{[]string{"help", "ask"}, "Usage: tether ask [flags] PROMPT\n"},
		{[]string{"version", "--help"}, "Usage: tether version\n"},
		{[]string{"help", "version"}, "Usage: tether version\n"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := run(t, "", "", tc.args...)
			assert.Equal(t, exitOK, code)
			assert.Empty(t, stderr)
			assert.True(t, strings.HasPrefix(stdout, tc.want), "stdout starts with %q", tc.want)
		})
	}
	_, stdout, _ := run(t, "", "", "ask", "--help")
	for _, want := range []string{"Query:\n", "Permissions:\n", "Output:\n  --json\n", "--quiet", "Backend claude:\n", "Backend openai:\n", "Examples:\n"} {
		assert.Contains(t, stdout, want)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}, {"--backend", "mock", "--version"}} {
		code, stdout, stderr := run(t, "", "1.2.3", args...)
		assert.Equal(t, exitOK, code)
		assert.Equal(t, "1.2.3\n", stdout, "%q: the version a build set, on stdout", args)
		assert.Empty(t, stderr)
	}
	_, stdout, _ := run(t, "", "", "version")
	assert.Equal(t, Version("")+"\n", stdout, "unset: the build info's")
}

func TestInitializeReportsTheVersion(t *testing.T) {
	code, stdout, _ := run(t, `{"jsonrpc":"2.0","id":1,"method":"initialize"}`+"\n", "1.2.3", "--backend", "mock")
	require.Equal(t, exitOK, code)
	var reply struct {
		Result struct {
			ServerInfo struct{ Name, Version string } `json:"serverInfo"`
		} `json:"result"`
	}
	require.NoError(t, json.Unmarshal([]byte(strings.SplitN(stdout, "\n", 2)[0]), &reply))
	assert.Equal(t, "1.2.3", reply.Result.ServerInfo.Version, "the same string tether version prints")
}

func TestVersionFromBuildInfo(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	rev := "8a8a4a1b4437964f33900be37315873546f62cde"
	for _, tc := range []struct {
		name string
		set  string
		info *debug.BuildInfo
		want string
	}{
		{"set by the build wins", "1.2.3", &debug.BuildInfo{Main: debug.Module{Version: "v0.4.0"}}, "1.2.3"},
		{"no build info", "", nil, "dev"},
		{"module version", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.4.0"}, Settings: settings("vcs.revision", rev)}, "v0.4.0"},
		{"pseudo-version, dirty", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261129204220-8a8a4a1b4437+dirty"}}, "v0.0.0-20261129204220-8a8a4a1b4437+dirty"},
		{"revision", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: settings("vcs.revision", rev, "vcs.modified", "false")}, "8a8a4a1b4437"},
		{"revision, dirty", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: settings("vcs.revision", rev, "vcs.modified", "true")}, "8a8a4a1b4437+dirty"},
		{"nothing recorded", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, versionFrom(tc.set, tc.info))
		})
	}
}

func TestUnknownCommandsAndStrayArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve"}, `unknown command "serve"`},
		{[]string{"hello", "world"}, `unknown command "hello"`},
		{[]string{"--backend", "mock", "hello"}, `unexpected argument "hello"`},
		{[]string{"--backend", "mock", "ask", "hi"}, "the command comes first: tether ask"},
		{[]string{"help", "nope"}, `no help for "nope"`},
		{[]string{"help", "ask", "version"}, "tether help takes one command at most"},
		{[]string{"version", "now"}, "tether version takes no arguments"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := run(t, "", "", tc.args...)
			assert.Equal(t, exitUsage, code)
			assert.Empty(t, stdout, "stdout is the protocol's, even for errors")
			assert.Contains(t, stderr, tc.want)
			assert.Contains(t, stderr, "Commands: ask, acp, sessions, version, help", "the error names the commands")
		})
	}
	code, stdout, stderr := run(t, "", "", "--no-such-flag")
	assert.Equal(t, exitUsage, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "no-such-flag")
	assert.Contains(t, stderr, "tether help")
}
