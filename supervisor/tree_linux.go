//go:build linux

package supervisor

import (
	"errors"
)

// tree is what one stop has learnt of a child's descendants: every process
// it has seen in the tree, so a descendant stays attributed after its parent
// dies. Only the ladder (one goroutine) uses it.
type tree struct {
	seen map[int]uint64 // pid → start time
}

func newTree(*Process) tree { return tree{seen: make(map[int]uint64)} }

// members scans /proc for the child's tree (see the package doc): the child,
// the members of its group that started before it exited, the processes
// carrying its marker, what an earlier scan saw, and their descendants.
func (p *Process) members() []procInfo {
	var exitTick uint64 // 0: still running
	if p.HasExited() {
		exitTick = p.exitTick
	}
	inGroup := func(q procInfo) bool {
		if q.pid == p.pid && q.start == p.start {
			return true
		}
		return q.pgid == p.pid && (exitTick == 0 || q.start <= exitTick)
	}
	marker := func(entry []byte) bool { return string(entry) == p.marker }
	return collectTree(listProcs(p.start), inGroup, marker, p.tree.seen)
}

// signalTree sends s to every live process of the child's tree, checking
// each one's start time first, and returns how many were alive.
func (p *Process) signalTree(s treeSignal) int {
	n := 0
	for _, m := range p.members() {
		if !m.alive() {
			continue
		}
		alive, err := signalIfSame(m.pid, m.start, unixSignal(s))
		if err != nil && !errors.Is(err, errReused) {
			p.log.Warn("signalling a process of the tree", "name", p.name, "pid", m.pid, "err", err)
		}
		if alive {
			n++
		}
	}
	return n
}
