//go:build !unix

package cli

import "io"

// pollable returns stdin as it is: on these systems Tether does not wait
// for its read loop when the client keeps its end open.
func pollable(in io.ReadCloser) (io.ReadCloser, func()) { return in, func() {} }
