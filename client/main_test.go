package client_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/backends/mock"
	"github.com/tether-dev/tether/client"
	"github.com/tether-dev/tether/handlers"
	"github.com/tether-dev/tether/rpc"
)

// guard bounds every wait of a test, so that a bug fails the test naming
// what was awaited instead of hanging the suite. It never paces a test.
const guard = 20 * time.Second

// tetherBin is the tether binary TestMain builds, for the spawn tests and
// the Example; its directory is put first on PATH, so that the Example can
// run "tether" as a host app would.
var tetherBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tether-client-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tetherBin = filepath.Join(dir, "tether")
	build := exec.Command("go", "build", "-o", tetherBin, "github.com/tether-dev/tether")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building tether:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	os.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	// The Tethers the tests spawn keep their sessions in dir, never in
	// the developer's ~/.local/state.
	os.Setenv("TETHER_STATE_DIR", filepath.Join(dir, "state"))
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		// Every test closes its clients; nothing of theirs may be left.
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left after the tests:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// startInProcess runs a Tether in-process on the mock backend, served by
// handlers.Serve as the binary serves, and returns a Client connected to it
// over pipes. Cleanup closes the client, then waits for the server to end.
func startInProcess(t testing.TB, opts client.Options) *client.Client {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	served := make(chan struct{})
	go func() {
		defer close(served)
		handlers.Serve(context.Background(), inR, outW, handlers.Config{
			Backends:        []backends.Backend{mock.Backend{}},
			DefaultBackend:  mock.Name,
			Version:         "test",
			Framing:         rpc.FramingAuto,
			ShutdownTimeout: guard,
			Log:             log,
		})
		outW.Close()
	}()
	if opts.Log == nil {
		opts.Log = log.With("side", "client")
	}
	c := client.Connect(client.Duplex(outR, inW), opts)
	t.Cleanup(func() {
		require.NoError(t, c.Close())
		select {
		case <-served:
		case <-time.After(guard):
			t.Errorf("the in-process tether did not end after Close")
		}
	})
	return c
}

// testWriter sends logs to the test log, shown on failure.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
