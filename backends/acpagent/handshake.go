package acpagent

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	schema "github.com/coder/acp-go-sdk"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/rpc"
)

// This file holds the start of an agent's process (ACP's initialize) and
// how the process's failures are told to the user.

// initialize is ACP's handshake: Tether's capabilities (no fs, no
// terminal: the agent uses its own), the agent's answer kept.
func (p *process) initialize(ctx context.Context) error {
	var res schema.InitializeResponse
	err := p.conn.Call(ctx, schema.AgentMethodInitialize, initializeParams{
		ProtocolVersion: ProtocolVersion,
		ClientInfo:      clientInfo{Name: "tether", Title: "Tether", Version: version()},
	}, &res)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return p.failure(fmt.Errorf("it did not answer initialize within %v (--agent-start-timeout); is %q an ACP agent? (Gemini CLI needs --acp)", p.h.cfg.StartTimeout, p.h.agent.commandLine()))
		}
		return p.failure(fmt.Errorf("initialize: %w", p.callError(err)))
	}
	if res.ProtocolVersion != ProtocolVersion {
		return p.failure(fmt.Errorf("it speaks ACP version %d; Tether speaks %d", res.ProtocolVersion, ProtocolVersion))
	}
	p.caps = res.AgentCapabilities
	p.h.learned.capabilities(res.AgentCapabilities)
	name := ""
	if res.AgentInfo != nil {
		name = res.AgentInfo.Name + " " + res.AgentInfo.Version
	}
	p.log.Info("agent ready", "agent", strings.TrimSpace(name), "loadSession", p.caps.LoadSession,
		"resume", p.caps.SessionCapabilities.Resume != nil, "close", p.caps.SessionCapabilities.Close != nil)
	return nil
}

// initializeParams is initialize's params, written out in full: the
// schema's types leave false capabilities out, which means the same but
// says less to whoever reads a trace.
type initializeParams struct {
	ProtocolVersion    int                `json:"protocolVersion"`
	ClientCapabilities clientCapabilities `json:"clientCapabilities"`
	ClientInfo         clientInfo         `json:"clientInfo"`
}

// clientCapabilities are what Tether serves the agent: nothing. The agent
// reads and writes files and runs commands itself, asking permission
// first; ACP's fs and terminal methods are answered "method not found".
type clientCapabilities struct {
	Fs struct {
		ReadTextFile  bool `json:"readTextFile"`
		WriteTextFile bool `json:"writeTextFile"`
	} `json:"fs"`
	Terminal bool `json:"terminal"`
}

type clientInfo struct {
	Name    string `json:"name"`
	Title   string `json:"title"`
	Version string `json:"version"`
}

// version is Tether's module version, or "dev" for a build from a work
// tree.
func version() string {
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}

// exitWait bounds how long a fault waits for the process's exit status
// once its output has ended, so the error can say how it ended.
const exitWait = 2 * time.Second

// failure is err as ErrFailed, with how the process ended and the tail of
// its stderr.
func (p *process) failure(err error) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %v", p.h.agent.Name, err)
	if p.isGone() {
		timer := time.NewTimer(exitWait)
		select {
		case <-p.sp.Exited():
		case <-timer.C:
		}
		timer.Stop()
		fmt.Fprintf(&b, " (%s)", p.sp.ExitStatus())
	}
	if tail := strings.TrimSpace(p.sp.StderrTail()); tail != "" {
		b.WriteString("; stderr: ")
		b.WriteString(lastLines(tail, 20, 2000))
	}
	return fmt.Errorf("%w: %s", backends.ErrFailed, b.String())
}

// callError turns an error of a call to the agent into what a user reads:
// the agent's own error as it said it, or that its output ended.
func (p *process) callError(err error) error {
	var re *rpc.Error
	switch {
	case errors.As(err, &re):
		msg := re.Message
		if len(re.Data) > 0 && string(re.Data) != "null" {
			msg += " " + string(re.Data)
		}
		return fmt.Errorf("the agent answered error %d: %s", re.Code, msg)
	case errors.Is(err, rpc.ErrInputEnded):
		return errors.New("the agent's output ended (it exited or closed its stdout)")
	}
	return err
}

// lastLines is the last n lines of s, at most max bytes.
func lastLines(s string, n, max int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := strings.Join(lines, "\n")
	if len(out) > max {
		cut := len(out) - max
		for cut < len(out) && !utf8.RuneStart(out[cut]) {
			cut++
		}
		out = "…" + out[cut:]
	}
	return out
}
