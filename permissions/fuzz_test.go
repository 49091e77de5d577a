package permissions

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

var fuzzLines = []string{
	"ls", "ls -la", "ls; ls", "ls && rm x", "ls | sh", "ls $(rm x)", "ls `rm x`",
	`ls "a; b" 'c && d'`, "ls 2>/dev/null", "ls > out", "(ls)", "ls <(ls)",
	"ls ${x:-$(rm)}", "cat <<EOF\nls\nEOF", "if ls; then rm; fi", "ls() { rm; }",
	"ls \\\n -l", `ls "$(ls "$(ls)")"`, "ls &", "ls # ; rm", "X=1 ls", "ls\t&>/dev/null",
}

// separators are what starts another command after a complete one.
var separators = []string{";", " ; ", "&&", " || ", "|", " |& ", "&", "\n", ";\n"}

// substitutions run a command inside one.
var substitutions = []string{" $(%s)", " `%s`", " <(%s)", " >(%s)", ` "$(%s)"`, "; (%s)"}

// FuzzPrefixRuleNeverCoversAnotherCommand checks, on any command line, that
// nothing panics, that the rule For makes covers the request it was made
// for, and that a prefix rule that matches a line (or the start of one)
// never matches it once a separator and another command are put after
// that, or a substitution running another command.
func FuzzPrefixRuleNeverCoversAnotherCommand(f *testing.F) {
	for i, l := range fuzzLines {
		f.Add(l, uint(i))
	}
	f.Fuzz(func(t *testing.T, line string, cut uint) {
		input := bash(line)
		made, err := For("Bash", input)
		if err != nil {
			t.Fatalf("For(%q): %v", line, err)
		}
		if !made.Matches("Bash", input) {
			t.Fatalf("%s does not cover %q, the request it was made for", made, line)
		}
		rules := []Rule{mustParse(t, "Bash(ls:*)")}
		if made.kind == kindPrefix {
			rules = append(rules, made)
		}
		k := int(cut % uint(len(line)+1))
		head, tail := line[:k], line[k:]
		for _, r := range rules {
			other := "rm x"
			if r.words[0] == "rm" {
				other = "sh x"
			}
			if !r.Matches("Bash", bash(head)) {
				continue
			}
			for _, sep := range separators {
				for _, l := range []string{head + sep + other, head + sep + other + tail} {
					if r.Matches("Bash", bash(l)) {
						t.Fatalf("%s matches %q", r, l)
					}
				}
			}
			for _, sub := range substitutions {
				l := head + fmtCmd(sub, other)
				if r.Matches("Bash", bash(l)) {
					t.Fatalf("%s matches %q", r, l)
				}
			}
		}
	})
}

func fmtCmd(form, cmd string) string {
	return string(bytes.Replace([]byte(form), []byte("%s"), []byte(cmd), 1))
}

// FuzzParse checks that any string either is refused or parses to a rule
// whose String parses back to the same rule.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"Bash(ls:*)", `Edit({"a":1})`, "Read", "Bash(npm run *)", "x(", "(y)", "Bash(a b c:*)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(r.String())
		if err != nil || again.String() != r.String() || again.kind != r.kind {
			t.Fatalf("%q parsed to %q, which parses to %q (%v)", s, r.String(), again.String(), err)
		}
	})
}

// FuzzCanonical checks that the canonical form of any input is valid JSON
// with the same value, and its own canonical form.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":[1,2.50,{"d":null,"c":true}]}`, `"x"`, `1e400`, `{"a":"\u2028<>&"}`, `{"a":1,"a":2}`, `[`, "\"\xff\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		c, err := canonical(input)
		if err != nil {
			return
		}
		if !json.Valid(c) {
			t.Fatalf("canonical(%q) = %q, not JSON", input, c)
		}
		again, err := canonical(c)
		if err != nil || !bytes.Equal(again, c) {
			t.Fatalf("canonical(%q) = %q, but canonical of that is %q (%v)", input, c, again, err)
		}
		if !reflect.DeepEqual(decodeNumbers(t, input), decodeNumbers(t, c)) {
			t.Fatalf("canonical(%q) = %q changed the value", input, c)
		}
	})
}

func decodeNumbers(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %q: %v", b, err)
	}
	return v
}
