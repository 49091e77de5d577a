package store

import (
	"strings"
	"unicode/utf8"
)

// TitleMaxRunes is the longest title [Title] returns, in runes, including
// the ellipsis it adds when it cuts.
const TitleMaxRunes = 80

// Title makes a session's title from its first prompt: the first line that
// is not blank, with runs of white space folded to one space, cut to
// TitleMaxRunes at a word boundary when there is one near the end, and
// marked "…" when cut. An empty or blank prompt gives "".
func Title(prompt string) string {
	var line string
	for l := range strings.Lines(prompt) {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			line = l
			break
		}
	}
	if utf8.RuneCountInString(line) <= TitleMaxRunes {
		return line
	}
	// Keep TitleMaxRunes-1 runes, leaving room for the ellipsis.
	cut := 0
	for range TitleMaxRunes - 1 {
		_, size := utf8.DecodeRuneInString(line[cut:])
		cut += size
	}
	head := line[:cut]
	// Prefer ending at a word, unless that throws away more than a quarter.
	if sp := strings.LastIndexByte(head, ' '); sp >= len(head)*3/4 {
		head = head[:sp]
	}
	return strings.TrimRight(head, " ") + "…"
}
