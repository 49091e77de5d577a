package acpagent

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSplitWordsAsAShellWould(t *testing.T) {
	for in, want := range map[string][]string{
		"gemini --acp":                       {"gemini", "--acp"},
		"  node   agent.mjs\tbasic ":         {"node", "agent.mjs", "basic"},
		`goose acp --with-builtin 'dev ops'`: {"goose", "acp", "--with-builtin", "dev ops"},
		`a "b c" d`:                          {"a", "b c", "d"},
		`a "say \"hi\" \$HOME \\ \n"`:        {"a", `say "hi" $HOME \ \n`},
		`a\ b c`:                             {"a b", "c"},
		`x'y'"z"`:                            {"xyz"},
		`''`:                                 {""},
		`$HOME ~/bin`:                        {"$HOME", "~/bin"}, // nothing is expanded
		"":                                   nil,
	} {
		got, err := splitWords(in)
		require.NoError(t, err, "%q", in)
		assert.Equal(t, want, got, "%q", in)
	}
	for _, bad := range []string{`a 'b`, `a "b`, `a \`} {
		_, err := splitWords(bad)
		assert.Error(t, err, "%q", bad)
	}
}

func TestAgentFlag(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	cfg := RegisterFlags(fs)
	require.NoError(t, fs.Parse([]string{
		"--agent", "gemini=gemini --acp",
		"--agent", `goose = goose acp --name 'my goose'`,
	}))
	assert.Equal(t, []Agent{
		{Name: "gemini", Command: "gemini", Args: []string{"--acp"}, From: "--agent"},
		{Name: "goose", Command: "goose", Args: []string{"acp", "--name", "my goose"}, From: "--agent"},
	}, cfg.Agents)
	assert.Equal(t, "gemini=gemini --acp, goose=goose acp --name 'my goose'", fs.Lookup("agent").Value.String())

	for value, want := range map[string]string{
		"gemini":         "want NAME=COMMAND ARG...",
		"gemini=":        "no command",
		"=gemini --acp":  `agent name ""`,
		"my agent=x":     `agent name "my agent"`,
		"g=gemini 'acp":  "unterminated ' quote",
		"g/x=gemini acp": `agent name "g/x"`,
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(nopWriter{})
		RegisterFlags(fs)
		err := fs.Parse([]string{"--agent", value})
		require.Error(t, err, "%q", value)
		assert.Contains(t, err.Error(), want, "%q", value)
	}
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

func TestAgentsFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "agents.json")
	require.NoError(t, os.WriteFile(path, []byte(`{
	  "gemini": {"command": "gemini", "args": ["--acp"], "env": {"GEMINI_API_KEY": "k"}},
	  "codex": {"command": "codex-acp"}
	}`), 0o644))
	cfg := Config{File: path, Agents: []Agent{{Name: "codex", Command: "my-codex", From: "--agent"}, {Name: "x", Command: "x", From: "--agent"}}}
	agents, err := cfg.agents()
	require.NoError(t, err)
	assert.Equal(t, []Agent{
		{Name: "gemini", Command: "gemini", Args: []string{"--acp"}, Env: map[string]string{"GEMINI_API_KEY": "k"}, From: path},
		{Name: "codex", Command: "my-codex", From: "--agent"},
		{Name: "x", Command: "x", From: "--agent"},
	}, agents, "the file's, then --agent's, which replace the file's of their name")

	for content, want := range map[string]string{
		`{"g": {"command": "gemini"`:               "want {\"NAME\": {\"command\"",
		`{"g": {"args": ["--acp"]}}`:               "agent g has no command",
		`{"g": {"command": "gemini", "arg": [1]}}`: `agent g: json: unknown field "arg"`,
		`{"g h": {"command": "gemini"}}`:           `agent name "g h"`,
		`["gemini"]`:                               "want {",
	} {
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
		_, err := Config{File: path}.agents()
		require.ErrorIs(t, err, ErrConfig, content)
		assert.Contains(t, err.Error(), path)
		assert.Contains(t, err.Error(), want, content)
	}

	_, err = Config{File: filepath.Join(dir, "missing.json")}.agents()
	assert.ErrorIs(t, err, ErrConfig, "a file named explicitly must exist")

	_, err = Config{Agents: []Agent{{Name: "a", Command: "a"}, {Name: "a", Command: "b"}}}.agents()
	assert.ErrorContains(t, err, "--agent a given twice")
}

// TestTheDefaultAgentsFile is $XDG_CONFIG_HOME/tether/agents.json, and may
// be absent.
func TestTheDefaultAgentsFile(t *testing.T) {
	xdg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", xdg)
	agents, err := Config{}.agents()
	require.NoError(t, err)
	assert.Empty(t, agents, "no file, no agents")

	require.NoError(t, os.MkdirAll(filepath.Join(xdg, "tether"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(xdg, "tether", "agents.json"), []byte(`{"gemini": {"command": "gemini", "args": ["--acp"]}}`), 0o644))
	backends, err := New(Config{}, nil)
	require.NoError(t, err)
	require.Len(t, backends, 1)
	assert.Equal(t, "gemini", backends[0].Name())
}
