package claude

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

// The tool_use_result shapes below are those the CLI 2.1.x writes (see the
// Agent SDK's sdk-tools.d.ts); inputs are the tools' input schemas.
func TestSummaries(t *testing.T) {
	const cwd = "/home/u/repo"
	longCmd := "for f in $(ls); do echo \"$f\"; done && " + strings.Repeat("é", 100)
	for _, tc := range []struct {
		name, tool, input, result, text string
		isError                         bool
		want                            string
	}{
		{name: "Read", tool: "Read",
			input:  `{"file_path":"/home/u/repo/main.go"}`,
			result: `{"type":"text","file":{"filePath":"/home/u/repo/main.go","content":"package main\n","numLines":120,"startLine":1,"totalLines":120}}`,
			want:   "main.go (120 lines)"},
		{name: "Read one line outside cwd", tool: "Read",
			input:  `{"file_path":"/etc/hostname"}`,
			result: `{"type":"text","file":{"filePath":"/etc/hostname","content":"box","numLines":1,"startLine":1,"totalLines":1}}`,
			want:   "/etc/hostname (1 line)"},
		{name: "Read image", tool: "Read",
			input:  `{"file_path":"/home/u/repo/logo.png"}`,
			result: `{"type":"image","file":{"base64":"iVBO","type":"image/png","originalSize":1234}}`,
			want:   "logo.png (image)"},
		{name: "Read without structured result", tool: "Read",
			input: `{"file_path":"/home/u/repo/a.txt"}`, text: "     1\tone\n     2\ttwo\n",
			want: "a.txt (2 lines)"},
		{name: "Read error", tool: "Read",
			input: `{"file_path":"/home/u/repo/nope.go"}`, text: "File does not exist.", isError: true,
			want: "nope.go: error: File does not exist."},
		{name: "Write", tool: "Write",
			input:  `{"file_path":"/home/u/repo/out/hello.txt","content":"héllo\n"}`,
			result: `{"type":"create","filePath":"/home/u/repo/out/hello.txt","content":"héllo\n","structuredPatch":[],"originalFile":null}`,
			want:   "out/hello.txt (7 bytes)"},
		{name: "Edit", tool: "Edit",
			input:  `{"file_path":"/home/u/repo/main.go","old_string":"a","new_string":"b"}`,
			result: `{"filePath":"/home/u/repo/main.go","oldString":"a","newString":"b","originalFile":"a","structuredPatch":[{"oldStart":1,"oldLines":1,"newStart":1,"newLines":1,"lines":["-a","+b"]}],"userModified":false,"replaceAll":false}`,
			want:   "main.go"},
		{name: "Edit error", tool: "Edit",
			input: `{"file_path":"/home/u/repo/main.go","old_string":"zz","new_string":"b"}`,
			text:  "<tool_use_error>String to replace not found in file.\nString: zz</tool_use_error>", isError: true,
			want: "main.go: error: <tool_use_error>String to replace not found in file. String: zz</tool_use_error>"},
		{name: "Bash", tool: "Bash",
			input:  `{"command":"go test ./...","description":"Run tests"}`,
			result: `{"stdout":"ok  \tpkg\t0.1s\n","stderr":"","interrupted":false,"isImage":false}`,
			want:   "go test ./... (14 bytes of output)"},
		{name: "Bash no output", tool: "Bash",
			input:  `{"command":"touch marker.txt"}`,
			result: `{"stdout":"","stderr":"","interrupted":false,"isImage":false,"noOutputExpected":true}`,
			want:   "touch marker.txt (no output)"},
		{name: "Bash long multi-line command", tool: "Bash",
			input:  mustMarshal(map[string]string{"command": longCmd + "\nexit 0"}),
			result: `{"stdout":"x","stderr":"y","interrupted":false,"isImage":false}`,
			want:   truncate(strings.Join(strings.Fields(longCmd+"\nexit 0"), " "), maxSubject) + " (2 bytes of output)"},
		{name: "Bash failed", tool: "Bash",
			input: `{"command":"false"}`, text: "Error: Exit code 1", isError: true,
			want: "false: error: Exit code 1"},
		{name: "Bash denied", tool: "Bash",
			input: `{"command":"rm -rf /"}`, result: `"Error: User refused"`, text: "User refused", isError: true,
			want: "rm -rf /: error: User refused"},
		{name: "Grep", tool: "Grep",
			input:  `{"pattern":"func main","path":"/home/u/repo","output_mode":"files_with_matches"}`,
			result: `{"mode":"files_with_matches","filenames":["main.go","cmd/x.go"],"numFiles":2}`,
			want:   "func main (2 files)"},
		{name: "Grep content mode", tool: "Grep",
			input:  `{"pattern":"TODO","output_mode":"content"}`,
			result: `{"mode":"content","numFiles":0,"filenames":[],"content":"a.go:3:// TODO","numLines":1}`,
			want:   "TODO (0 files)"},
		{name: "Glob", tool: "Glob",
			input:  `{"pattern":"**/*.go"}`,
			result: `{"filenames":["/home/u/repo/main.go"],"durationMs":3,"numFiles":1,"truncated":false}`,
			want:   "**/*.go (1 file)"},
		{name: "WebFetch", tool: "WebFetch",
			input:  `{"url":"https://go.dev/doc/","prompt":"summarize"}`,
			result: `{"bytes":5120,"code":200,"codeText":"OK","result":"Go docs","durationMs":300,"url":"https://go.dev/doc/"}`,
			want:   "https://go.dev/doc/"},
		{name: "WebSearch", tool: "WebSearch",
			input:  `{"query":"golang process group"}`,
			result: `{"query":"golang process group","results":[{"tool_use_id":"srvtoolu_1","content":[]}],"durationSeconds":1.2}`,
			want:   "golang process group"},
		{name: "Task", tool: "Task",
			input:  `{"description":"Find the config loader","prompt":"...","subagent_type":"Explore"}`,
			result: `{"status":"completed","prompt":"...","agentId":"a1","content":[{"type":"text","text":"It is in config.go"}],"totalDurationMs":900,"totalTokens":1000,"totalToolUseCount":3}`,
			want:   "Find the config loader"},
		{name: "Agent", tool: "Agent",
			input: `{"description":"Review the diff","prompt":"..."}`,
			want:  "Review the diff"},
		{name: "TodoWrite", tool: "TodoWrite",
			input:  `{"todos":[{"content":"a","status":"pending","activeForm":"A"},{"content":"b","status":"completed","activeForm":"B"}]}`,
			result: `{"oldTodos":[],"newTodos":[{"content":"a","status":"pending","activeForm":"A"},{"content":"b","status":"completed","activeForm":"B"}]}`,
			want:   "2 items"},
		{name: "NotebookEdit", tool: "NotebookEdit",
			input: `{"notebook_path":"/home/u/repo/a.ipynb","new_source":"x"}`,
			want:  "a.ipynb"},
		{name: "MCP tool", tool: "mcp__github__create_issue",
			input: `{"title":"x"}`, result: `[{"type":"text","text":"created"}]`,
			want: "mcp__github__create_issue"},
		{name: "unknown tool error", tool: "Frobnicate", isError: true,
			want: "Frobnicate: error: failed"},
		{name: "no tool name, bad input", tool: "", input: `{not json`,
			want: "tool"},
		{name: "invalid UTF-8 in a command", tool: "Bash",
			input: "{\"command\":\"echo \xff\xfe\"}",
			want:  "echo \uFFFD\uFFFD (no output)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := summarize(toolOutcome{
				name: tc.tool, input: json.RawMessage(tc.input), result: json.RawMessage(tc.result),
				text: tc.text, isError: tc.isError, cwd: cwd,
			})
			assert.Equal(t, tc.want, got)
			assert.True(t, utf8.ValidString(got))
			assert.NotContains(t, got, "\n")
		})
	}
}

