//go:build linux

// The tests check the epoll listener, which exists on Linux only (elsewhere
// ReadyListener returns its argument).

package gateway

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/actorio/actorio/internal/leakcheck"
)

// startReady checks for leaked goroutines, listens on 127.0.0.1 and wraps
// the listener; the wrapper is closed at cleanup.
func startReady(t *testing.T, wait time.Duration) (net.Listener, *net.TCPListener) {
	t.Helper()
	leakcheck.Check(t, 3*time.Second)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := ReadyListener(ln, wait)
	if l == ln {
		t.Fatal("ReadyListener returned the TCP listener unchanged")
	}
	t.Cleanup(func() { _ = l.Close() })
	return l, ln.(*net.TCPListener)
}

// acceptResult is one Accept's outcome.
type acceptResult struct {
	c   net.Conn
	err error
}

// acceptAsync calls Accept once on a goroutine of its own.
func acceptAsync(l net.Listener) <-chan acceptResult {
	ch := make(chan acceptResult, 1)
	go func() {
		c, err := l.Accept()
		ch <- acceptResult{c, err}
	}()
	return ch
}

// dial connects to l and closes the connection at cleanup.
func dial(t *testing.T, l net.Listener) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// expectAccept waits up to within for ch's connection, which it closes at
// cleanup.
func expectAccept(t *testing.T, ch <-chan acceptResult, within time.Duration) net.Conn {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("Accept: %v", r.err)
		}
		t.Cleanup(func() { _ = r.c.Close() })
		return r.c
	case <-time.After(within):
		t.Fatalf("Accept returned nothing within %v", within)
		return nil
	}
}

// expectNoAccept fails when ch yields within d.
func expectNoAccept(t *testing.T, ch <-chan acceptResult, d time.Duration) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("Accept returned (%v, %v) before the client sent anything", r.c, r.err)
	case <-time.After(d):
	}
}

// syncAccepted makes sure the listener has taken every connection dialled
// so far from the kernel's backlog: it dials one more that writes a byte
// and accepts it (connections are accepted in the order they came).
func syncAccepted(t *testing.T, l net.Listener) {
	t.Helper()
	probe := dial(t, l)
	ch := acceptAsync(l)
	if _, err := probe.Write([]byte{'p'}); err != nil {
		t.Fatal(err)
	}
	c := expectAccept(t, ch, 2*time.Second)
	if c.RemoteAddr().String() != probe.LocalAddr().String() {
		t.Fatalf("Accept returned %v, want the probe %v", c.RemoteAddr(), probe.LocalAddr())
	}
	_ = c.Close()
}

