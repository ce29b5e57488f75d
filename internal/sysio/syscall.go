//go:build unix && !(linux && !race)

package sysio

import "syscall"

// Raw reports whether the calls skip the scheduler (see the package doc).
const Raw = false

// Read is read(2) on fd, through syscall.
func Read(fd uintptr, b []byte) (int, syscall.Errno) {
	n, err := syscall.Read(int(fd), b)
	return max(n, 0), errno(err)
}

// Write is write(2) on fd, through syscall.
func Write(fd uintptr, b []byte) (int, syscall.Errno) {
	n, err := syscall.Write(int(fd), b)
	return max(n, 0), errno(err)
}

// errno is err as the Errno it is, 0 for nil.
func errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	if e, ok := err.(syscall.Errno); ok {
		return e
	}
	return syscall.EIO
}
