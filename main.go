// Command tether is a sidecar that editors, shell pipes and host apps spawn
// to talk to AI coding agents: JSON-RPC 2.0 on stdin/stdout, one actor per
// agent session. protocol.md is the contract; README.md shows how to run it.
// The commands live in package cli.
package main

import (
	"os"

	"github.com/tether-dev/tether/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, version))
}
