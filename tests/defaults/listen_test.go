package defaults

import (
	"bufio"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/actorio/actorio"
)

// TestSilentConnectionThenHandshake: a client that connects and sends
// nothing for longer than actorio.Listen holds a silent connection (10 s)
// is served as any other once it sends its handshake; meanwhile other
// clients are served at once.
func TestSilentConnectionThenHandshake(t *testing.T) {
	t.Parallel()
	s := startServer(t, actorio.Options{}, nil)
	u, err := url.Parse(s.url)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	// Another client meanwhile: its handshake and CONNECT are answered.
	p, _ := dialPolling(t, s)
	p.join(t)
	if d := time.Since(start); d > step {
		t.Fatalf("a client beside the silent connection took %v to join", d)
	}
	time.Sleep(readyWait + lateBy - time.Since(start))
	_ = c.SetDeadline(time.Now().Add(step))
	if _, err := c.Write([]byte("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: " + u.Host + "\r\nConnection: close\r\n\r\n")); err != nil {
		t.Fatalf("write after %v of silence: %v", time.Since(start), err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("handshake after %v of silence: %v", time.Since(start), err)
	}
	defer resp.Body.Close()
	body := new(strings.Builder)
	if _, err := bufio.NewReader(resp.Body).WriteTo(body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(body.String(), `0{"sid":`) {
		t.Fatalf("handshake after %v of silence: %d %q", time.Since(start), resp.StatusCode, body)
	}
	noWarnings(t, s)
}
