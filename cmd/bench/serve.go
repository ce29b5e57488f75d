//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/cluster"
)

// serve runs one bench server until SIGTERM or SIGINT: it prints
// "READY <addr>" on stdout once it accepts connections.
func serve(cfg config, stdout, stderr io.Writer) error {
	if _, err := raiseNoFile(0); err != nil {
		fmt.Fprintln(stderr, "bench serve: raise RLIMIT_NOFILE:", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	// Listen first: a node of a cluster tells the others its HTTP address.
	// actorio's server listens and serves as its README advises
	// (actorio.Listen: a connection reaches net/http once its client has
	// sent its request; actorio.Serve: WebSocket upgrades are answered
	// without net/http's buffers); the raw server as net/http's users do
	// by default.
	listen := net.Listen
	if cfg.serve == kindActorio {
		listen = actorio.Listen
	}
	ln, err := listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	ready := "READY " + ln.Addr().String()
	mux := http.NewServeMux()
	switch cfg.serve {
	case kindActorio:
		srv, err := newActorioServer(cfg, logger)
		if err != nil {
			return err
		}
		mux.Handle("/socket.io/", srv)
		if nodes := srv.ClusterNodes(); len(nodes) > 0 {
			ready += " " + nodes[0]
			go reportJoined(srv, cfg.clusterSize, stdout)
		}
	case kindRaw:
		mux.Handle(rawPath, newRawServer(cfg.pingInterval))
	case kindFloor:
		mux.Handle("/socket.io/", newSIOServer(cfg.pingInterval))
	}
	if cfg.pprofAddr != "" {
		if err := servePprof(cfg.pprofAddr, stderr); err != nil {
			return err
		}
	}
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	var peak *peakMem
	if cfg.memProfile != "" {
		// cmd/bench sends SIGUSR1 when it reads this process's memory
		// (serverProc.mem): the peak until then is the one it measured.
		peak = startPeakMem()
		marks := make(chan os.Signal, 1)
		signal.Notify(marks, syscall.SIGUSR1)
		defer signal.Stop(marks)
		go func() {
			for range marks {
				peak.Mark()
			}
		}()
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(stderr, "bench serve: http: ", 0)}
	errc := make(chan error, 1)
	go func() {
		if cfg.serve == kindActorio {
			errc <- actorio.Serve(hs, ln)
			return
		}
		errc <- hs.Serve(ln)
	}()
	fmt.Fprintln(stdout, ready)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	case <-ctx.Done():
	}
	// No graceful close: the process ends here and the kernel closes the
	// sockets, so the measured run is not followed by thousands of
	// disconnect handlers.
	if cfg.memProfile != "" {
		runtime.GC()
		f, err := os.Create(cfg.memProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			return err
		}
		if err := writeMemStats(cfg.memProfile+".memstats.txt", peak.Stop()); err != nil {
			return err
		}
	}
	return nil
}

// writeMemStats writes where the Go runtime's memory goes (heap, stacks,
// runtime overhead) at the end of the run, next to the heap profile, which
// shows the heap only, then peak (peakMem's report of the run's peak).
func writeMemStats(path, peak string) error {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	text := fmt.Sprintf("goroutines %d\nSys %.1f MB\nHeapInuse %.1f MB (live objects %.1f MB)\nHeapIdle %.1f MB (released %.1f MB)\nStackInuse %.1f MB\nMSpanInuse %.1f MB\nGCSys %.1f MB\nOtherSys %.1f MB\nNumGC %d\n",
		runtime.NumGoroutine(), mb(m.Sys), mb(m.HeapInuse), mb(m.HeapAlloc), mb(m.HeapIdle), mb(m.HeapReleased),
		mb(m.StackInuse), mb(m.MSpanInuse), mb(m.GCSys), mb(m.OtherSys), m.NumGC)
	return os.WriteFile(path, []byte("at the end:\n"+text+peak), 0o644)
}

// servePprof serves net/http/pprof on addr, on a mux of its own.
func servePprof(addr string, stderr io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pprof listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", httppprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", httppprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", httppprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", httppprof.Trace)
	go func() {
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		if err := hs.Serve(ln); err != nil {
			fmt.Fprintln(stderr, "bench serve: pprof:", err)
		}
	}()
	return nil
}

