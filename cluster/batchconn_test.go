package cluster

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/big"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// countingConn counts the writes made on it.
type countingConn struct {
	net.Conn
	writes atomic.Int64
	max    atomic.Int64 // the largest
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	if int64(len(p)) > c.max.Load() {
		c.max.Store(int64(len(p)))
	}
	return c.Conn.Write(p)
}

// selfSigned returns a certificate for 127.0.0.1 signed by its own key.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestBatchConnWritesABatchAtOnce: the frames of a batch written on a TLS
// link reach the socket in one write(2), however many records TLS made
// of them, or in one per batchMax bytes for a larger batch; outside a
// batch, each record goes as TLS writes it; what the other end reads is
// every byte, in order.
func TestBatchConnWritesABatchAtOnce(t *testing.T) {
	ln := listen(t)
	cert := selfSigned(t)
	got := make(chan []byte, 1)
	var want int64
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer func() { _ = c.Close() }()
		b, _ := io.ReadAll(tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}}))
		got <- b
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	counter := &countingConn{Conn: raw}
	tc := tls.Client(&batchConn{Conn: counter}, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	var sent []byte
	part := func(n int, c byte) []byte {
		p := bytes.Repeat([]byte{c}, n)
		sent = append(sent, p...)
		want += int64(n)
		return p
	}
	for _, tc2 := range []struct {
		name          string
		batch         [][]byte
		minW, maxW    int64
		outsideABatch bool
	}{
		// Five records: the second part takes three.
		{"a small frame, an answer of 40 KB, a small frame", [][]byte{part(100, 'a'), part(40<<10, 'b'), part(10, 'c')}, 1, 1, false},
		{"600 KB", [][]byte{part(200<<10, 'd'), part(200<<10, 'e'), part(200<<10, 'f')}, 3, 4, false},
		{"outside a batch: a write per record", [][]byte{part(40<<10, 'g')}, 3, 3, true},
	} {
		before := counter.writes.Load()
		if tc2.outsideABatch {
			_, err = tc.Write(tc2.batch[0])
		} else {
			err = writeBatch(tc, tc2.batch)
		}
		if err != nil {
			t.Fatal(err)
		}
		if n := counter.writes.Load() - before; n < tc2.minW || n > tc2.maxW {
			t.Errorf("%s: %d writes, want %d to %d", tc2.name, n, tc2.minW, tc2.maxW)
		}
	}
	if m := counter.max.Load(); m > batchMax+(17<<10) {
		t.Errorf("a write of %d bytes: batchMax is %d", m, batchMax)
	}
	_ = tc.Close()
	if b := <-got; !bytes.Equal(b, sent) {
		t.Fatalf("the other end read %d bytes of the %d sent, or not as sent", len(b), want)
	}
}
