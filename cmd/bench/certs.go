//go:build linux

package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// secretEnv carries the cluster secret to the nodes this process starts
// (not on their command line).
const secretEnv = "ACTORIO_BENCH_SECRET"

// nodeCert names the PEM files of one node's certificate, key and CA.
type nodeCert struct {
	cert, key, ca string
}

// clusterPKI is a throwaway CA and its nodes' certificates, in dir, and
// a random secret: what actorio's secured links between nodes need.
type clusterPKI struct {
	dir    string
	secret string
	nodes  []nodeCert
}

// newClusterPKI makes a CA and n node certificates (for the server and
// client uses, as each node both dials and accepts links) under a new
// temporary directory, which remove deletes.
func newClusterPKI(n int) (*clusterPKI, error) {
	dir, err := os.MkdirTemp("", "actorio-bench-pki-")
	if err != nil {
		return nil, err
	}
	p := &clusterPKI{dir: dir}
	if err := p.make(n); err != nil {
		p.remove()
		return nil, fmt.Errorf("cluster certificates: %w", err)
	}
	return p, nil
}

func (p *clusterPKI) remove() { _ = os.RemoveAll(p.dir) }

func (p *clusterPKI) make(n int) error {
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	p.secret = hex.EncodeToString(secret)

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "actorio bench CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	caFile := filepath.Join(p.dir, "ca.crt")
	if err := writePEMFile(caFile, "CERTIFICATE", caDER); err != nil {
		return err
	}
	for i := range n {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(i) + 2),
			Subject:      pkix.Name{CommonName: fmt.Sprintf("actorio bench node %d", i+1)},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return err
		}
		nc := nodeCert{
			cert: filepath.Join(p.dir, fmt.Sprintf("node%d.crt", i+1)),
			key:  filepath.Join(p.dir, fmt.Sprintf("node%d.key", i+1)),
			ca:   caFile,
		}
		if err := writePEMFile(nc.cert, "CERTIFICATE", der); err != nil {
			return err
		}
		if err := writePEMFile(nc.key, "PRIVATE KEY", keyDER); err != nil {
			return err
		}
		p.nodes = append(p.nodes, nc)
	}
	return nil
}

func writePEMFile(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}
