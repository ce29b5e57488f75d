package chatdemo

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/actorio/actorio"
)

// Serve serves srv's demo (Handler) on addr until SIGINT or SIGTERM, then
// closes srv and shuts the HTTP server down; listening is logged with
// attrs once the listener runs.
func Serve(srv *actorio.Server, addr, clientJS string, log *slog.Logger, listening string, attrs ...any) error {
	return ServeHandler(srv, Handler(srv, clientJS), addr, log, listening, attrs...)
}

// ServeHandler is Serve with h, which serves srv's endpoint, in place of
// Handler.
func ServeHandler(srv *actorio.Server, h http.Handler, addr string, log *slog.Logger, listening string, attrs ...any) error {
	// IdleTimeout as Node's keepAliveTimeout: a browser keeps the
	// connections of its page load and polling requests open for
	// minutes, and net/http would hold a goroutine and buffers for each.
	httpSrv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// actorio.Listen: a connection costs net/http nothing until its
	// client has sent its request; actorio.Serve: the listener answers
	// WebSocket upgrades itself, without net/http's buffers (see their
	// docs).
	ln, err := actorio.Listen("tcp", addr)
	if err != nil {
		_ = srv.Close()
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- actorio.Serve(httpSrv, ln) }()
	log.Info(listening, append([]any{"url", "http://" + addr}, attrs...)...)
	select {
	case err := <-errc:
		_ = srv.Close()
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Close(); err != nil {
		log.Warn("close socket.io server", "err", err)
	}
	if err := httpSrv.Shutdown(shut); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
