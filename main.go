// Command tether is a sidecar that editors, shell pipes and host apps spawn
// to talk to AI coding agents: JSON-RPC 2.0 on stdin/stdout, one actor per
// agent session. protocol.md is the contract; README.md shows how to run it.
// The commands live in package cli.
package main

import (
	"fmt"
	"os"

	"github.com/tether-dev/tether/cli"
	"github.com/tether-dev/tether/supervisor"
)

// version is what a build may set with -ldflags "-X main.version=1.2.3";
// left empty, cli.Version takes it from the binary's build info.
var version string

func main() {
	// First of all: no process Tether starts may outlive it, even when it
	// is killed (parent-death signals, a subreaper, a janitor). In the
	// janitor's own process, Init runs the janitor and never returns.
	if err := supervisor.Init(supervisor.Options{}); err != nil {
		fmt.Fprintf(os.Stderr, "tether: %v; processes may outlive a killed Tether\n", err)
	}
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, version))
}
