package client_test

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/client"
	"github.com/tether-dev/tether/protocol"
)

// syncBuffer is a bytes.Buffer that the process's stderr copier and the
// test may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// alive reports whether pid is a process that has not been reaped.
func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func TestSpawnedTetherAnswersAndCloseWaitsForItsExit(t *testing.T) {
	var stderr syncBuffer
	cmd := exec.Command(tetherBin, "--backend", "mock", "--log-level", "debug")
	cmd.Stderr = &stderr
	c, err := client.Spawn(cmd, client.Options{Permission: func(context.Context, protocol.PermissionRequestParams) client.Decision {
		return client.Decision{Allow: true}
	}})
	require.NoError(t, err)
	pid := cmd.Process.Pid

	info, err := c.Initialize(context.Background(), protocol.InitializeParams{})
	require.NoError(t, err)
	assert.Equal(t, "tether", info.ServerInfo.Name)
	var rec recorder
	res, err := c.Query(context.Background(), q("s1", "spawned\n/tool Bash {}\n/tokens 3"), rec.on)
	require.NoError(t, err)
	assert.Equal(t, "spawned\ntok1 tok2 tok3", res.Text)
	assert.Equal(t, res.Text, rec.tokens())
	assert.False(t, rec.last(protocol.MethodToolResult).ToolResult.IsError)

	start := time.Now()
	require.NoError(t, c.Close(), "shutdown, exit, and an exit code of 0; stderr:\n%s", stderr.String())
	t.Logf("Close took %v", time.Since(start))
	require.NotNil(t, cmd.ProcessState, "Close waited for the process")
	assert.True(t, cmd.ProcessState.Exited())
	assert.Equal(t, 0, cmd.ProcessState.ExitCode())
	assert.False(t, alive(pid), "the process is gone and reaped")
	assert.Contains(t, stderr.String(), "exit code=0", "Tether logged its own clean exit")
}

func TestSpawnedTetherThatDiesFailsQueriesAndCloseReportsIt(t *testing.T) {
	cmd := exec.Command(tetherBin, "--backend", "mock")
	c, err := client.Spawn(cmd, client.Options{})
	require.NoError(t, err)

	busy := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		var once sync.Once
		_, err := c.Query(context.Background(), q("s1", "/sleep 60000"), func(ev client.Event) {
			if ev.Status != nil && ev.Status.Status == protocol.StatusBusy {
				once.Do(func() { close(busy) })
			}
		})
		done <- err
	}()
	<-busy
	require.NoError(t, cmd.Process.Kill())
	select {
	case err := <-done:
		assert.ErrorIs(t, err, client.ErrClosed)
	case <-time.After(guard):
		t.Fatal("Query did not return when Tether died")
	}
	select {
	case <-c.Done():
	case <-time.After(guard):
		t.Fatal("Done was not closed when Tether died")
	}
	err = c.Close()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "Close reports how the process ended: %v", err)
	assert.False(t, alive(cmd.Process.Pid))
}

func TestSpawnNeedsFreeStdio(t *testing.T) {
	cmd := exec.Command(tetherBin)
	cmd.Stdout = &bytes.Buffer{}
	_, err := client.Spawn(cmd, client.Options{})
	assert.Error(t, err)
	_, err = client.Spawn(exec.Command("/does/not/exist/tether"), client.Options{})
	assert.Error(t, err)
}
