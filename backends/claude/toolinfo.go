package claude

import (
	"encoding/json"
	"path/filepath"
	"strings"

	"github.com/tether-dev/tether/backends"
)

// toolUse describes one of the CLI's tool calls for the editor: its kind,
// a title a person reads at a glance, the files it touches and the edits
// it proposes, from the tool's name and input. Unknown tools (MCP tools,
// newer ones) are kind "other", titled with their name.
func toolUse(id, name string, input json.RawMessage, cwd string) backends.ToolUse {
	u := backends.ToolUse{ID: id, Name: name, Input: input, Kind: backends.KindOther, Title: name}
	var in struct {
		Command     string `json:"command"`
		Description string `json:"description"`
		FilePath    string `json:"file_path"`
		NotebookPth string `json:"notebook_path"`
		Path        string `json:"path"`
		Pattern     string `json:"pattern"`
		Content     string `json:"content"`
		OldString   string `json:"old_string"`
		NewString   string `json:"new_string"`
		Edits       []struct {
			OldString string `json:"old_string"`
			NewString string `json:"new_string"`
		} `json:"edits"`
		Offset int    `json:"offset"`
		URL    string `json:"url"`
		Query  string `json:"query"`
		Prompt string `json:"prompt"`
	}
	_ = json.Unmarshal(input, &in) // a tool whose input is not an object is shown by its name
	rel := func(p string) string {
		if r, err := filepath.Rel(cwd, p); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
		return p
	}
	at := func(p string, line int) []backends.Location {
		if p == "" {
			return nil
		}
		return []backends.Location{{Path: p, Line: line}}
	}
	switch name {
	case "Bash", "BashOutput", "KillShell", "KillBash":
		u.Kind = backends.KindExecute
		if in.Command != "" {
			u.Title = in.Command
		}
	case "Read", "NotebookRead":
		u.Kind = backends.KindRead
		p := firstOf(in.FilePath, in.NotebookPth)
		if p != "" {
			u.Title = "Read " + rel(p)
		}
		u.Locations = at(p, in.Offset)
	case "Write":
		u.Kind = backends.KindEdit
		if in.FilePath != "" {
			u.Title = "Write " + rel(in.FilePath)
			u.Diffs = []backends.Diff{{Path: in.FilePath, NewText: in.Content}}
		}
		u.Locations = at(in.FilePath, 0)
	case "Edit", "MultiEdit", "NotebookEdit":
		u.Kind = backends.KindEdit
		p := firstOf(in.FilePath, in.NotebookPth)
		if p != "" {
			u.Title = "Edit " + rel(p)
		}
		if in.OldString != "" || in.NewString != "" {
			old := in.OldString
			u.Diffs = append(u.Diffs, backends.Diff{Path: p, OldText: &old, NewText: in.NewString})
		}
		for _, e := range in.Edits {
			old := e.OldString
			u.Diffs = append(u.Diffs, backends.Diff{Path: p, OldText: &old, NewText: e.NewString})
		}
		u.Locations = at(p, 0)
	case "Glob", "Grep", "LS":
		u.Kind = backends.KindSearch
		where := firstOf(in.Path, cwd)
		switch {
		case in.Pattern != "":
			u.Title = "Find `" + in.Pattern + "` in " + rel(where)
		case in.Path != "":
			u.Title = "List " + rel(in.Path)
		}
		if in.Path != "" {
			u.Locations = at(in.Path, 0)
		}
	case "WebFetch":
		u.Kind = backends.KindFetch
		if in.URL != "" {
			u.Title = "Fetch " + in.URL
		}
	case "WebSearch":
		u.Kind = backends.KindFetch
		if in.Query != "" {
			u.Title = "Search the web for " + `"` + in.Query + `"`
		}
	case "Task", "Agent":
		u.Kind = backends.KindThink
		if d := firstOf(in.Description, in.Prompt); d != "" {
			u.Title = firstLine(d)
		}
	case "TodoWrite":
		u.Kind = backends.KindThink
		u.Title = "Update the plan"
	case "ExitPlanMode":
		u.Kind = backends.KindSwitchMode
		u.Title = "Ready to code?"
	}
	return u
}

// plan reads the plan out of a TodoWrite call: the agent's todo list, each
// item a step with its status. ok is false for any other tool.
func plan(name string, input json.RawMessage) (entries []backends.PlanEntry, ok bool) {
	if name != "TodoWrite" {
		return nil, false
	}
	var in struct {
		Todos []struct {
			Content string `json:"content"`
			Status  string `json:"status"`
		} `json:"todos"`
	}
	if json.Unmarshal(input, &in) != nil {
		return nil, false
	}
	entries = make([]backends.PlanEntry, 0, len(in.Todos))
	for _, td := range in.Todos {
		entries = append(entries, backends.PlanEntry{Content: td.Content, Priority: "medium", Status: td.Status})
	}
	return entries, true
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// firstLine is s up to its first newline.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
