package actorio

import (
	"fmt"
	"net"
	"net/http"

	"github.com/actorio/actorio/gateway"
)

// Listen announces on the local network address, as net.Listen does, and
// returns a listener whose Accept hands over a connection only once its
// client has sent its first bytes (gateway.ReadyListener with its default
// wait, gateway.DefaultReadyWait).
//
// Serve a [Server], or any http.Handler, on it with [Serve] (or
// http.Serve(ln, srv), or (&http.Server{Handler: srv, ...}).Serve(ln),
// which serve WebSocket upgrades through net/http): a connection whose client
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

// Serve serves HTTP on ln with srv, as srv.Serve(ln) does, and returns
// what it returns. On a listener made by [Listen] (on Linux), the
// WebSocket upgrade requests that arrive whole in their connection's
// first bytes are answered without net/http's per-connection buffers,
// which net/http never takes back from a connection it hands over: each
// WebSocket then costs about 14 KB less garbage, which lowers the peak
// memory of a connection storm. srv.Handler serves them as net/http
// would, with the same request, context values and answers;
// gateway.ServeUpgrades says what differs (srv.Shutdown does not wait
// for them, as for any hijacked connection).
func Serve(srv *http.Server, ln net.Listener) error {
	gateway.ServeUpgrades(ln, srv)
	return srv.Serve(ln)
}
