// Package acptest proves that the ACP test tools in testdata/acp (the
// scripted agent, the client driver) and the ACP programs pinned in
// testdeps (claude-agent-acp, acpx, Node 22) run hermetically here, so
// Tether's ACP tests can drive them. It has tests only.
package acptest
