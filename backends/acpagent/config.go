package acpagent

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// ErrConfig means the agents' configuration cannot work: a bad --agent
// value, an agents.json that does not parse, an agent without a command.
// Commands refuse to start with it (builtin.Default).
var ErrConfig = errors.New("bad ACP agent configuration")

// Agent is one configured ACP agent: the command that runs it, speaking ACP
// on its stdin and stdout.
type Agent struct {
	// Name is the backend's name, as clients select it.
	Name    string
	Command string
	Args    []string
	// Env is added to the environment Tether was started with.
	Env map[string]string
	// From says where the agent was configured ("--agent", or the config
	// file's path), for messages.
	From string
}

// commandLine is the agent's command as a user would type it.
func (a Agent) commandLine() string {
	words := append([]string{a.Command}, a.Args...)
	for i, w := range words {
		if w == "" || strings.ContainsAny(w, " \t\n'\"\\$`") {
			words[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
	}
	return strings.Join(words, " ")
}

// Config configures every ACP agent; RegisterFlags fills it from the
// command line. The zero value is usable: defaults apply to zero
// durations.
type Config struct {
	// Agents are the agents given with --agent, in order.
	Agents []Agent
	// File is the agents config file. Empty: $XDG_CONFIG_HOME/tether/
	// agents.json (os.UserConfigDir), which may be absent; a file named
	// explicitly must exist.
	File string
	// StartTimeout bounds the agent's answer to initialize, and to
	// session/new, session/load and session/resume.
	StartTimeout time.Duration
	// Grace is how long an agent may take to answer a cancelled prompt
	// before the turn ends without its answer, and each rung of the stop
	// ladder.
	Grace time.Duration
}

// Defaults of the durations.
const (
	DefaultStartTimeout = 60 * time.Second
	DefaultGrace        = 5 * time.Second
)

func (cfg Config) withDefaults() Config {
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	return cfg
}

// RegisterFlags registers the agents' flags on fs.
func RegisterFlags(fs *flag.FlagSet) *Config {
	cfg := &Config{}
	fs.Var((*agentFlag)(cfg), "agent", "add the ACP agent that `NAME='COMMAND ARG...'` says as the backend NAME; the command is split as a shell would split it (quotes respected, nothing expanded); repeatable; replaces the config file's agent NAME")
	fs.StringVar(&cfg.File, "agent-config", "", "the ACP agents config `file` (default $XDG_CONFIG_HOME/tether/agents.json, used when it exists)")
	fs.DurationVar(&cfg.StartTimeout, "agent-start-timeout", DefaultStartTimeout, "how long an ACP agent may take to answer initialize, and to start or reload a session")
	fs.DurationVar(&cfg.Grace, "agent-grace", DefaultGrace, "how long an ACP agent may take to end a cancelled turn, and to exit after its input is closed, before Tether stops waiting or stops it")
	return cfg
}

// agentFlag is --agent: each value adds an agent.
type agentFlag Config

func (f *agentFlag) String() string {
	if f == nil {
		return ""
	}
	var parts []string
	for _, a := range f.Agents {
		parts = append(parts, a.Name+"="+a.commandLine())
	}
	return strings.Join(parts, ", ")
}

func (f *agentFlag) Set(value string) error {
	a, err := parseAgentFlag(value)
	if err != nil {
		return err
	}
	f.Agents = append(f.Agents, a)
	return nil
}

// parseAgentFlag reads 'NAME=COMMAND ARG...'.
func parseAgentFlag(value string) (Agent, error) {
	name, line, ok := strings.Cut(value, "=")
	if !ok {
		return Agent{}, fmt.Errorf("want NAME=COMMAND ARG..., got %q", value)
	}
	name = strings.TrimSpace(name)
	if err := checkName(name); err != nil {
		return Agent{}, err
	}
	words, err := splitWords(line)
	if err != nil {
		return Agent{}, fmt.Errorf("agent %s: %w", name, err)
	}
	if len(words) == 0 {
		return Agent{}, fmt.Errorf("agent %s: no command after %q", name, name+"=")
	}
	return Agent{Name: name, Command: words[0], Args: words[1:], From: "--agent"}, nil
}

// validName is what a backend's name may be: a word clients can type.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

func checkName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("agent name %q: use letters, digits, '.', '_' and '-'", name)
	}
	return nil
}

// splitWords splits a command line into words the way a POSIX shell does,
// without expanding anything: blanks separate words; 'single quotes' keep
// everything; "double quotes" keep everything but \\, \", \$ and \`,
// which a backslash escapes; a backslash outside quotes keeps the next
// character.
func splitWords(s string) ([]string, error) {
	var words []string
	var word strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("unterminated ' quote")
			}
			word.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\\\"$`", s[i+1]) >= 0 {
					i++
				}
				word.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, errors.New(`unterminated " quote`)
			}
			inWord = true
		case c == '\\':
			if i+1 >= len(s) {
				return nil, errors.New("a backslash ends the line")
			}
			i++
			word.WriteByte(s[i])
			inWord = true
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, nil
}

// fileAgent is one agent in agents.json.
type fileAgent struct {
	Command string            `json:"command"`
	Args    []string          `json:"args"`
	Env     map[string]string `json:"env"`
}

// defaultFile is $XDG_CONFIG_HOME/tether/agents.json, or "" when there is
// no config directory.
func defaultFile() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "tether", "agents.json")
}

// readFile reads the agents config file: path, or the default one when path
// is empty (absent: no agents).
func readFile(path string) ([]Agent, error) {
	explicit := path != ""
	if !explicit {
		if path = defaultFile(); path == "" {
			return nil, nil
		}
	}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !explicit:
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: want {\"NAME\": {\"command\": ..., \"args\": [...], \"env\": {...}}}: %w", ErrConfig, path, err)
	}
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	agents := make([]Agent, 0, len(names))
	for _, name := range names {
		if err := checkName(name); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrConfig, path, err)
		}
		var fa fileAgent
		dec := json.NewDecoder(strings.NewReader(string(m[name])))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&fa); err != nil {
			return nil, fmt.Errorf("%w: %s: agent %s: %w", ErrConfig, path, name, err)
		}
		if strings.TrimSpace(fa.Command) == "" {
			return nil, fmt.Errorf("%w: %s: agent %s has no command", ErrConfig, path, name)
		}
		agents = append(agents, Agent{Name: name, Command: fa.Command, Args: fa.Args, Env: fa.Env, From: path})
	}
	return agents, nil
}

// agents are the configured agents: the file's, in name order, then
// --agent's in order; an --agent of a name the file has replaces it.
func (cfg Config) agents() ([]Agent, error) {
	fromFile, err := readFile(cfg.File)
	if err != nil {
		return nil, err
	}
	given := make(map[string]bool)
	for _, a := range cfg.Agents {
		if given[a.Name] {
			return nil, fmt.Errorf("%w: --agent %s given twice", ErrConfig, a.Name)
		}
		given[a.Name] = true
	}
	var out []Agent
	for _, a := range fromFile {
		if !given[a.Name] {
			out = append(out, a)
		}
	}
	return append(out, cfg.Agents...), nil
}
