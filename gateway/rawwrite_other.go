//go:build !linux && !darwin

package gateway

import "syscall"

// canWriteRaw tells that writeRaw works on this platform: it does not, and
// SendNow leaves the writing to a writer goroutine.
const canWriteRaw = false

func writeRaw(syscall.RawConn, []byte) (int, error) { return 0, nil }
