//go:build linux || darwin

package gateway

import (
	"sync"
	"syscall"
)

// canWriteRaw tells that writeRaw works on this platform.
const canWriteRaw = true

// rawWrite is one writeRaw call's state. Its callback is made once per
// rawWrite, which rawWrites recycles: a closure over the call's variables
// escaped to the heap with them, three allocations per non-blocking write
// (an ack, a heartbeat's ping).
type rawWrite struct {
	b   []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

var rawWrites = sync.Pool{New: func() any {
	w := new(rawWrite)
	w.fn = w.write
	return w
}}

func (w *rawWrite) write(fd uintptr) bool {
	w.n, w.err = syscall.Write(int(fd), w.b)
	return true
}

// writeRaw writes b to the socket under rc with one non-blocking write(2)
// and returns how much it took: less than len(b), without error, when the
// socket's buffer is full.
func writeRaw(rc syscall.RawConn, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	w := rawWrites.Get().(*rawWrite)
	w.b = b
	err := rc.Write(w.fn)
	n, werr := w.n, w.err
	w.b, w.n, w.err = nil, 0, nil
	rawWrites.Put(w)
	if err != nil {
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
