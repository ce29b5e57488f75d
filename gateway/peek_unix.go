//go:build linux || darwin

package gateway

import "syscall"

// peekReadable reports whether socket fd has data to read or has failed,
// without consuming anything: false makes syscall.RawConn.Read wait for
// the poller.
func peekReadable(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN && err != syscall.EWOULDBLOCK && err != syscall.EINTR
}
