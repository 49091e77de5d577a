package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/handlers"
	"github.com/tether-dev/tether/handlers/acp"
)

// dialectCommand is a command that serves a dialect other than Tether's
// own on stdio: it takes serve's flags (backends, logging, limits) and
// adds its own.
type dialectCommand interface {
	// name is the command's name (tether NAME).
	name() string
	// flags registers the command's own flags on fs.
	flags(fs *flag.FlagSet)
	// dialect returns the dialect to serve with cfg; or nil and the exit
	// code when the command has done its work without serving.
	dialect(cfg *handlers.Config, stdin io.Reader, stdout, stderr io.Writer) (handlers.Dialect, int)
}

// acpCommand is `tether acp`: the Agent Client Protocol on stdio, for
// editors that speak it. stdout carries nothing but ACP messages.
type acpCommand struct {
	login *bool
}

func (c *acpCommand) name() string { return "acp" }

func (c *acpCommand) flags(fs *flag.FlagSet) {
	c.login = fs.Bool(strings.TrimPrefix(acp.LoginFlag, "--"), false,
		"run the claude CLI's login in this terminal and exit (ACP's terminal auth method runs this)")
}

func (c *acpCommand) dialect(cfg *handlers.Config, stdin io.Reader, stdout, stderr io.Writer) (handlers.Dialect, int) {
	if *c.login {
		return nil, claudeLogin(cfg.Backends, stdin, stdout, stderr)
	}
	return acp.New(acp.Info{Name: "tether", Title: "Tether", Version: cfg.Version}, cfg.Log), 0
}

// claudeLogin runs `claude auth login` in the terminal Tether was started
// in, and returns its exit code: ACP clients run it for the terminal auth
// method, and take 0 for a login that worked.
//
// The CLI stays in Tether's process group, unlike every other child of
// Tether's: an interactive program must be in the terminal's foreground
// group to read the terminal. Tether waits for it, and ignores the
// terminal's interrupt meanwhile (the CLI gets it and decides).
func claudeLogin(all []backends.Backend, stdin io.Reader, stdout, stderr io.Writer) int {
	var path string
	err := errors.New("this Tether has no claude backend")
	for _, b := range all {
		if cl, ok := b.(interface{ Executable() (string, error) }); ok && b.Name() == "claude" {
			path, err = cl.Executable()
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "tether: cannot log in to Claude: %v\n", err)
		return 1
	}
	cmd := exec.Command(path, "auth", "login")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	interrupts := make(chan os.Signal, 1)
	signal.Notify(interrupts, os.Interrupt)
	defer signal.Stop(interrupts)
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() > 0:
		return exit.ExitCode()
	case err != nil:
		fmt.Fprintf(stderr, "tether: %s auth login: %v\n", path, err)
		return 1
	}
	return 0
}
