package sysio_test

import (
	"net"

	"github.com/actorio/actorio/internal/sysio"
)

// What every system has of the package, since the cluster calls it on
// every system: .ci/run vets this file for Windows, which compiles it
// there.
var (
	_ func(net.Conn) net.Conn = sysio.Wrap
	_ bool                    = sysio.Raw
)
