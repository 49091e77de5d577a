package tether_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/handlers"
	"github.com/tether-dev/tether/protocol"
	"github.com/tether-dev/tether/rpc"
)

// guard bounds how long a shutdown may take in a fuzz iteration.
const guard = 20 * time.Second

// instant is a backend whose turns end at once with one token, so that a
// fuzzed prompt can never keep a fuzz iteration waiting.
type instant struct{}

func (instant) Name() string              { return "instant" }
func (instant) Available() (bool, string) { return true, "" }
func (instant) Info() backends.Info       { return backends.Info{} }
func (instant) Open(context.Context, backends.Options) (backends.Conn, error) {
	return instantConn{}, nil
}

type instantConn struct{}

func (instantConn) Query(_ context.Context, _ backends.Turn, sink backends.Sink) (backends.Result, error) {
	sink.Token("ok")
	return backends.Result{StopReason: backends.StopEndTurn}, nil
}
func (instantConn) Close(context.Context) error { return nil }

var fuzzMethods = []string{
	protocol.MethodInitialize, protocol.MethodSessionQuery, protocol.MethodSessionOpen,
	protocol.MethodSessionCancel, protocol.MethodSessionCleanup, protocol.MethodSessionList,
	protocol.MethodPermissionRespond, protocol.MethodShutdown,
	protocol.MethodSessionLoad, protocol.MethodSessionDelete,
}

// FuzzParams sends each method any params and checks what a client relies
// on: exactly one answer, with the request's id; an error is about the
// params (or the session), never an internal error; and Tether goes on to
// the end of its input.
func FuzzParams(f *testing.F) {
	for i := range fuzzMethods {
		for _, p := range []string{
			`{}`, `null`, `[]`, `{"sessionId":"s","prompt":"hi"}`, `{"sessionId":7}`,
			`{"sessionId":"s","prompt":"hi","tools":[{"name":""}]}`, `{"sessionId":"s","prompt":"x","cwd":"rel"}`,
			`{"sessionId":"s","prompt":"x","maxTurns":-1}`, `{"requestId":"x","decision":"maybe"}`,
			`{"sessionId":"s","prompt":"x","backend":"nope"}`, `{"sessionId":"s","prompt":{"a":1}}`,
			`{"clientInfo":{"name":3}}`, `{"sessionId":"","prompt":""}`, `[1,2,3]`,
			`{"cwd":"/","limit":-1,"cursor":"x"}`, `{"limit":"ten"}`,
		} {
			f.Add(uint8(i), p)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, params string) {
		method := fuzzMethods[int(which)%len(fuzzMethods)]
		if !json.Valid([]byte(params)) {
			b, _ := json.Marshal(params)
			params = string(b) // a string: not structured params
		}
		var compact bytes.Buffer
		_ = json.Compact(&compact, []byte(params)) // one message, one line
		params = compact.String()
		msg := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":%q,"params":%s}`, method, params)
		var problems []string
		inR, inW := io.Pipe()
		outR, outW := io.Pipe()
		done := make(chan int, 1)
		go func() {
			done <- handlers.Serve(context.Background(), inR, outW, handlers.Config{
				Backends: []backends.Backend{instant{}}, DefaultBackend: "instant",
				Framing: rpc.FramingNDJSON, ShutdownTimeout: guard, Log: slog.New(slog.DiscardHandler),
				OnReplyProblem: func(m, p string) { problems = append(problems, m+": "+p) },
			})
			outW.Close()
		}()
		go func() {
			io.WriteString(inW, msg+"\n")
			inW.Close()
		}()
		var answers []map[string]json.RawMessage
		sc := bufio.NewScanner(outR)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("not JSON: %q", sc.Text())
			}
			if _, isNote := m["method"]; !isNote {
				answers = append(answers, m)
			}
		}
		<-done
		if len(problems) > 0 {
			t.Fatalf("%s %s: %v", method, params, problems)
		}
		if len(answers) != 1 {
			t.Fatalf("%s %s: %d answers, want 1: %v", method, params, len(answers), answers)
		}
		a := answers[0]
		if string(a["id"]) != "1" && string(a["id"]) != "null" {
			t.Fatalf("answered with id %s", a["id"])
		}
		if e, ok := a["error"]; ok && strings.Contains(string(e), fmt.Sprint(rpc.CodeInternalError)) {
			t.Fatalf("%s %s: an internal error: %s", method, params, e)
		}
	})
}
