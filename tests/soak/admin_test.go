package soak

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/actorio/actorio/admin"
	"github.com/actorio/actorio/client"
)

// dashboard is package admin on the soak's server and a Go client on its
// namespace that counts what it gets, as a dashboard left open would.
type dashboard struct {
	admin  *admin.Admin
	socket *client.Socket

	mu   sync.Mutex
	seen map[string]int
}

// startDashboard instruments cs in development mode and connects the
// dashboard.
func startDashboard(cs *chatServer, log *slog.Logger) (*dashboard, error) {
	a, err := admin.Instrument(cs.srv, admin.Options{NoAuth: true, StatsInterval: 500 * time.Millisecond, Logger: log})
	if err != nil {
		return nil, err
	}
	d := &dashboard{admin: a, seen: map[string]int{}}
	s, err := client.New(cs.url+admin.DefaultNamespace, client.Options{
		Transports: []string{client.TransportWebSocket}, DisableReconnection: true, Logger: log})
	if err != nil {
		a.Close()
		return nil, err
	}
	d.socket = s
	s.OnAny(func(event string, _ client.Args, _ client.AckFunc) {
		d.mu.Lock()
		d.seen[event]++
		d.mu.Unlock()
	})
	if err := s.Connect(); err != nil {
		a.Close()
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	return d, nil
}

// close disconnects the dashboard, closes the admin and returns what the
// dashboard got by event, and how many reports the admin dropped.
func (d *dashboard) close() (map[string]int, int64) {
	_ = d.socket.Close()
	d.admin.Close()
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.seen, d.admin.Dropped()
}
