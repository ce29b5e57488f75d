package cluster

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	grpcpeer "google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/actorio/actorio/internal/clusterlink"
	"github.com/actorio/actorio/internal/sysio"
)

// secretKey is the gRPC metadata key that carries the cluster secret on
// every call between nodes.
const secretKey = "actorio-cluster-secret"

// minSecret is the shortest cluster secret accepted, in bytes.
const minSecret = 16

// linkOptions returns protoactor remote's options that secure the links
// of a node as c says: mutual TLS from c.TLS and the shared secret on
// every call, each checked on the links the node accepts, a refusal
// logged (the first of each kind per remote host at once, then their
// count at most every refusalEvery). Plain links only with c.Insecure.
// The same security holds for the node's own links (link.go), which the
// returned linkSecurity describes: they are accepted on protoactor's port
// (dispatchCreds).
func linkOptions(c clusterlink.Config, log *slog.Logger) ([]remote.ConfigOption, *linkSecurity, error) {
	if !c.Insecure && (c.TLS == nil || c.Secret == "") {
		return nil, nil, errors.New("the links between nodes need TLS and Secret, or Insecure for plain links")
	}
	if c.Secret != "" && len(c.Secret) < minSecret {
		return nil, nil, fmt.Errorf("cluster secret of %d bytes: at least %d", len(c.Secret), minSecret)
	}
	refusals := &refusalLog{log: log, seen: map[string]*refusalRun{}}
	sec := &linkSecurity{secret: c.Secret, accept: &linkAcceptor{}, refusals: refusals}
	var dial []grpc.DialOption
	var serve []grpc.ServerOption
	if c.TLS != nil {
		server, client, err := tlsConfigs(*c.TLS)
		if err != nil {
			return nil, nil, err
		}
		server.NextProtos = []string{"h2", linkProto, handOverProto}
		serve = append(serve, grpc.Creds(dispatchCreds{credentials.NewTLS(server), server, sec}))
		dial = append(dial, grpc.WithTransportCredentials(credentials.NewTLS(client)))
		sec.client = client.Clone()
		sec.client.NextProtos = []string{linkProto}
		sec.handOverClient = client.Clone()
		sec.handOverClient.NextProtos = []string{handOverProto}
	} else {
		serve = append(serve, grpc.Creds(dispatchCreds{insecure.NewCredentials(), nil, sec}))
		dial = append(dial, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if c.Secret != "" {
		dial = append(dial, grpc.WithPerRPCCredentials(secretCreds{secret: c.Secret, tls: c.TLS != nil}))
		check := secretCheck{secret: []byte(c.Secret), refusals: refusals}
		serve = append(serve, grpc.ChainUnaryInterceptor(check.unary), grpc.ChainStreamInterceptor(check.stream))
	}
	return []remote.ConfigOption{remote.WithDialOptions(dial...), remote.WithServerOptions(serve...)}, sec, nil
}

// tlsConfigs returns the server and client TLS configurations of a node:
// its certificate for both, and the peer's certificate required and
// verified against the cluster's CA both ways. Host names are not
// checked: nodes dial addresses, and a certificate the cluster's CA signed
// is what makes a node one of the cluster.
func tlsConfigs(t clusterlink.TLS) (server, client *tls.Config, err error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster TLS certificate: %w", err)
	}
	pem, err := os.ReadFile(t.CAFile)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, nil, fmt.Errorf("cluster TLS CA %s: no PEM certificate", t.CAFile)
	}
	server = &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}
	client = &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		// The chain is verified below, against the cluster's CA only;
		// the name is not (see above).
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("cluster TLS: the node presented no certificate")
			}
			opts := x509.VerifyOptions{Roots: pool, Intermediates: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(opts)
			return err
		},
	}
	return server, client, nil
}

// secretCreds puts the cluster secret on every call a node makes.
type secretCreds struct {
	secret string
	tls    bool
}

func (s secretCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{secretKey: s.secret}, nil
}

func (s secretCreds) RequireTransportSecurity() bool { return s.tls }

// secretCheck refuses the calls that do not carry the cluster secret.
type secretCheck struct {
	secret   []byte
	refusals *refusalLog
}

