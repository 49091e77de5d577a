// Package supervisor runs the child processes Tether's backends talk to (the
// Claude CLI today, an ACP agent later) so that none of them, and nothing
// they start, outlives its owner: not when a session stops, not when Tether
// shuts down, and not when Tether itself is killed.
//
// # One child
//
// [Start] runs a program in a process group of its own, with three OS pipes
// and three goroutines, which [Process.Stop] waits for:
//
//   - the stdout reader reads the pipe directly (no exec copier, no
//     io.Pipe), splits it into lines in one reusable buffer and hands each
//     line to [Config.OnLine], in order, on its own goroutine: one copy from
//     the kernel, no allocation per line. A line longer than
//     [Config.MaxLine] is read and dropped in buffer-sized chunks, reported
//     to [Config.OnLongLine], and the next line is delivered as usual.
//   - the stderr reader keeps the last 64 KiB for error messages and logs
//     complete lines at debug level.
//   - the waiter calls Wait exactly once and closes [Process.Exited].
//
// Because exec is handed *os.File pipes it starts no copying goroutines, so
// Wait returns as soon as the child has exited and cannot be held up by a
// grandchild that inherited the pipes. The readers drain until EOF; once the
// child has exited, a reader that has waited [Config.WaitDelay] for data that
// never comes (a descendant holds the pipe open) stops with [ErrOutputHeld].
// That is the bound exec's WaitDelay gives, without the extra hop.
//
// # The stop ladder
//
// [Process.Stop] closes stdin and waits [Config.Grace] for the child to exit;
// then sends SIGTERM to every process of the child's tree (the child, its
// group and, on Linux, every descendant, see below) and waits Grace for all
// of them to be gone; then sends SIGKILL to whatever is left, again and
// again until nothing is (at most 5 s). When Stop's context ends, or
// [Process.Kill] is called, the ladder skips to SIGKILL at once and still
// waits. A group member that outlives its leader gets SIGTERM and a grace
// period too, not an immediate SIGKILL.
//
// # Descendants that leave the group (Linux)
//
// A tool that calls setsid(), an MCP server or a dev server leaves the
// child's process group, so signalling the group is not enough. Each child
// gets a marker in its environment, TETHER_SUPERVISED_<pid>_<start>=<n>
// (Tether's pid and start time, the child's number), which every descendant
// inherits whatever group or session it moves to. A child's tree is, from one
// scan of /proc: the child; every process carrying its marker; every member
// of its process group started between it and its exit; every process seen
// in the tree by an earlier scan of the same stop; and, transitively, the
// children of all of these (which catches descendants that scrubbed their
// environment while their parent lives). Before each signal the process is
// pinned with a pidfd and its start time in /proc/PID/stat is compared with
// the one the scan saw, so a pid that was reused is never hit.
//
// [Init] makes Tether a child subreaper (PR_SET_CHILD_SUBREAPER), so orphans
// of a child's tree are re-parented to Tether rather than to init, and keep
// being found by the group and marker rules. A subreaper must reap those
// orphans or they stay zombies; the reaper does, on SIGCHLD, but only a
// zombie no one else in the process holds a pidfd for: since Go 1.23 os/exec
// holds a pidfd for each child it started until Wait, so a child some
// exec.Cmd waits for is never reaped from under it. The reaper is enabled
// only when that holds on this system (Init checks). A child started with
// syscall.ForkExec, which holds no pidfd, would be reaped; Tether has none.
//
// # When Tether itself is killed (Linux, and a weaker form on other unix)
//
// Each child gets a parent-death signal (SIGKILL). Linux sends it when the
// thread that forked the child exits, and Go may end threads, so after Init
// every child is started from one goroutine locked to its thread for the life
// of the process. The parent-death signal reaches only the child, not what
// it started, so there is also a janitor (started with the first child): the
// running binary re-executed
// in a mode that [Init] and [RunJanitorIfAsked] enter before anything else
// (main and TestMain call one of them first). The janitor reads a pipe only
// Tether holds the write end of (Tether registers each child's group on it);
// at EOF, which is Tether's death however it died, it sends SIGTERM to every
// process carrying Tether's marker prefix or in a registered group, waits a
// grace period, then SIGKILL, with the same start-time check, and exits. A
// janitor was chosen over a cgroup per child because it needs no privileges,
// no systemd delegation and no writable cgroup tree, which an editor's
// sidecar cannot count on; over a double-fork daemon because it dies with
// its work done and needs no second binary.
//
// What escapes: a descendant that both scrubbed its environment and left the
// group, whose parent died before any scan saw it. Only a cgroup would catch
// that.
//
// # Other systems
//
// Other unix systems (macOS, the BSDs) get the process group, the ladder on
// the group (kill(-pgid)), and the janitor, which signals the registered
// groups when Tether dies. There is no parent-death signal, no subreaper, no
// start-time check (a group id reused in the moment between a group's end
// and its signal could be hit), and setsid'ed descendants are not found. On
// other systems (Windows) the ladder closes stdin and then kills the child
// alone; its descendants and a crash of Tether are not handled, and a
// descendant holding the output pipes keeps the readers, and Stop, waiting.
package supervisor
