//go:build linux || darwin

package gateway

import "syscall"

// canWriteRaw tells that writeRaw works on this platform.
const canWriteRaw = true

// writeRaw writes b to the socket under rc with one non-blocking write(2)
// and returns how much it took: less than len(b), without error, when the
// socket's buffer is full.
func writeRaw(rc syscall.RawConn, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	var n int
	var werr error
	if err := rc.Write(func(fd uintptr) bool {
		n, werr = syscall.Write(int(fd), b)
		return true
	}); err != nil {
		return 0, err
	}
	if werr == syscall.EAGAIN || werr == syscall.EINTR {
		return 0, nil
	}
	if werr != nil {
		return 0, werr
	}
	return n, nil
}
