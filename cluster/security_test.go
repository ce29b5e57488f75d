package cluster_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
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
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // the CA certificate, PEM
}

func newTestCA(t *testing.T, dir, name string) *testCA {
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
func (ca *testCA) issue(t *testing.T, dir, name string) *actorio.ClusterTLS {
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

func writePEM(t *testing.T, path, typ string, der []byte) {
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
	// The refusals of a host retrying in a loop make few lines.
	if n := strings.Count(logA.String(), "actorio: cluster link"); n > 12 {
		t.Errorf("A logged %d refusal lines for three rogues:\n%s", n, logA.String())
	}

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
