package claude

import (
	"bytes"
	"io"
	"log/slog"
	"testing"
)

// BenchmarkDecodeLine decodes the recorded second turn (5,000 text deltas
// from the real CLI), one line per op, in the order the CLI wrote them.
func BenchmarkDecodeLine(b *testing.B) {
	lines := loadRecording(b)
	b.Run("full", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, ok, err := decodeLine(lines[i%len(lines)]); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
}

// BenchmarkReadStdout runs the stdout reader over the recorded turn,
// replayed until it has read b.N lines, with a receiver taking every
// message off msgs as a turn would: one op is one line read, decoded and
// handed over.
func BenchmarkReadStdout(b *testing.B) {
	lines := loadRecording(b)
	var stream []byte
	for _, l := range lines {
		stream = append(append(stream, l...), '\n')
	}
	b.ReportAllocs()
	p := &process{
		log:     slog.New(slog.DiscardHandler),
		msgs:    make(chan message),
		closing: make(chan struct{}),
	}
	received := make(chan int)
	go func() {
		n := 0
		for range p.msgs {
			n++
		}
		received <- n
	}()
	b.ResetTimer()
	p.readStdout(&replay{stream: stream, lines: b.N})
	if n := <-received; n != b.N {
		b.Fatalf("received %d messages of %d lines", n, b.N)
	}
}

// replay reads stream over and over until it has given lines lines.
type replay struct {
	stream []byte
	off    int
	lines  int
}

func (r *replay) Read(p []byte) (int, error) {
	if r.lines == 0 {
		return 0, io.EOF
	}
	if r.off == len(r.stream) {
		r.off = 0
	}
	rest := r.stream[r.off:]
	// Stop at the end of the last line wanted.
	end, count := 0, 0
	for end < len(rest) && end < len(p) && count < r.lines {
		i := bytes.IndexByte(rest[end:], '\n')
		if i < 0 {
			end = len(rest)
			break
		}
		end += i + 1
		count++
	}
	n := copy(p, rest[:end])
	r.off += n
	r.lines -= bytes.Count(p[:n], []byte("\n"))
	return n, nil
}
