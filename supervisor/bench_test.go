//go:build unix

package supervisor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"strconv"
	"testing"
)

// The stdout path from a child that writes as fast as it can to the line
// callback: lines/s and allocations per line (an op is one line; the start
// of the child is amortised over b.N lines).

func BenchmarkStdoutLines(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(floodLine)))
	lines := 0
	end := make(chan error, 1)
	cfg := fakeConfig("flood", strconv.Itoa(b.N))
	cfg.OnLine = func([]byte) { lines++ }
	cfg.OnStdoutEnd = func(err error) { end <- err }
	b.ResetTimer()
	p, err := Start(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := <-end; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if err := p.Stop(context.Background()); err != nil {
		b.Fatal(err)
	}
	if lines != b.N {
		b.Fatalf("%d lines, want %d", lines, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkStdoutLinesViaPipeCopy is the path backends/claude took before
// this package, for comparison: exec's copier into an io.Pipe, and
// bufio.Reader.ReadBytes allocating each line.
func BenchmarkStdoutLinesViaPipeCopy(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(floodLine)))
	fake := fakeConfig("flood", strconv.Itoa(b.N))
	b.ResetTimer()
	cmd := exec.Command(fake.Path, fake.Args...)
	cmd.Env = fake.Env
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		pw.Close()
	}()
	br := bufio.NewReaderSize(pr, 64<<10)
	lines := 0
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			lines++
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				b.Fatal(err)
			}
			break
		}
	}
	b.StopTimer()
	if lines != b.N {
		b.Fatalf("%d lines, want %d", lines, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkReadLines is the line splitter alone, over memory.
func BenchmarkReadLines(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(floodLine)))
	chunk := bytes.Repeat([]byte(floodLine), 512)
	r := &repeatReader{chunk: chunk, left: b.N * len(floodLine)}
	lines := 0
	b.ResetTimer()
	if err := readLines(r, DefaultMaxLine, func([]byte) { lines++ }, nil); err != nil {
		b.Fatal(err)
	}
	if lines != b.N {
		b.Fatalf("%d lines, want %d", lines, b.N)
	}
}

// repeatReader reads chunk over and over, left bytes in all.
type repeatReader struct {
	chunk []byte
	off   int
	left  int
}

func (r *repeatReader) Read(b []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := copy(b[:min(len(b), r.left)], r.chunk[r.off:])
	r.off = (r.off + n) % len(r.chunk)
	r.left -= n
	return n, nil
}
