package client_test

import (
	"context"
	"fmt"
	"log"
	"os/exec"

	"github.com/tether-dev/tether/client"
	"github.com/tether-dev/tether/protocol"
)

// A host app starts Tether, runs a query with a streaming callback and a
// permission handler, and closes it. Tether's mock backend scripts the
// agent from the prompt: it says a few words, wants the Bash tool, and says
// a few more.
func Example() {
	c, err := client.Spawn(exec.Command("tether", "--backend", "mock"), client.Options{
		// Called when the agent wants a tool; without it, the answer is deny.
		Permission: func(ctx context.Context, req protocol.PermissionRequestParams) client.Decision {
			fmt.Printf("\n[allowing %s %s]", req.ToolName, req.ToolInput)
			return client.Decision{Allow: true}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close() // shutdown, exit, and wait for the process

	prompt := "Let me look.\n/tool Bash {\"command\":\"ls\"}\nDone."
	res, err := c.Query(context.Background(), protocol.QueryParams{SessionID: "demo", Prompt: prompt},
		func(ev client.Event) {
			switch {
			case ev.Token != nil:
				fmt.Print(ev.Token.Text)
			case ev.ToolResult != nil:
				fmt.Printf("\n[%s]", ev.ToolResult.Summary)
			}
		})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("\nstop: %s, %d tokens\n", res.StopReason, res.Usage.OutputTokens)
	// Output:
	// Let me look.
	// [allowing Bash {"command":"ls"}]
	// [Bash ran (mock result)]
	// Done.
	// stop: end_turn, 4 tokens
}
