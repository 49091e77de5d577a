package jsonwire

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// encodingJSON is what encoding/json writes for s as a string, with
// SetEscapeHTML(false), less the Encoder's newline.
func encodingJSON(t testing.TB, s string) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func TestAppendString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"Hello, world", `"Hello, world"`},
		{`say "hi" \o/`, `"say \"hi\" \\o/"`},
		{"a\nb\tc\rd\be\ff", `"a\nb\tc\rd\be\ff"`},
		{"\x00\x01\x1f\x7f", `"\u0000\u0001\u001f` + "\x7f" + `"`},
		{"<b>&amp;</b>", `"<b>&amp;</b>"`},
		{"café 日本語 🙂", `"café 日本語 🙂"`},
		{"line\u2028sep\u2029par", `"line\u2028sep\u2029par"`},
		{"bad \xff byte, cut \xe6\x97 rune, \xed\xa0\x80 surrogate", `"bad \ufffd byte, cut \ufffd\ufffd rune, \ufffd\ufffd\ufffd surrogate"`},
		{"\ufffd is kept as is", "\"\ufffd is kept as is\""},
		{strings.Repeat("eight by", 4) + "\n" + strings.Repeat("x", 13), `"` + strings.Repeat("eight by", 4) + `\n` + strings.Repeat("x", 13) + `"`},
	} {
		got := string(AppendString(nil, tc.in))
		if got != tc.want {
			t.Errorf("AppendString(%q) = %s, want %s", tc.in, got, tc.want)
		}
		if want := encodingJSON(t, tc.in); got != want {
			t.Errorf("AppendString(%q) = %s, encoding/json writes %s", tc.in, got, want)
		}
		if got := string(AppendString([]byte("prefix:"), []byte(tc.in))); got != "prefix:"+tc.want {
			t.Errorf("AppendString(prefix, []byte(%q)) = %s, want prefix:%s", tc.in, got, tc.want)
		}
	}
}

// FuzzAppendString checks AppendString against encoding/json for any
// string, as a string and as a byte slice, after existing bytes.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{
		"", "plain ascii text", `"\`, "\x00\x08\x0c\x1f\x7f", "<>&", "\u2028\u2029\u2027\u202a",
		"\xff\xfe", "\xc3", "\xe2\x80", "\xf0\x9f\x99", "\xf0\x9f\x99\x82", "\xed\xbf\xbf", "\xf4\x90\x80\x80",
		"café 日本語 🙂", strings.Repeat("0123456\"", 3), strings.Repeat("abcdefg\x80", 3),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := encodingJSON(t, s)
		if got := AppendString(nil, s); string(got) != want {
			t.Fatalf("AppendString(%q) = %s, encoding/json writes %s", s, got, want)
		}
		if got := AppendString([]byte("x"), []byte(s)); string(got) != "x"+want {
			t.Fatalf("AppendString(x, []byte(%q)) = %s, want x%s", s, got, want)
		}
		if got := AppendStringContents(nil, s); `"`+string(got)+`"` != want {
			t.Fatalf("AppendStringContents(%q) = %s, want %s without its quotes", s, got, want)
		}
		// Contents appended in parts make the whole's, where no part
		// splits a rune.
		if k := len(s) / 2; utf8.ValidString(s[:k]) && utf8.ValidString(s[k:]) {
			got := AppendStringContents(AppendStringContents(nil, s[:k]), s[k:])
			if `"`+string(got)+`"` != want {
				t.Fatalf("the contents of %q and %q = %s, want %s without its quotes", s[:k], s[k:], got, want)
			}
		}
	})
}

// benchTexts are what a token path encodes: a model's short chunks, and
// longer texts of code, prose beyond ASCII, and plain ASCII.
var benchTexts = []struct{ name, text string }{
	{"token", " the"},
	{"chunk", " returns an error when the"},
	{"code", strings.Repeat("func f(s string) error {\n\treturn fmt.Errorf(\"bad %q\", s)\n}\n", 40)},
	{"ascii", strings.Repeat("The quick brown fox jumps over the lazy dog. ", 100)},
	{"utf8", strings.Repeat("Ein Café für Grüße, 日本語のテキスト, и немного кириллицы. ", 40)},
}

// BenchmarkAppendString encodes each text into a buffer that has room, as
// a reused buffer has; encoding/json (an Encoder on a reused buffer) is the
// reference.
func BenchmarkAppendString(b *testing.B) {
	for _, tc := range benchTexts {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.text)))
			b.ReportAllocs()
			buf := make([]byte, 0, 2*len(tc.text)+16)
			for b.Loop() {
				buf = AppendString(buf[:0], tc.text)
			}
		})
		b.Run(tc.name+"/encoding-json", func(b *testing.B) {
			b.SetBytes(int64(len(tc.text)))
			b.ReportAllocs()
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			for b.Loop() {
				buf.Reset()
				if err := enc.Encode(tc.text); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzContents splits a string into pieces wherever the fuzzer says, even
// inside a UTF-8 sequence, and checks that Contents appends exactly what
// AppendStringContents appends for the whole.
func FuzzContents(f *testing.F) {
	f.Add("héllo wörld 🙂 \u2028", []byte{1, 2, 3})
	f.Add("\xf0\x9f\x99", []byte{1})
	f.Add("a\xe0\x80\x80b", []byte{2, 1})
	f.Add("\xf0\x9f\x99\x82\xf0", []byte{1, 1, 1, 1})
	f.Fuzz(func(t *testing.T, s string, cuts []byte) {
		want := string(AppendStringContents(nil, s))
		var c Contents
		var got []byte
		rest := []byte(s)
		for _, cut := range cuts {
			n := min(int(cut)%8, len(rest))
			got = c.Append(got, rest[:n])
			rest = rest[n:]
		}
		got = c.End(c.Append(got, rest))
		if string(got) != want {
			t.Fatalf("%q cut by %v: %s, want %s", s, cuts, got, want)
		}
	})
}
