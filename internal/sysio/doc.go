// Package sysio reads and writes sockets with system calls that skip the
// scheduler's bookkeeping for calls that may block.
//
// The runtime's sockets are non-blocking: a read or write that would wait
// fails with EAGAIN, and the runtime's poller does the waiting. Go's own
// syscall.Read and syscall.Write still tell the scheduler that the call
// may block (entersyscall, exitsyscall). That costs little in itself, but
// it has side effects that show on a server that is idle between
// messages: the first such call after every goroutine slept wakes the
// runtime's monitor thread (sysmon) with a futex, and a call the kernel
// takes long over (a loopback write also runs the reading side's work)
// may see its P handed to another thread. On Linux this package makes the
// calls raw instead (RawSyscall).
//
// Race-enabled builds, and other systems, use syscall's calls: their race
// annotations tell the detector that what one goroutine wrote to a socket
// happened before what another read from it, which the raw calls cannot.
package sysio
