package jsonwire_test

import (
	"fmt"
	"strconv"

	"github.com/tether-dev/tether/internal/jsonwire"
)

// A notification encoded into a buffer that is reused for the next one.
func ExampleAppendString() {
	var buf []byte
	for i, text := range []string{"Hello", ", \"wörld\"\n", "\u2028</script>"} {
		buf = append(buf[:0], `{"jsonrpc":"2.0","method":"session/token","params":{"seq":`...)
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, `,"text":`...)
		buf = jsonwire.AppendString(buf, text)
		buf = append(buf, "}}\n"...)
		fmt.Print(string(buf))
	}
	// Output:
	// {"jsonrpc":"2.0","method":"session/token","params":{"seq":0,"text":"Hello"}}
	// {"jsonrpc":"2.0","method":"session/token","params":{"seq":1,"text":", \"wörld\"\n"}}
	// {"jsonrpc":"2.0","method":"session/token","params":{"seq":2,"text":"\u2028</script>"}}
}
