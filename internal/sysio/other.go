//go:build !unix

package sysio

import "net"

// Raw reports whether the calls skip the scheduler (see the package doc).
const Raw = false

// Wrap returns c: on this system the connection's own calls are used.
func Wrap(c net.Conn) net.Conn { return c }
