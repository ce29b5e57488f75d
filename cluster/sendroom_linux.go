package cluster

import (
	"net"
	"syscall"
	"unsafe"
)

// siocoutq is Linux's SIOCOUTQ (TIOCOUTQ): the bytes of a TCP socket's
// send queue, sent but not acknowledged yet or not sent yet.
const siocoutq = 0x5411

// sendBuffer returns the size of the kernel send buffer (SO_SNDBUF) of the
// socket rc, 0 when rc is nil or the size cannot be read.
func sendBuffer(rc syscall.RawConn) int {
	if rc == nil {
		return 0
	}
	size := 0
	_ = rc.Control(func(fd uintptr) {
		v, err := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
		if err == nil {
			size = v
		}
	})
	return size
}

// queued returns the bytes in the kernel send queue of the socket rc
// (SIOCOUTQ), and false when it cannot tell.
func queued(rc syscall.RawConn) (int, bool) {
	if rc == nil {
		return 0, false
	}
	var v int32
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		// Raw: the ioctl never blocks (see internal/sysio).
		_, _, errno = syscall.RawSyscall(syscall.SYS_IOCTL, fd, siocoutq, uintptr(unsafe.Pointer(&v)))
	}); err != nil || errno != 0 {
		return 0, false
	}
	return int(v), true
}

// rawConn returns the socket under c, a TCP connection or a TLS one over
// TCP; nil for anything else.
func rawConn(c net.Conn) syscall.RawConn {
	sc, ok := underTLS(c).(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}