func (c secretCheck) ok(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get(secretKey) {
		if subtle.ConstantTimeCompare([]byte(v), c.secret) == 1 {
			return nil
		}
	}
	addr := "unknown"
	if p, ok := grpcpeer.FromContext(ctx); ok && p.Addr != nil {
		addr = p.Addr.String()
	}
	c.refusals.refuse(addr, "wrong or missing cluster secret")
	return status.Error(codes.Unauthenticated, "actorio cluster: wrong or missing secret")
}

func (c secretCheck) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	if err := c.ok(ctx); err != nil {
		return nil, err
	}
	return next(ctx, req)
}

func (c secretCheck) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	if err := c.ok(ss.Context()); err != nil {
		return err
	}
	return next(srv, ss)
}

// dispatchCreds is the server side of protoactor's gRPC credentials on a
// node's cluster port: it takes the node's own links (link.go) and the
// connections that hand requests over (handover.go) out of gRPC, by their
// TLS ALPN protocol or, when plain, their magic line, and hands the other
// connections to gRPC's credentials. It logs the
// connections whose TLS handshake it refuses.
type dispatchCreds struct {
	credentials.TransportCredentials
	server *tls.Config // nil for plain links
	sec    *linkSecurity
}

func (c dispatchCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn = sysio.Wrap(conn)
	if c.server == nil {
		var head [len(linkMagic)]byte
		if _, err := io.ReadFull(conn, head[:]); err != nil {
			return nil, nil, err
		}
		switch string(head[:]) {
		case linkMagic:
			c.sec.accept.accept(conn, linkKind)
			return nil, nil, credentials.ErrConnDispatched
		case handOverMagic:
			c.sec.accept.accept(conn, handOverKind)
			return nil, nil, credentials.ErrConnDispatched
		}
		return c.TransportCredentials.ServerHandshake(&replayConn{Conn: conn, head: head[:]})
	}
	tc := tls.Server(conn, c.server)
	if err := tc.Handshake(); err != nil {
		c.sec.refusals.refuse(conn.RemoteAddr().String(), "TLS: "+err.Error())
		return nil, nil, err
	}
	cs := tc.ConnectionState()
	switch cs.NegotiatedProtocol {
	case linkProto:
		c.sec.accept.accept(tc, linkKind)
		return nil, nil, credentials.ErrConnDispatched
	case handOverProto:
		c.sec.accept.accept(tc, handOverKind)
		return nil, nil, credentials.ErrConnDispatched
	}
	return tc, credentials.TLSInfo{State: cs, CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}, nil
}

func (c dispatchCreds) Clone() credentials.TransportCredentials {
	return dispatchCreds{c.TransportCredentials.Clone(), c.server, c.sec}
}

// replayConn gives back, to the first reads, the bytes read from Conn to
// tell a link from gRPC.
type replayConn struct {
	net.Conn
	head []byte
}

func (c *replayConn) Read(b []byte) (int, error) {
	if len(c.head) > 0 {
		n := copy(b, c.head)
		c.head = c.head[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// refusalEvery is how often the refusals of one kind from one host are
// logged, as a count, after the first.
const refusalEvery = 10 * time.Second

// refusalLog logs refused links at Warn: the first of each reason per
// remote host at once, then how many followed, at most every
// refusalEvery, so that a host retrying in a loop makes few lines.
type refusalLog struct {
	log  *slog.Logger
	mu   sync.Mutex
	seen map[string]*refusalRun // by host and reason
}

type refusalRun struct {
	last  time.Time
	count int
}

func (l *refusalLog) refuse(addr, reason string) {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	key := host + " " + reason
	l.mu.Lock()
	r := l.seen[key]
	if r == nil {
		if len(l.seen) >= 1024 { // bounded whatever the hosts: start over
			clear(l.seen)
		}
		r = &refusalRun{}
		l.seen[key] = r
	}
	r.count++
	now := time.Now()
	first := r.last.IsZero()
	due := first || now.Sub(r.last) >= refusalEvery
	n := r.count
	if due {
		r.last, r.count = now, 0
	}
	l.mu.Unlock()
	switch {
	case first:
		l.log.Warn("actorio: cluster link refused", "remote", addr, "reason", reason)
	case due:
		l.log.Warn("actorio: cluster links refused", "remote", host, "reason", reason, "count", n, "since", refusalEvery)
	}
}
