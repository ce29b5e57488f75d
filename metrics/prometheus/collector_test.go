package prometheus_test

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/client"
	"github.com/actorio/actorio/internal/testkit"
	actorioprom "github.com/actorio/actorio/metrics/prometheus"
)

// scrape GETs url over HTTP and parses the text exposition format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value returns the value of the family's metric with namespace label nsp
// ("" for a metric without labels), and whether there is one.
func value(fams map[string]*dto.MetricFamily, name, nsp string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		label := ""
		for _, l := range m.GetLabel() {
			if l.GetName() == "namespace" {
				label = l.GetValue()
			}
		}
		if label != nsp {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// TestCollectorOverHTTP runs a server and two Go clients on 127.0.0.1,
// makes traffic of each kind, and scrapes /metrics over HTTP: every metric
// is there, with the values the traffic implies.
func TestCollectorOverHTTP(t *testing.T) {
	conns := make(chan *actorio.Socket, 2)
	reg := prom.NewRegistry()
	web := testkit.StartServer(t, testkit.ServerConfig{
		Options: actorio.Options{Logger: slog.New(slog.DiscardHandler)},
		Setup: func(srv *actorio.Server) {
			srv.OnConnection(func(s *actorio.Socket) {
				s.On("echo", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
					if ack != nil {
						_ = ack(args.Values()...)
					}
				})
				s.On("boom", func(*actorio.Socket, actorio.Args, actorio.AckFunc) { panic("boom") })
				conns <- s
			})
			reg.MustRegister(actorioprom.NewCollector(srv))
		},
		Wrap: func(srv http.Handler) http.Handler {
			mux := http.NewServeMux()
			mux.Handle("/socket.io/", srv)
			mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
			return mux
		},
	})
	srv := web.Srv

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var socks []*client.Socket
	for range 2 {
		s, err := client.New(web.URL, client.Options{Transports: []string{client.TransportWebSocket}, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.On("q", func(args client.Args, ack client.AckFunc) {
			if ack != nil {
				_ = ack("ok")
			}
		})
		if err := s.Connect(); err != nil {
			t.Fatal(err)
		}
		socks = append(socks, s)
	}
	server := []*actorio.Socket{<-conns, <-conns}
	for i := range 4 {
		if _, err := socks[0].EmitWithAck(ctx, "echo", i); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if _, err := server[1].EmitWithAck(ctx, "q"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := srv.Of("/").EmitWithAck(ctx, "q"); err != nil { // 2 receivers
		t.Fatal(err)
	}
	if err := socks[1].Emit("boom"); err != nil {
		t.Fatal(err)
	}

	want := map[string]float64{
		"actorio_events_received_total": 5, // 4 echoes and the boom
		"actorio_events_sent_total":     5, // 3 direct, 1 broadcast to 2
		"actorio_ack_latency_seconds":   5, // acks counted
		"actorio_handler_panics_total":  1,
	}
	deadline := time.Now().Add(5 * time.Second)
	var fams map[string]*dto.MetricFamily
	for {
		fams = scrape(t, web.URL+"/metrics")
		ok := true
		for name, v := range want {
			nsp := "/"
			if name == "actorio_handler_panics_total" {
				nsp = ""
			}
			if got, found := value(fams, name, nsp); !found || got != v {
				ok = false
			}
		}
		if ok || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for name, v := range want {
		nsp := "/"
		if name == "actorio_handler_panics_total" {
			nsp = ""
		}
		if got, found := value(fams, name, nsp); !found || got != v {
			t.Errorf("%s{namespace=%q} = %v (present %v), want %v", name, nsp, got, found, v)
		}
	}
	for _, name := range []string{"actorio_sessions", "actorio_connections", "actorio_bytes_received_total",
		"actorio_bytes_sent_total", "actorio_slow_consumer_disconnects_total", "actorio_rate_limited_events_total"} {
		if _, found := value(fams, name, ""); !found {
			t.Errorf("%s missing from /metrics", name)
		}
	}
	for _, name := range []string{"actorio_sockets", "actorio_rooms", "actorio_volatile_dropped_total"} {
		if _, found := value(fams, name, "/"); !found {
			t.Errorf("%s{namespace=\"/\"} missing from /metrics", name)
		}
	}
	for _, name := range []string{"actorio_bytes_received_total", "actorio_packets_received_total", "actorio_packets_sent_total"} {
		if v, _ := value(fams, name, ""); v <= 0 {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}
	if _, found := value(fams, "actorio_polling_sessions", ""); !found {
		t.Errorf("actorio_polling_sessions missing from /metrics")
	}
	if h := fams["actorio_ack_latency_seconds"].GetMetric()[0].GetHistogram(); len(h.GetBucket()) != 14 || h.GetSampleSum() <= 0 { // 13 bounds and +Inf
		t.Errorf("ack latency histogram: %d buckets, sum %v; want 14 buckets (13 bounds and +Inf) and a positive sum", len(h.GetBucket()), h.GetSampleSum())
	}
}