func mustMarshal(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestTruncateOnRuneBoundary(t *testing.T) {
	assert.Equal(t, "héllo", truncate("héllo", 5))
	assert.Equal(t, "hé…", truncate("héllo", 3))
	assert.Equal(t, "…", truncate("日本語", 1))
	assert.Equal(t, "", truncate("abc", 0))
	assert.Equal(t, "日本語", validUTF8Suffix([]byte("日本語")[0:]))
	assert.Equal(t, "本語", validUTF8Suffix([]byte("日本語")[1:]), "a tail cut inside a rune starts at the next one")
}

func FuzzDecodeLine(f *testing.F) {
	f.Add([]byte(`{"type":"result","subtype":"success","usage":{"input_tokens":1}}`))
	f.Add([]byte(`{"type":"user","message":{"content":[{"type":"tool_result","content":[{"type":"text","text":"x"}]}]}}`))
	f.Add([]byte(`[SandboxDebug] hi`))
	f.Add([]byte(`{"type":"stream_event","event":{"delta":null}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		m, ok, err := decodeLine(line)
		if err != nil || !ok {
			return
		}
		// Nothing a turn does with a decoded message may panic.
		for _, b := range m.Message.blocks() {
			summarize(toolOutcome{name: b.Name, input: b.Input, result: m.ToolUseResult, text: b.resultText(), isError: b.IsError})
		}
		_ = resultText(m)
		_ = m.controlRequest()
	})
}

func FuzzSummarize(f *testing.F) {
	f.Add("Bash", `{"command":"ls"}`, `{"stdout":"a"}`, "a", false)
	f.Add("Read", `{"file_path":"/x"}`, `{"type":"text","file":{"numLines":3}}`, "", true)
	f.Fuzz(func(t *testing.T, tool, input, result, text string, isError bool) {
		got := summarize(toolOutcome{name: tool, input: json.RawMessage(input), result: json.RawMessage(result), text: text, isError: isError, cwd: "/w"})
		if !utf8.ValidString(got) || strings.ContainsAny(got, "\n\r") {
			t.Fatalf("summary %q is not one valid UTF-8 line", got)
		}
	})
}
