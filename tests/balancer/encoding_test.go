package balancer

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// pollClient is a bare Engine.IO v4 long-polling session, whose requests
// go to whichever node the test names.
type pollClient struct {
	t   *testing.T
	hc  *http.Client
	sid string
}

// request sends one request of the session to node n; gzip asks for a
// compressed answer. It returns the answer's body, unpacked, and its
// Content-Encoding.
func (c *pollClient) request(n *nodeProc, method, body string, gzipped bool) (string, string) {
	c.t.Helper()
	u := "http://" + n.http + "/socket.io/?EIO=4&transport=polling"
	if c.sid != "" {
		u += "&sid=" + c.sid
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, u, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if gzipped {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s to node %s: %v", method, n.name, err)
	}
	defer res.Body.Close()
	enc := res.Header.Get("Content-Encoding")
	var r io.Reader = res.Body
	if enc == "gzip" {
		zr, err := gzip.NewReader(res.Body)
		if err != nil {
			c.t.Fatalf("%s to node %s: gzip: %v", method, n.name, err)
		}
		r = zr
	}
	b, err := io.ReadAll(r)
	if err != nil {
		c.t.Fatalf("%s to node %s: %v", method, n.name, err)
	}
	if res.StatusCode != http.StatusOK {
		c.t.Fatalf("%s to node %s: %s %q", method, n.name, res.Status, b)
	}
	return string(b), enc
}

// await polls node n until a packet of an answer has the prefix want; it
// returns the Content-Encoding of that answer.
func (c *pollClient) await(n *nodeProc, want string, gzipped bool) string {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		body, enc := c.request(n, http.MethodGet, "", gzipped)
		for p := range strings.SplitSeq(body, "\x1e") {
			if strings.HasPrefix(p, want) {
				return enc
			}
		}
	}
	c.t.Fatalf("no packet %.40q from node %s within 10 s", want, n.name)
	return ""
}

var sidRe = regexp.MustCompile(`"sid":"([^"]+)"`)

// TestHandedOverAnswersKeepTheClientsEncoding: a long-polling GET that
// reaches a node other than its session's is answered as the client asked:
// compressed (gzip) when it accepts gzip and the answer is large enough,
// as a browser gets it, and plain when it does not, as the official client
// in Node gets it; neither is compressed between the nodes for a client
// that did not ask.
func TestHandedOverAnswersKeepTheClientsEncoding(t *testing.T) {
	nodes := startNodes(t)
	a, b, c := nodes[0], nodes[1], nodes[2]
	// Its own Accept-Encoding only: no transparent gzip of the client's.
	pc := &pollClient{t: t, hc: &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 30 * time.Second}}
	defer pc.hc.CloseIdleConnections()

	open, _ := pc.request(a, http.MethodGet, "", false)
	m := sidRe.FindStringSubmatch(open)
	if m == nil {
		t.Fatalf("handshake on node A: %q", open)
	}
	pc.sid = m[1]
	pc.request(b, http.MethodPost, "40", false)
	pc.await(c, "40{", false)
	pc.request(b, http.MethodPost, `421["join","enc"]`, false)
	pc.await(c, `431["ok"]`, false)

	big := strings.Repeat("x", 4000) // past the default 1 KB threshold
	for i, tt := range []struct {
		from, via *nodeProc
		gzipped   bool
		wantEnc   string
	}{
		{c, b, true, "gzip"},
		{b, c, false, ""},
		{a, b, false, ""},
		{a, c, true, "gzip"},
	} {
		n := fmt.Sprint(i) + big
		tt.from.emit(t, "enc", "big", n)
		if enc := pc.await(tt.via, fmt.Sprintf(`42["big","%s","%s"]`, tt.from.name, n), tt.gzipped); enc != tt.wantEnc {
			t.Errorf("emit %d from node %s, GET via node %s accepting gzip %v: Content-Encoding %q, want %q", i, tt.from.name, tt.via.name, tt.gzipped, enc, tt.wantEnc)
		}
	}
	forwarded, onLink, recoded := handedOver(t, nodes)
	if forwarded == 0 {
		t.Fatal("no request was handed to node A")
	}
	if onLink != forwarded {
		t.Errorf("%d of the %d polling requests handed over came on the links between the nodes, want all", onLink, forwarded)
	}
	if recoded > 0 {
		t.Errorf("%d of %d requests handed over reached node A with another Accept-Encoding than their client's", recoded, forwarded)
	}
}
