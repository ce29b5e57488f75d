package cluster

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
)

// protoactorLog wraps the embedder's handler for protoactor-go's own
// records: below Warn they are dropped (it logs every start, connection and
// topology change at Info), its errors become warnings, and its reports of
// failed and lost connections, which a cluster expects while a node is
// down and this package reports itself (a node joined, left or was
// dropped), go to Debug. Once quiet is set (the node is closing and
// closes its connections), nothing passes.
type protoactorLog struct {
	slog.Handler
	quiet *atomic.Bool
}

func (h protoactorLog) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && !h.quiet.Load() && h.Handler.Enabled(ctx, slog.LevelWarn)
}

func (h protoactorLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Level > slog.LevelWarn {
		r.Level = slog.LevelWarn
	}
	// Its connection writer reports every failed attempt and every lost
	// connection, twice per attempt while a node is down: Debug.
	if strings.HasPrefix(r.Message, "EndpointWriter") {
		if !h.Handler.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r.Level = slog.LevelDebug
	}
	return h.Handler.Handle(ctx, r)
}

func (h protoactorLog) WithAttrs(as []slog.Attr) slog.Handler {
	return protoactorLog{Handler: h.Handler.WithAttrs(as), quiet: h.quiet}
}

func (h protoactorLog) WithGroup(name string) slog.Handler {
	return protoactorLog{Handler: h.Handler.WithGroup(name), quiet: h.quiet}
}
