package gateway

import (
	"net"
	"time"
)

// DefaultReadyWait is how long a listener made by [ReadyListener] with a
// wait of zero holds a connection whose client has sent nothing before it
// hands the connection over anyway.
const DefaultReadyWait = 10 * time.Second

// ReadyListener wraps ln so that Accept returns a connection only once its
// client has sent its first bytes, or hung up, or wait has passed since it
// was accepted (wait <= 0 means [DefaultReadyWait]).
//
// It is for HTTP servers in connection storms. net/http's Serve starts a
// goroutine for every accepted connection, and that goroutine at once
// allocates a 4 KB read buffer and a 4 KB write buffer (besides its stack)
// to wait for the request line. When thousands of clients connect at once
// to a busy machine, most send their request long after they connected,
// and those goroutines and buffers make the peak of the process's memory.
// Behind a ReadyListener a connection whose client has sent nothing holds
// no goroutine and no buffer, only a small record in the listener, while
// the kernel keeps what arrives until net/http reads it.
//
// On Linux, when ln is a [*net.TCPListener], one goroutine accepts and
// registers each new connection's descriptor, one-shot, in an epoll
// instance of the listener's own (beside the runtime's); a second waits on
// that instance and hands over every connection that became readable or
// hung up, and a third hands over those that waited wait. A client that
// hung up is handed over too: net/http reads EOF and closes the
// connection, as without the wrapper. A connection handed over because
// wait passed is served as without the wrapper, the server's own
// timeouts (http.Server.ReadHeaderTimeout, ReadTimeout) counting from
// then on, so that a silent client is dropped after wait plus those.
//
// Accept returns connections in the order in which they became ready and
// blocks until one is ready or the listener is closed or has failed. An
// error of the inner Accept that is temporary (EMFILE, ENFILE,
// ECONNABORTED, or a [net.Error] whose Timeout is true) is retried after a
// pause that doubles from 5 ms to 1 s, without logging; any other is
// returned by every Accept call from then on. Close closes ln and the
// connections not handed over yet, returns once the listener's goroutines
// have ended, and makes Accept calls, pending and later, return an error
// that satisfies errors.Is(err, [net.ErrClosed]); so does a second Close.
// Connections handed over are the caller's to close. Addr is ln's.
//
// For TLS, wrap the result (tls.NewListener(ReadyListener(ln, 0), cfg)):
// a TLS listener passed in is not a *net.TCPListener. On other systems than
// Linux, for other listeners, or when the epoll instance cannot be
// created, ReadyListener returns ln unchanged.
func ReadyListener(ln net.Listener, wait time.Duration) net.Listener {
	if wait <= 0 {
		wait = DefaultReadyWait
	}
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return ln
	}
	return readyListen(tl, wait)
}

// Bounds of the pause before the inner Accept is retried after a
// temporary error.
const (
	acceptRetryMin = 5 * time.Millisecond
	acceptRetryMax = time.Second
)

// nextAcceptRetry returns the pause after prev (zero after a success).
func nextAcceptRetry(prev time.Duration) time.Duration {
	if prev <= 0 {
		return acceptRetryMin
	}
	return min(2*prev, acceptRetryMax)
}
