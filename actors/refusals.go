package actors

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// RefusalWindow is how often a RefusalLog reports the refusals it counted
// since its last line for one subject and reason.
const RefusalWindow = 10 * time.Second

// RefusalLog logs refusals (a namespace or room a client may not have) at
// Warn without letting a client flood the log: the first refusal of a
// subject (a connection, a socket, or the whole server) for a reason is
// logged at once; the next ones are only counted, and one line reports
// their number when RefusalWindow has passed, or at Close. A subject that
// stops being refused for a whole window is forgotten. Safe for concurrent
// use; it runs no goroutine of its own (a timer per subject refused in the
// last window).
type RefusalLog struct {
	log    *slog.Logger
	window time.Duration

	mu     sync.Mutex
	open   map[refusalKey]*refusalRun
	closed bool
}

type refusalKey struct{ subject, reason string }

// refusalRun is the refusals of one subject for one reason not logged yet.
type refusalRun struct {
	count int
	since time.Time   // of the last line logged
	attrs []slog.Attr // of the first refusal, which say who was refused
	timer *time.Timer
}

// NewRefusalLog returns a RefusalLog writing to log.
func NewRefusalLog(log *slog.Logger) *RefusalLog {
	return &RefusalLog{log: log, window: RefusalWindow, open: map[refusalKey]*refusalRun{}}
}

// Refuse records that subject was refused for reason (the log message);
// attrs describe this refusal. It may log, so callers must not hold a lock
// that logging must not wait on.
func (l *RefusalLog) Refuse(subject, reason string, attrs ...slog.Attr) {
	k := refusalKey{subject, reason}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	if r, ok := l.open[k]; ok {
		r.count++
		l.mu.Unlock()
		return
	}
	r := &refusalRun{attrs: attrs, since: time.Now()}
	r.timer = time.AfterFunc(l.window, func() { l.report(k) })
	l.open[k] = r
	l.mu.Unlock()
	l.log.LogAttrs(context.Background(), slog.LevelWarn, reason, attrs...)
}

// report logs the refusals of k counted in the last window, or forgets k
// when there were none.
func (l *RefusalLog) report(k refusalKey) {
	l.mu.Lock()
	r, ok := l.open[k]
	if !ok || l.closed {
		l.mu.Unlock()
		return
	}
	n := r.count
	if n == 0 {
		delete(l.open, k)
		l.mu.Unlock()
		return
	}
	since := r.since
	r.count, r.since = 0, time.Now()
	r.timer.Reset(l.window)
	l.mu.Unlock()
	l.summary(k, r.attrs, n, since)
}

// summary logs the n refusals of k since the last line, which reported
// the first one, attrs.
func (l *RefusalLog) summary(k refusalKey, attrs []slog.Attr, n int, since time.Time) {
	l.log.LogAttrs(context.Background(), slog.LevelWarn, k.reason+" (repeated)", slog.Int("more", n),
		slog.Duration("over", time.Since(since).Round(time.Millisecond)), slog.Group("first", anys(attrs)...))
}

func anys(attrs []slog.Attr) []any {
	out := make([]any, len(attrs))
	for i, a := range attrs {
		out[i] = a
	}
	return out
}

// Close stops the timers and logs the refusals counted and not logged yet.
func (l *RefusalLog) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	open := l.open
	l.open = nil
	l.mu.Unlock()
	for k, r := range open {
		r.timer.Stop()
		if r.count > 0 {
			l.summary(k, r.attrs, r.count, r.since)
		}
	}
}
