package sessions

import (
	"context"
	"encoding/json"

	"github.com/tether-dev/tether/protocol"
)

// Client is the editor as sessions see it: where notifications go, and whom
// to ask when the agent calls a tool the editor runs. rpc implements it over
// the JSON-RPC connection; tests use a recording fake.
//
// Notify must be safe for concurrent use; calls made one after another from
// one goroutine must reach the editor in that order.
type Client interface {
	Notify(ctx context.Context, method string, params any) error
	Call(ctx context.Context, method string, params, result any) error
}

// Query is one session/query as handed to the Registry.
type Query struct {
	// ID is the JSON-RPC id of the request, as it was on the wire; it tags
	// every notification of the query.
	ID json.RawMessage
	// Ctx ends when the request is cancelled ($/cancelRequest) or the
	// connection closes. The query then ends with Ctx's cause as error.
	Ctx context.Context
	// Params are the request's params, already validated for shape.
	Params protocol.QueryParams
	// Reply is called exactly once, from the goroutine that wrote the
	// query's notifications, after the last of them.
	Reply func(protocol.QueryResult, error)
}
