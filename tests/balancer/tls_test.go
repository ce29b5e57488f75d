package balancer

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/actorio/actorio/internal/node"
)

// webCert writes, into dir, a self-signed certificate for 127.0.0.1 and
// its key, for the nodes' HTTPS, and returns their files and the
// certificate in PEM, by which the clients trust it.
func webCert(t *testing.T, dir string) (certFile, keyFile string, certPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "actorio balancer test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	certFile, keyFile = filepath.Join(dir, "web.crt"), filepath.Join(dir, "web.key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, certPEM
}

// TestTLSNodesBehindTCPBalancer: three nodes that serve HTTPS themselves
// (HTTP/2 on), behind HAProxy balancing TCP connections round-robin (mode
// tcp, as a layer-4 balancer or a Kubernetes Service without session
// affinity does), their links secured with mutual TLS and a secret; the
// official clients connect to it over HTTPS at their default options. A
// client's connections land on any node: the WebSocket of its upgrade
// (a connection of its own) and the long-polling requests on another
// connection reach a node that does not hold its session, which hands
// them to the one that does through its cluster port, whatever that
// node's HTTP endpoint. Every client joins, every default one upgrades,
// and acks and broadcasts cross the nodes.
func TestTLSNodesBehindTCPBalancer(t *testing.T) {
	node.Require(t)
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	if out, err := exec.Command("bash", "../../deploy/certs.sh", certs, "A", "B", "C").CombinedOutput(); err != nil {
		t.Fatalf("deploy/certs.sh: %v\n%s", err, out)
	}
	cert, key, certPEM := webCert(t, dir)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	nodes := startNodesOver(t, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		"NODE_HTTPS_CERT="+cert, "NODE_HTTPS_KEY="+key,
		"NODE_TLS_DIR="+certs, "NODE_SECRET=a secret of the test cluster")
	lb := startHAProxyMode(t, nodes, true)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	p := node.Run(t, ctx, clientScript, map[string]string{
		"LB_URL": lb, "LB_CA": string(certPEM),
		"N_DEFAULT": fmt.Sprint(defaultClients), "N_POLLING": fmt.Sprint(pollingClients),
		"ACTORIO_SCRIPT_TIMEOUT_MS": "120000",
	})
	total := defaultClients + pollingClients

	joinAll(t, p, nodes)
	whoami(t, p, total)
	broadcastReachesAll(t, p, nodes, total, false)
	serverSideAckers(t, nodes)
}
