//go:build linux || darwin

package gateway

import (
	"syscall"

	"github.com/actorio/actorio/internal/sysio"
)

// canWriteRaw tells that writeRaw works on this platform.
const canWriteRaw = true

// writeRaw writes b to the socket under rc with one non-blocking write(2)
// (sysio's, which skips the scheduler where it can) and returns how much
// it took: less than len(b), without error, when the socket's buffer is
// full.
func writeRaw(rc syscall.RawConn, b []byte) (int, error) {
	n, e, err := sysio.WriteConn(rc, b, false)
	switch {
	case err != nil:
		return 0, err
	case e != 0:
		return 0, e
	}
	return n, nil
}
