//go:build race

package rpc

// raceEnabled: the race detector makes sync.Pool drop what is put back, so
// allocation counts of code using one (json.Valid) mean nothing.
const raceEnabled = true
