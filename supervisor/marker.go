package supervisor

import (
	"fmt"
	"os"
	"strings"
	"sync"
)

// markerPrefix starts the name of the variable that marks the children of
// one Tether process: TETHER_SUPERVISED_<pid>_<start>, with Tether's pid and
// its start time (so a later process with the same pid has another name).
// Each child's value is its own number. A Tether running inside a child
// adds its own variable and keeps its parent's, so each level still finds
// its descendants.
const markerPrefix = "TETHER_SUPERVISED_"

// markerName is this process's marker variable.
var markerName = sync.OnceValue(func() string {
	pid := os.Getpid()
	return fmt.Sprintf("%s%d_%d", markerPrefix, pid, startTime(pid))
})

// withMarker is env (Tether's own when nil) with marker ("NAME=value")
// added, and any earlier value of the same variable dropped.
func withMarker(env []string, marker string) []string {
	if env == nil {
		env = os.Environ()
	}
	name, _, _ := strings.Cut(marker, "=")
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k != name {
			out = append(out, kv)
		}
	}
	return append(out, marker)
}

// treeSignal is a rung of the ladder, mapped to the platform's signal.
type treeSignal int

const (
	sigCheck treeSignal = iota // send nothing; count what is alive
	sigTerm
	sigKill
)
