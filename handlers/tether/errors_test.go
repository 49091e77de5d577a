package tether

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/protocol"
	"github.com/tether-dev/tether/rpc"
	"github.com/tether-dev/tether/sessions"
)

func TestWireErrorMapsEveryKind(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int64
	}{
		{&sessions.ParamError{Field: "cwd", Reason: "x"}, rpc.CodeInvalidParams},
		{fmt.Errorf("wrapped: %w", &sessions.ParamError{Field: "cwd"}), rpc.CodeInvalidParams},
		{rpc.ErrRequestCancelled, rpc.CodeRequestCancelled},
		{fmt.Errorf("queue: %w", sessions.ErrBusy), protocol.CodeSessionBusy},
		{fmt.Errorf("%w: claude: install it", backends.ErrUnavailable), protocol.CodeBackendUnavailable},
		{fmt.Errorf("turn: %w: overloaded", backends.ErrFailed), protocol.CodeBackendFailed},
		{sessions.ErrShuttingDown, protocol.CodeShuttingDown},
		{sessions.ErrClosed, protocol.CodeSessionClosed},
		{fmt.Errorf("%w: killed", sessions.ErrShutdownTimeout), protocol.CodeShutdownTimeout},
	} {
		e := WireError(tc.err)
		require.NotNil(t, e, "%v", tc.err)
		assert.Equal(t, tc.code, e.Code, "%v", tc.err)
		assert.Equal(t, tc.err.Error(), e.Message, "the message is the error's own")
	}
	assert.Nil(t, WireError(errors.New("something unforeseen")), "left to the transport: an internal error")
	e := WireError(&sessions.ParamError{Field: "prompt", Reason: "required"})
	assert.JSONEq(t, `{"field":"prompt"}`, string(e.Data))
}
