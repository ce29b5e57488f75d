package cluster_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/cluster"
	"github.com/actorio/actorio/internal/logbuf"
	"github.com/actorio/actorio/internal/testkit"
	pb "github.com/actorio/actorio/proto"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // the CA certificate, PEM
}

func newTestCA(t testing.TB, dir, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{cert: cert, key: key, file: filepath.Join(dir, name+".pem")}
	writePEM(t, ca.file, "CERTIFICATE", der)
	return ca
}

// issue makes a node certificate (client and server use) signed by ca and
// returns the ClusterTLS of that node.
func (ca *testCA) issue(t testing.TB, dir, name string) *actorio.ClusterTLS {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := &actorio.ClusterTLS{CertFile: filepath.Join(dir, name+".crt"), KeyFile: filepath.Join(dir, name+".key"), CAFile: ca.file}
	writePEM(t, c.CertFile, "CERTIFICATE", der)
	writePEM(t, c.KeyFile, "EC PRIVATE KEY", kder)
	return c
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// secureNode starts a node with the given link security whose static
// membership has seeds; its logs go to log.
func secureNode(t *testing.T, name string, tlsc *actorio.ClusterTLS, secret string, insecure bool, log *logbuf.Buffer, seeds ...string) *testNode {
	t.Helper()
	onConn := func(s *actorio.Socket) { s.On("join", testkit.JoinRooms) }
	ts := testkit.StartServer(t, testkit.ServerConfig{
		Options: actorio.Options{
			Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelWarn})),
			Cluster: &actorio.ClusterOptions{
				Name: "secure", Address: "127.0.0.1:0", TLS: tlsc, Secret: secret, Insecure: insecure,
				Provider: &cluster.Static{Seeds: seeds, ProbeInterval: probeInterval, ProbeTimeout: probeTimeout, MaxFailures: maxFailures},
			},
		},
		Setup: func(srv *actorio.Server) { srv.OnConnection(onConn) },
		Name:  "node " + name,
	})
	return &testNode{name: name, srv: ts.Srv, http: ts.HTTP, url: ts.URL, addr: ts.Srv.ClusterNodes()[0]}
}

// byHandTLS is the TLS of a connection opened by hand to a node's cluster
// port with the certificate c, offering the ALPN protocol proto.
func byHandTLS(t *testing.T, c *actorio.ClusterTLS, proto string) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, NextProtos: []string{proto}, MinVersion: tls.VersionTLS13}
}

// dialByHand opens a connection by hand to the cluster port at addr, with
// the TLS cfg unless nil; a handshake that fails fails the test when it
// must succeed. The connection closes at the test's end.
func dialByHand(t *testing.T, addr string, cfg *tls.Config, mustHandshake bool) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if cfg == nil {
		return conn
	}
	tc := tls.Client(conn, cfg)
	if err := tc.Handshake(); err != nil && mustHandshake {
		t.Fatalf("TLS handshake: %v", err)
	}
	return tc
}

// byHandConn is a connection opened by hand to a node's cluster port.
type byHandConn struct {
	name     string
	tls      *tls.Config // nil: plain
	secret   string
	accepted bool
	want     string // what the refusal's log says
}

// byHandConns are the connections that the by-hand subtests of
// TestSecuredLinks open, offering the ALPN protocol proto: with the
// cluster's certificate (from ca) and secret, accepted; with a wrong
// secret, a certificate of other, or no TLS, refused. Their certificates
// are written into dir, named prefix and a number.
func byHandConns(t *testing.T, ca, other *testCA, dir, secret, proto, prefix string) []byHandConn {
	t.Helper()
	tlsOf := func(c *actorio.ClusterTLS) *tls.Config { return byHandTLS(t, c, proto) }
	return []byHandConn{
		{"the cluster's certificate and secret", tlsOf(ca.issue(t, dir, prefix+"1")), secret, true, ""},
		{"wrong secret", tlsOf(ca.issue(t, dir, prefix+"2")), "not the cluster's secret, 32 b..", false, "wrong or missing cluster secret"},
		{"certificate of another CA", tlsOf(other.issue(t, dir, prefix+"3")), secret, false, "TLS"},
		{"plain", nil, secret, false, "TLS"},
	}
}