// newActorioServer is the bench server of ours: the events of every bench
// server on the namespace "/". With -cluster-seeds it is a node of a
// cluster.
func newActorioServer(cfg config, logger *slog.Logger) (*actorio.Server, error) {
	opts := actorio.Options{PingInterval: cfg.pingInterval, Logger: logger}
	if cfg.parser == parserMsgpack {
		opts.Parser = actorio.ParserMsgpack
	}
	if cfg.compress {
		opts.PerMessageDeflate = &actorio.PerMessageDeflate{}
	}
	if cfg.clusterSeeds != "" {
		c, err := clusterOptions(cfg)
		if err != nil {
			return nil, err
		}
		opts.Cluster = c
	}
	srv, err := actorio.NewServer(opts)
	if err != nil {
		return nil, err
	}
	srv.OnConnection(func(s *actorio.Socket) {
		s.On("echo", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
			if ack != nil {
				_ = ack(args.Values()...)
			}
		})
		s.On("join", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
			room := args.String(0)
			s.Join(room)
			if ack != nil {
				_ = ack(room)
			}
		})
		s.On("blast", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
			var req struct {
				Room  string `json:"room"`
				Count int    `json:"count"`
				Size  int    `json:"size"`
			}
			if err := args.Decode(0, &req); err != nil {
				if ack != nil {
					_ = ack(map[string]string{"error": err.Error()})
				}
				return
			}
			payload := strings.Repeat("x", req.Size)
			to := s.Namespace().To(req.Room)
			for range req.Count {
				if err := to.Emit("msg", payload); err != nil {
					logger.Warn("blast emit", "err", err)
					break
				}
			}
			if ack != nil {
				_ = ack(req.Count)
			}
		})
		s.On("xblast", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
			var req xRequest
			if err := args.Decode(0, &req); err != nil {
				if ack != nil {
					_ = ack(map[string]string{"error": err.Error()})
				}
				return
			}
			to := s.Namespace().To(req.Room)
			pad := strings.Repeat("x", max(0, req.Size-stampLen))
			buf := make([]byte, 0, stampLen+len(pad))
			for range req.Count {
				buf = appendStamp(buf[:0], time.Now())
				buf = append(buf, pad...)
				if err := to.Emit("msg", string(buf)); err != nil {
					logger.Warn("xblast emit", "err", err)
					break
				}
			}
			if ack != nil {
				_ = ack(req.Count)
			}
		})
		s.On("xack", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
			var req xRequest
			if err := args.Decode(0, &req); err != nil {
				if ack != nil {
					_ = ack(map[string]string{"error": err.Error()})
				}
				return
			}
			// The rounds run outside the socket's handler, which stays
			// free for the client's next events.
			go func() {
				to := s.Namespace().To(req.Room)
				payload := strings.Repeat("a", req.Size)
				res := xAckReply{Durs: make([]int64, 0, req.Rounds), Counts: make([]int, 0, req.Rounds)}
				for range req.Rounds {
					ctx, cancel := context.WithTimeout(context.Background(), time.Duration(req.TimeoutMs)*time.Millisecond)
					t0 := time.Now()
					acks, err := to.EmitWithAck(ctx, "x", payload)
					d := time.Since(t0)
					cancel()
					if err != nil {
						res.Errors++
						if res.FirstError == "" {
							res.FirstError = err.Error()
						}
					}
					res.Durs = append(res.Durs, d.Nanoseconds())
					res.Counts = append(res.Counts, len(acks))
				}
				if ack != nil {
					_ = ack(res)
				}
			}()
		})
	})
	// The storm scenarios connect to /storm, whose middleware checks the
	// CONNECT's auth, as an application's would.
	storm := srv.Of(stormNamespace)
	storm.Use(func(s *actorio.Socket) error {
		var auth struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal(s.Handshake().Auth, &auth); err != nil || auth.Token != stormToken {
			return errors.New("unauthorized")
		}
		return nil
	})
	return srv, nil
}

// reportJoined prints "JOINED <n>" once the node's cluster has n nodes.
func reportJoined(srv *actorio.Server, n int, stdout io.Writer) {
	for len(srv.ClusterNodes()) < n {
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Fprintf(stdout, "JOINED %d\n", len(srv.ClusterNodes()))
}

// clusterOptions makes this server a node of the bench's cluster, its
// links (and the requests handed over between nodes) secured with
// -cluster-cert, -key, -ca and the secret of $ACTORIO_BENCH_SECRET, or
// plain without a certificate.
func clusterOptions(cfg config) (*actorio.ClusterOptions, error) {
	var seeds []string
	if cfg.clusterSeeds != "-" {
		seeds = strings.Split(cfg.clusterSeeds, ",")
	}
	c := &actorio.ClusterOptions{
		Name:     "bench",
		Address:  "127.0.0.1:0",
		Provider: &cluster.Static{Seeds: seeds},
	}
	if cfg.clusterCert == "" {
		c.Insecure = true
		return c, nil
	}
	c.TLS = &actorio.ClusterTLS{CertFile: cfg.clusterCert, KeyFile: cfg.clusterKey, CAFile: cfg.clusterCA}
	c.Secret = os.Getenv(secretEnv)
	if c.Secret == "" {
		return nil, fmt.Errorf("-cluster-cert given without the secret in $%s", secretEnv)
	}
	return c, nil
}