func TestReadyListenerServesHTTP(t *testing.T) {
	for _, keepAlive := range []bool{true, false} {
		t.Run(fmt.Sprintf("keepalive=%v", keepAlive), func(t *testing.T) {
			l, _ := startReady(t, 0)
			srv := &http.Server{
				Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.WriteString(w, "hello "+r.URL.Path)
				}),
				ReadHeaderTimeout: 5 * time.Second,
			}
			served := make(chan error, 1)
			go func() { served <- srv.Serve(l) }()
			tr := &http.Transport{DisableKeepAlives: !keepAlive}
			t.Cleanup(func() {
				tr.CloseIdleConnections()
				_ = srv.Close()
				if err := <-served; !errors.Is(err, http.ErrServerClosed) {
					t.Errorf("Serve: %v", err)
				}
			})
			client := &http.Client{Transport: tr, Timeout: 5 * time.Second}

			const clients, requests = 4, 5
			var wg sync.WaitGroup
			errs := make(chan error, clients*requests)
			for i := range clients {
				wg.Go(func() {
					for j := range requests {
						path := fmt.Sprintf("/c%d/r%d", i, j)
						resp, err := client.Get("http://" + l.Addr().String() + path)
						if err != nil {
							errs <- err
							return
						}
						body, err := io.ReadAll(resp.Body)
						_ = resp.Body.Close()
						if err != nil {
							errs <- err
							return
						}
						if want := "hello " + path; resp.StatusCode != http.StatusOK || string(body) != want {
							errs <- fmt.Errorf("GET %s: %d %q, want 200 %q", path, resp.StatusCode, body, want)
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// TestReadyListenerHandsOverWhenReady: a silent connection is not
// returned by Accept; it is as soon as its client writes or hangs up, or
// once the wait has passed.
func TestReadyListenerHandsOverWhenReady(t *testing.T) {
	const shortWait = 300 * time.Millisecond
	tests := []struct {
		name string
		wait time.Duration
		// act is what the client does once Accept has been seen to wait
		// (nil: nothing).
		act func(c net.Conn) error
		// check reads the connection Accept returned.
		check func(t *testing.T, c net.Conn)
	}{{
		name: "first byte",
		act: func(c net.Conn) error {
			_, err := c.Write([]byte{'x'})
			return err
		},
		check: func(t *testing.T, c net.Conn) {
			var b [1]byte
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := io.ReadFull(c, b[:]); err != nil || b[0] != 'x' {
				t.Fatalf("read %q, %v; want \"x\"", b[:], err)
			}
		},
	}, {
		name: "hang up",
		act:  func(c net.Conn) error { return c.Close() },
		check: func(t *testing.T, c net.Conn) {
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			if n, err := c.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("read %d, %v; want EOF", n, err)
			}
		},
	}, {
		name: "wait passed",
		wait: shortWait,
		check: func(t *testing.T, c net.Conn) {
			_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			var ne net.Error
			if n, err := c.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("read %d, %v; want a timeout (the client sent nothing)", n, err)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _ := startReady(t, tt.wait)
			start := time.Now()
			client := dial(t, l)
			ch := acceptAsync(l)
			var got net.Conn
			if tt.act != nil {
				expectNoAccept(t, ch, 200*time.Millisecond)
				if err := tt.act(client); err != nil {
					t.Fatal(err)
				}
				got = expectAccept(t, ch, 2*time.Second)
			} else {
				got = expectAccept(t, ch, tt.wait+2*time.Second)
				if d := time.Since(start); d < tt.wait {
					t.Fatalf("silent connection handed over after %v, before the wait (%v)", d, tt.wait)
				}
			}
			if got.RemoteAddr().String() != client.LocalAddr().String() {
				t.Fatalf("Accept returned %v, want %v", got.RemoteAddr(), client.LocalAddr())
			}
			tt.check(t, got)
		})
	}
}

// TestReadyListenerOrder: connections come out of Accept in the order in
// which their clients wrote.
func TestReadyListenerOrder(t *testing.T) {
	l, _ := startReady(t, 0)
	clients := make([]net.Conn, 5)
	for i := range clients {
		clients[i] = dial(t, l)
	}
	syncAccepted(t, l)
	for i := len(clients) - 1; i >= 0; i-- {
		ch := acceptAsync(l)
		if _, err := clients[i].Write([]byte{byte('0' + i)}); err != nil {
			t.Fatal(err)
		}
		c := expectAccept(t, ch, 2*time.Second)
		if c.RemoteAddr().String() != clients[i].LocalAddr().String() {
			t.Fatalf("Accept returned %v, want client %d (%v)", c.RemoteAddr(), i, clients[i].LocalAddr())
		}
	}
}

func TestReadyListenerClose(t *testing.T) {
	l, _ := startReady(t, 0)
	silent := make([]net.Conn, 3)
	for i := range silent {
		silent[i] = dial(t, l)
	}
	syncAccepted(t, l) // the silent ones now wait in the listener

	pending := acceptAsync(l)
	expectNoAccept(t, pending, 50*time.Millisecond)
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case r := <-pending:
		if !errors.Is(r.err, net.ErrClosed) {
			t.Fatalf("pending Accept after Close: (%v, %v), want net.ErrClosed", r.c, r.err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("pending Accept still blocked after Close")
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
	}
	for i, c := range silent {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := c.Read(make([]byte, 1))
		var ne net.Error
		if err == nil || errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("waiting client %d: read %d, %v; want EOF or reset", i, n, err)
		}
	}
	if err := l.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v, want net.ErrClosed", err)
	}
	if _, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
		t.Fatal("dial succeeded after Close")
	}
}

// TestReadyListenerCloseConcurrent: Close from several goroutines while
// others Accept.
func TestReadyListenerCloseConcurrent(t *testing.T) {
	l, _ := startReady(t, 0)
	for range 3 {
		dial(t, l)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Accept: %v, want net.ErrClosed", err)
			}
		})
	}
	for range 3 {
		wg.Go(func() { _ = l.Close() })
	}
	wg.Wait()
}

// TestReadyListenerStorm: many clients connect to a serving http.Server
// first and send their requests later: until they do, they hold no
// goroutine of net/http (without the wrapper, each holds one, with its
// buffers); then every one is answered.
func TestReadyListenerStorm(t *testing.T) {
	l, _ := startReady(t, 0)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, r.URL.Path)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		_ = srv.Close()
		<-served
	})
	// One request, so that Serve runs and its goroutines settle.
	probe := dial(t, l)
	if _, err := io.WriteString(probe, "GET /probe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(probe); err != nil {
		t.Fatal(err)
	}
	_ = probe.Close()
	base := runtime.NumGoroutine()
	const n = 300
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = dial(t, l)
	}
	time.Sleep(100 * time.Millisecond) // time for net/http to start a goroutine per connection, were they handed over
	if extra := runtime.NumGoroutine() - base; extra > 10 {
		t.Fatalf("%d silent connections hold %d goroutines, want at most 10", n, extra)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, c := range conns {
		wg.Go(func() {
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			path := fmt.Sprintf("/%d", i)
			if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path); err != nil {
				errs <- err
				return
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
				return
			}
			body, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK || string(body) != path {
				errs <- fmt.Errorf("client %d: %d %q %v, want 200 %q", i, resp.StatusCode, body, err, path)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestReadyListenerAcceptErrors: a timeout of the inner Accept is retried,
// a closed inner listener is a permanent error.
func TestReadyListenerAcceptErrors(t *testing.T) {
	t.Run("timeout retried", func(t *testing.T) {
		l, inner := startReady(t, 0)
		if err := inner.SetDeadline(time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		ch := acceptAsync(l)
		expectNoAccept(t, ch, 50*time.Millisecond) // a few retries
		if err := inner.SetDeadline(time.Time{}); err != nil {
			t.Fatal(err)
		}
		c := dial(t, l)
		if _, err := c.Write([]byte{'x'}); err != nil {
			t.Fatal(err)
		}
		expectAccept(t, ch, 3*time.Second)
	})
	t.Run("permanent", func(t *testing.T) {
		l, inner := startReady(t, 0)
		ch := acceptAsync(l)
		_ = inner.Close()
		select {
		case r := <-ch:
			if !errors.Is(r.err, net.ErrClosed) {
				t.Fatalf("Accept: (%v, %v), want the inner error", r.c, r.err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("Accept still blocked after the inner listener failed")
		}
		for range 2 {
			if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("later Accept: %v, want the inner error", err)
			}
		}
	})
}

func TestReadyListenerTemporaryErrors(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.EMFILE)}, true},
		{&net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.ENFILE)}, true},
		{&net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.ECONNABORTED)}, true},
		{&net.OpError{Op: "accept", Err: os.ErrDeadlineExceeded}, true},
		{&net.OpError{Op: "accept", Err: net.ErrClosed}, false},
		{&net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.EINVAL)}, false},
		{io.EOF, false},
	}
	for _, tt := range tests {
		if got := temporaryAcceptError(tt.err); got != tt.want {
			t.Errorf("temporaryAcceptError(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestReadyListenerRetryPause(t *testing.T) {
	tests := []struct{ prev, want time.Duration }{
		{0, 5 * time.Millisecond},
		{5 * time.Millisecond, 10 * time.Millisecond},
		{640 * time.Millisecond, time.Second},
		{time.Second, time.Second},
	}
	for _, tt := range tests {
		if got := nextAcceptRetry(tt.prev); got != tt.want {
			t.Errorf("nextAcceptRetry(%v) = %v, want %v", tt.prev, got, tt.want)
		}
	}
}

// TestReadyListenerUnchanged: listeners other than TCP are returned as
// they are.
func TestReadyListenerUnchanged(t *testing.T) {
	unix, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	tests := []struct {
		name string
		ln   net.Listener
	}{
		{"unix", unix},
		{"wrapped tcp", struct{ net.Listener }{tcp}},
	}
	for _, tt := range tests {
		if got := ReadyListener(tt.ln, 0); got != tt.ln {
			t.Errorf("%s: ReadyListener returned %T, want its argument", tt.name, got)
		}
	}
}

// TestReadyListenerForgetsHandedOver: connections handed over because
// their clients wrote leave no trace in the listener for the rest of the
// wait: at a high accept rate its queue stays near the number of
// connections that still wait.
func TestReadyListenerForgetsHandedOver(t *testing.T) {
	l, _ := startReady(t, time.Minute)
	rl := l.(*readyListener)
	const n = 2000
	ch := make(chan net.Conn, n)
	go func() {
		for range n {
			c, err := l.Accept()
			if err != nil {
				return
			}
			ch <- c
		}
	}()
	for i := range n {
		c := dial(t, l)
		if _, err := c.Write([]byte{'x'}); err != nil {
			t.Fatal(err)
		}
		if i%500 == 499 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	for range n {
		select {
		case c := <-ch:
			_ = c.Close()
		case <-time.After(5 * time.Second):
			t.Fatal("not every connection was handed over")
		}
	}
	rl.mu.Lock()
	queued, waiting := len(rl.queue), len(rl.waiting)
	rl.mu.Unlock()
	if waiting != 0 || queued > 2*minCompact {
		t.Fatalf("after %d connections handed over: %d queued, %d waiting; want at most %d queued, none waiting", n, queued, waiting, 2*minCompact)
	}
}
