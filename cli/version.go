package cli

import (
	"fmt"
	"runtime/debug"
)

// Version is the version Tether reports, in `tether version` and in
// initialize's serverInfo: set, when the build set one (-ldflags "-X
// main.version=1.2.3"); else what the Go toolchain recorded in the binary.
func Version(set string) string {
	info, _ := debug.ReadBuildInfo()
	return versionFrom(set, info)
}

// versionFrom is Version with the build info given (nil when the binary
// has none): the main module's version (a tag, or the pseudo-version that
// `go build` stamps from the VCS, "+dirty" when the tree had changes, and
// that `go install module@version` records); else the VCS revision, short,
// with "+dirty" likewise (a build made with -buildvcs but no module
// version); else "dev".
func versionFrom(set string, info *debug.BuildInfo) string {
	if set != "" {
		return set
	}
	if info == nil {
		return "dev"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var revision, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if revision == "" {
		return "dev"
	}
	if len(revision) > 12 {
		revision = revision[:12]
	}
	if modified == "true" {
		revision += "+dirty"
	}
	return revision
}

// runVersion is `tether version`.
func runVersion(args []string, std Stdio) int {
	if len(args) == 1 && isHelp(args[0]) {
		fmt.Fprint(std.Out, `Usage: tether version

Prints Tether's version on stdout: the one initialize reports as
serverInfo.version. It is the module version the Go toolchain recorded
(a tag, or a pseudo-version from the commit), else the commit, else "dev";
a build can set it with -ldflags "-X main.version=1.2.3".
`)
		return exitOK
	}
	if len(args) > 0 {
		return usageError(std, fmt.Sprintf("tether version takes no arguments, got %q", args))
	}
	fmt.Fprintln(std.Out, std.Version)
	return exitOK
}