// TestSecuredLinks: nodes with mutual TLS from one CA and the shared
// secret form a cluster and broadcast to each other; a node with a
// certificate of another CA, one with the right certificate and a wrong
// secret, and a plain one are refused, each refusal logged, and none gets
// into the cluster or reaches its clients.
func TestSecuredLinks(t *testing.T) {
	if raceEnabled {
		t.Skip("under -race, nodes can start in the first run of a process only (see cluster.WarmUp); CI runs this without -race")
	}
	dir := t.TempDir()
	ca, other := newTestCA(t, dir, "cluster-ca"), newTestCA(t, dir, "other-ca")
	const secret = "a cluster secret of 32 bytes...."
	var logA, logB, logRogue logbuf.Buffer
	a := secureNode(t, "A", ca.issue(t, dir, "a"), secret, false, &logA)
	b := secureNode(t, "B", ca.issue(t, dir, "b"), secret, false, &logB, a.addr)
	waitMembers(t, 10*time.Second, a, b)
	ca1 := connect(t, "ca1", a.url, "r")
	cb1 := connect(t, "cb1", b.url, "r")
	if err := a.srv.To("r").Emit("hello", "over TLS"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*testClient{ca1, cb1} {
		c.waitEvents(t, "hello", 1, 10*time.Second)
	}
	// A's session, reached through B: B hands its requests over to A
	// through A's cluster port, with the links' TLS and secret.
	t.Run("requests handed over between secured nodes", func(t *testing.T) { testForwarding(t, a, b, b) })

	rogues := []struct {
		name, want string
		tls        *actorio.ClusterTLS
		secret     string
		insecure   bool
	}{
		{"certificate of another CA", "TLS", other.issue(t, dir, "x"), secret, false},
		{"wrong secret", "wrong or missing cluster secret", ca.issue(t, dir, "w"), "not the cluster's secret, 32 b..", false},
		{"plain link", "TLS", nil, "", true},
	}
	for _, r := range rogues {
		t.Run(r.name, func(t *testing.T) {
			before := strings.Count(logA.String(), "cluster link refused")
			rogue := secureNode(t, "R", r.tls, r.secret, r.insecure, &logRogue, a.addr)
			// Three probe rounds: long enough to have joined.
			time.Sleep(3 * (probeInterval + probeTimeout))
			if got := a.srv.ClusterNodes(); len(got) != 2 {
				t.Errorf("A's nodes %v: the rogue got in", got)
			}
			if got := rogue.srv.ClusterNodes(); len(got) != 1 {
				t.Errorf("the rogue sees %v", got)
			}
			_ = rogue.srv.To("r").Emit("injected")
			time.Sleep(500 * time.Millisecond)
			for _, c := range []*testClient{ca1, cb1} {
				if n := len(c.events("injected")); n != 0 {
					t.Errorf("%s got %d broadcasts from the rogue", c.name, n)
				}
			}
			log := logA.String()
			if strings.Count(log, "cluster link refused") <= before || !strings.Contains(log, r.want) {
				t.Errorf("A logged no refusal for %q:\n%s", r.want, log)
			}
			rogue.close(t)
		})
	}
	// A node's own links (broadcasts, acks) are accepted on its cluster
	// port beside gRPC, with the same security: a link opened by hand with
	// the cluster's certificate and secret delivers what it carries; one
	// with a wrong secret, a certificate of another CA or no TLS is refused
	// and logged, and delivers nothing.
	t.Run("node links opened by hand", func(t *testing.T) {
		for i, l := range byHandConns(t, ca, other, dir, secret, cluster.LinkProto, "l") {
			t.Run(l.name, func(t *testing.T) {
				event := fmt.Sprintf("by-hand-%d", i)
				frame, err := cluster.LinkFrame(&pb.NodeBroadcast{Namespace: "/", Broadcast: &pb.Broadcast{
					Target: &pb.Target{Rooms: []string{"r"}}, Frame: []byte(`2["` + event + `"]`)}})
				if err != nil {
					t.Fatal(err)
				}
				before := strings.Count(logA.String(), "cluster link refused")
				conn := dialByHand(t, a.addr, l.tls, l.accepted)
				_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
				_, _ = conn.Write(append(cluster.LinkHello(l.tls == nil, l.secret, "127.0.0.1:1", "by-hand"), frame...))
				want := 0
				if l.accepted {
					want = 1
					for _, c := range []*testClient{ca1} {
						c.waitEvents(t, event, 1, 10*time.Second)
					}
				} else {
					time.Sleep(500 * time.Millisecond)
				}
				for _, c := range []*testClient{ca1, cb1} {
					if c == cb1 {
						want = 0 // a broadcast from another node stays on the node it reached
					}
					if n := len(c.events(event)); n != want {
						t.Errorf("%s got %d of the broadcast, want %d", c.name, n, want)
					}
				}
				log := logA.String()
				// (A refusal of the same kind from this host within
				// refusalEvery, by a rogue above, is counted, not logged.)
				if !l.accepted && !strings.Contains(log, l.want) {
					t.Errorf("A logged no refusal for %q:\n%s", l.want, log)
				}
				if l.accepted && strings.Count(log, "cluster link refused") != before {
					t.Errorf("A refused the cluster's own link:\n%s", log)
				}
			})
		}
	})

	// The connections on which a node hands requests over to another are
	// accepted on its cluster port with the same security: one opened by
	// hand with the cluster's certificate and secret gets its request
	// answered; one with a wrong secret, a certificate of another CA or no
	// TLS is refused and logged, and gets no answer.
	t.Run("hand-over connections opened by hand", func(t *testing.T) {
		for _, h := range byHandConns(t, ca, other, dir, secret, cluster.HandOverProto, "h") {
			t.Run(h.name, func(t *testing.T) {
				conn := dialByHand(t, a.addr, h.tls, h.accepted)
				hello := []byte(nil)
				if h.tls == nil {
					hello = append(hello, "ACTORIO-HTTP/1\n"...)
				}
				hello = append(hello, cluster.LinkHello(false, h.secret, "127.0.0.1:1", "by-hand")...)
				req := "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				_, _ = conn.Write(append(hello, req...))
				got, _ := io.ReadAll(conn)
				if answered := strings.HasPrefix(string(got), "HTTP/1.1 200 ") && strings.Contains(string(got), `"sid":`); answered != h.accepted {
					t.Errorf("answered %v, want %v: %.300q", answered, h.accepted, got)
				}
				if !h.accepted && !strings.Contains(logA.String(), h.want) {
					t.Errorf("A logged no refusal for %q:\n%s", h.want, logA.String())
				}
			})
		}
	})

	// A link that never says hello is closed within the dial bound (5 s),
	// and logged: it holds nothing for longer.
	t.Run("a silent node link is closed", func(t *testing.T) {
		silent := ca.issue(t, dir, "silent")
		cert, err := tls.LoadX509KeyPair(silent.CertFile, silent.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := tls.Dial("tcp", a.addr, &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, NextProtos: []string{cluster.LinkProto}, MinVersion: tls.VersionTLS13})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		_ = conn.SetReadDeadline(start.Add(15 * time.Second))
		var b [1]byte
		_, err = conn.Read(b[:])
		if took := time.Since(start); err == nil || took > 8*time.Second {
			t.Fatalf("the silent link ended after %v with %v; want its end within about 5 s", took, err)
		}
		if !strings.Contains(logA.String(), "bad link hello") {
			t.Errorf("A logged no refusal of the silent link:\n%s", logA.String())
		}
	})

	// The refusals of a host retrying in a loop make few lines.
	if n := strings.Count(logA.String(), "actorio: cluster link"); n > 15 {
		t.Errorf("A logged %d refusal lines for three rogues and three links:\n%s", n, logA.String())
	}

	t.Run("NewServer warns that HTTPAddress is ignored", func(t *testing.T) {
		var log logbuf.Buffer
		srv, err := actorio.NewServer(actorio.Options{
			Logger:  slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelWarn})),
			Cluster: &actorio.ClusterOptions{Insecure: true, Address: "127.0.0.1:0", HTTPAddress: "127.0.0.1:1", Provider: &cluster.Static{}},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		if !strings.Contains(log.String(), "HTTPAddress is ignored") {
			t.Errorf("no warning for HTTPAddress:\n%s", log.String())
		}
	})

	t.Run("NewServer refuses links neither secured nor declared plain", func(t *testing.T) {
		for _, o := range []actorio.ClusterOptions{
			{Provider: &cluster.Static{}},
			{Provider: &cluster.Static{}, Secret: secret},
			{Provider: &cluster.Static{}, TLS: ca.issue(t, dir, "n")},
			{Provider: &cluster.Static{}, TLS: ca.issue(t, dir, "s"), Secret: "short"},
		} {
			srv, err := actorio.NewServer(actorio.Options{Logger: testLog(), Cluster: &o})
			if err == nil {
				_ = srv.Close()
				t.Errorf("NewServer accepted TLS %v, secret %q, Insecure %v", o.TLS != nil, o.Secret, o.Insecure)
			}
		}
	})
}
