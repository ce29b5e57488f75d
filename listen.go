package actorio

import (
	"fmt"
	"net"

	"github.com/actorio/actorio/gateway"
)

// Listen announces on the local network address, as net.Listen does, and
// returns a listener whose Accept hands over a connection only once its
// client has sent its first bytes (gateway.ReadyListener with its default
// wait, gateway.DefaultReadyWait).
//
// Serve a [Server], or any http.Handler, on it with http.Serve(ln, srv) or
// (&http.Server{Handler: srv, ...}).Serve(ln): a connection whose client
// has not sent its request yet then holds no goroutine and no buffers of
// net/http, which lowers the peak memory of a connection storm (thousands
// of clients connecting at once and sending their requests late). It
// changes nothing else: a connection that stays silent is handed over
// after the wait, and the http.Server's timeouts apply from then on.
// On other systems than Linux, and for other networks than TCP, the
// listener is net.Listen's own.
func Listen(network, address string) (net.Listener, error) {
	ln, err := net.Listen(network, address)
	if err != nil {
		return nil, fmt.Errorf("actorio: %w", err)
	}
	return gateway.ReadyListener(ln, 0), nil
}
