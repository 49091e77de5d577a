//go:build unix

package supervisor

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// split runs readLines over r and returns the lines, the long-line sizes
// and the error.
func split(r io.Reader, max int) (lines []string, long []int64, err error) {
	err = readLines(r, max,
		func(b []byte) { lines = append(lines, string(b)) },
		func(n int64) { long = append(long, n) })
	return lines, long, err
}

func TestReadLinesSplitsWhateverTheReads(t *testing.T) {
	input := "a\n\nbc\r\n" + strings.Repeat("y", 200<<10) + "\nz\nlast"
	want := []string{"a", "", "bc\r", strings.Repeat("y", 200<<10), "z", "last"}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"halves":   iotest.HalfReader,
		"data+EOF": iotest.DataErrReader,
	}
	for name, wrap := range readers {
		t.Run(name, func(t *testing.T) {
			lines, long, err := split(wrap(strings.NewReader(input)), DefaultMaxLine)
			require.NoError(t, err)
			assert.Equal(t, want, lines)
			assert.Empty(t, long)
		})
	}
}

func TestReadLinesSkipsLinesAboveMax(t *testing.T) {
	const max = 100
	input := strings.Repeat("x", max) + "\n" + // exactly max: kept
		strings.Repeat("y", max+1) + "\n" + // one above: skipped
		"next\n" +
		strings.Repeat("z", 10*max+7) + "\n" + // spans many reads
		"after\n" +
		strings.Repeat("w", 3*max) // unterminated at EOF: skipped
	for _, wrap := range []func(io.Reader) io.Reader{
		func(r io.Reader) io.Reader { return r }, iotest.OneByteReader, iotest.HalfReader,
	} {
		lines, long, err := split(wrap(strings.NewReader(input)), max)
		require.NoError(t, err)
		assert.Equal(t, []string{strings.Repeat("x", max), "next", "after"}, lines)
		assert.Equal(t, []int64{max + 1, 10*max + 7, 3 * max}, long)
	}
}

func TestReadLinesReturnsReadErrorAfterTheData(t *testing.T) {
	broken := errors.New("broken")
	lines, _, err := split(io.MultiReader(strings.NewReader("one\ntwo"), iotest.ErrReader(broken)), 10)
	assert.ErrorIs(t, err, broken)
	assert.Equal(t, []string{"one", "two"}, lines)
}

func TestReadLinesDoesNotHoldALongLine(t *testing.T) {
	// A 128 MiB line through a 1 MiB limit: memory grows with the limit,
	// not with the line.
	const line, max = 128 << 20, 1 << 20
	r := io.MultiReader(io.LimitReader(infiniteX{}, line), strings.NewReader("\nok\n"))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	lines, long, err := split(r, max)
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	assert.Equal(t, []string{"ok"}, lines)
	assert.Equal(t, []int64{line}, long)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(8*max), "allocated while skipping")
}

// infiniteX reads as endless 'x'.
type infiniteX struct{}

var xs = []byte(strings.Repeat("x", 64<<10))

func (infiniteX) Read(b []byte) (int, error) { return copy(b, xs), nil }

func TestLinesArriveInOrder(t *testing.T) {
	const n = 5000
	p, rec := startFake(t, Config{}, "lines", fmt.Sprint(n))
	for i := range n {
		require.Equal(t, fmt.Sprintf("line %d", i), rec.next(t))
	}
	p.CloseStdin()
	// The unterminated last line comes with EOF, then the end.
	assert.Equal(t, "last", rec.next(t))
	assert.NoError(t, rec.stdoutEnd(t))
	assert.NoError(t, stopWithin(t, t.Context(), p))
	assert.Equal(t, "exit status 0", p.ExitStatus())
}

func TestHugeLineIsSkippedAndTheNextDelivered(t *testing.T) {
	const size, max = 32 << 20, 1 << 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	p, rec := startFake(t, Config{MaxLine: max}, "hugeline", fmt.Sprint(size))
	assert.Equal(t, "after", rec.next(t))
	runtime.ReadMemStats(&after)
	rec.mu.Lock()
	assert.Equal(t, []int64{size}, rec.long)
	rec.mu.Unlock()
	// The line was never held: what was allocated is bounded by MaxLine.
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(8*max))
	assert.NoError(t, stopWithin(t, t.Context(), p))
}
