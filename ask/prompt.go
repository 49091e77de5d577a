package ask

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/tether-dev/tether/client"
)

// terminalPrompt asks the user on the terminal whether a tool may run. Its
// input is a pollable copy of the terminal (see terminalInput), so that a
// question Tether withdraws, or an interrupt, ends the wait for an answer:
// the read is woken by a deadline and its goroutine waited for.
type terminalPrompt struct {
	in  *os.File
	r   *bufio.Reader // kept across questions: it may hold typed-ahead input
	out *askOutput
}

func newTerminalPrompt(in *os.File, out *askOutput) *terminalPrompt {
	return &terminalPrompt{in: in, r: bufio.NewReader(in), out: out}
}

// ask asks until it gets y, n or always; an empty answer, the end of the
// input or a withdrawn question is a deny. The question names the rule
// "always" adds (alwaysRule), so the user sees what they allow for the
// rest of the session: "[a]lways allow Bash(ls:*)".
func (p *terminalPrompt) ask(ctx context.Context, tool, input, alwaysRule string) client.Decision {
	always := "[a]lways"
	if alwaysRule != "" {
		always = "[a]lways allow " + alwaysRule
	}
	for {
		p.out.prompt(fmt.Sprintf("Allow %s %s? [y]es / [n]o / %s: ", tool, input, always))
		answer, err := p.readLine(ctx)
		if err != nil {
			return client.Decision{Reason: "the user did not answer"}
		}
		p.out.answered()
		switch strings.ToLower(strings.TrimSpace(answer)) {
		case "y", "yes":
			return client.Decision{Allow: true}
		case "a", "always":
			return client.Decision{Allow: true, Remember: true}
		case "n", "no", "":
			return client.Decision{Reason: "the user said no"}
		}
	}
}

// readLine reads one line, or gives up when ctx ends. The reading goroutine
// is this call's: it is woken by the deadline and waited for before
// readLine returns.
func (p *terminalPrompt) readLine(ctx context.Context) (string, error) {
	type read struct {
		line string
		err  error
	}
	done := make(chan read, 1)
	go func() {
		line, err := p.r.ReadString('\n')
		done <- read{line, err}
	}()
	select {
	case r := <-done:
		if r.err != nil && !(errors.Is(r.err, os.ErrDeadlineExceeded) || r.line == "") {
			return r.line, nil // a last line without a newline
		}
		return r.line, r.err
	case <-ctx.Done():
		_ = p.in.SetReadDeadline(time.Now())
		<-done
		_ = p.in.SetReadDeadline(time.Time{})
		return "", ctx.Err()
	}
}
