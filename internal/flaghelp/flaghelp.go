// Package flaghelp prints a command's flags in titled groups, for the
// usage messages of tether and its commands: a flat list of twenty flags,
// as flag.PrintDefaults writes it, hides which ones matter together.
package flaghelp

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// Group is a titled group of flags in a usage message.
type Group struct {
	Title string
	// Names are the group's flags, in the order shown.
	Names []string
	// Prefix, when set, adds every other flag whose name starts with it,
	// in alphabetical order: a backend's flags (claude-...) join its group
	// as they are added.
	Prefix string
}

// Print writes the flags of fs to w, group by group, each flag as
//
//	--name VALUE
//	      usage (default x)
//
// A flag no group takes is listed last under "Other flags:", so that a
// flag added without a group still shows. Groups with no flag of fs are
// left out.
func Print(w io.Writer, fs *flag.FlagSet, groups ...Group) {
	taken := make(map[string]bool)
	var sections [][]*flag.Flag
	for _, g := range groups {
		var flags []*flag.Flag
		for _, name := range g.Names {
			if f := fs.Lookup(name); f != nil && !taken[name] {
				taken[name] = true
				flags = append(flags, f)
			}
		}
		if g.Prefix != "" {
			fs.VisitAll(func(f *flag.Flag) {
				if strings.HasPrefix(f.Name, g.Prefix) && !taken[f.Name] {
					taken[f.Name] = true
					flags = append(flags, f)
				}
			})
		}
		sections = append(sections, flags)
	}
	var rest []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if !taken[f.Name] {
			rest = append(rest, f)
		}
	})
	groups = append(groups, Group{Title: "Other flags"})
	sections = append(sections, rest)

	first := true
	for i, flags := range sections {
		if len(flags) == 0 {
			continue
		}
		if !first {
			fmt.Fprintln(w)
		}
		first = false
		fmt.Fprintf(w, "%s:\n", groups[i].Title)
		for _, f := range flags {
			printFlag(w, f)
		}
	}
}

// printFlag writes one flag much as flag.PrintDefaults does, but with two
// dashes (how the README and every message spell them), the value's name
// in capitals, and the usage wrapped.
func printFlag(w io.Writer, f *flag.Flag) {
	name, usage := flag.UnquoteUsage(f)
	line := "  --" + f.Name
	if name != "" {
		line += " " + strings.ToUpper(name)
	}
	if def := defaultText(f); def != "" {
		usage += " (default " + def + ")"
	}
	fmt.Fprintln(w, line)
	for _, l := range wrap(usage, width-len(indent)) {
		fmt.Fprintln(w, indent+l)
	}
}

// width is the width usage text is wrapped to; indent starts each of its
// lines.
const (
	width  = 80
	indent = "      "
)

// wrap breaks s into lines of at most n bytes at spaces (a longer word
// gets a line of its own), keeping the line breaks s has.
func wrap(s string, n int) []string {
	var lines []string
	for _, para := range strings.Split(s, "\n") {
		line := ""
		for _, word := range strings.Fields(para) {
			switch {
			case line == "":
				line = word
			case len(line)+1+len(word) <= n:
				line += " " + word
			default:
				lines = append(lines, line)
				line = word
			}
		}
		lines = append(lines, line)
	}
	return lines
}

// defaultText is how a flag's default is shown, or "" for a zero value,
// which goes without saying.
func defaultText(f *flag.Flag) string {
	switch f.DefValue {
	case "", "0", "0s", "false":
		return ""
	}
	if getter, ok := f.Value.(flag.Getter); ok {
		if _, isString := getter.Get().(string); isString {
			return fmt.Sprintf("%q", f.DefValue)
		}
	}
	return f.DefValue
}
