package client

import (
	"log/slog"
	"slices"
	"testing"
	"time"
)

func TestOptionsDefaultsAreTheJavaScriptClients(t *testing.T) {
	o, err := Options{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.DisableReconnection || o.ReconnectionAttempts != 0 {
		t.Errorf("reconnection: disabled=%v attempts=%d, want on and unlimited", o.DisableReconnection, o.ReconnectionAttempts)
	}
	if o.ReconnectionDelay != time.Second || o.ReconnectionDelayMax != 5*time.Second {
		t.Errorf("delays %v..%v, want 1s..5s", o.ReconnectionDelay, o.ReconnectionDelayMax)
	}
	if o.RandomizationFactor != 0.5 || o.Timeout != 20*time.Second {
		t.Errorf("randomization %v timeout %v, want 0.5 and 20s", o.RandomizationFactor, o.Timeout)
	}
	if o.Path != "/socket.io/" || !slices.Equal(o.Transports, []string{"polling", "websocket"}) {
		t.Errorf("path %q transports %q", o.Path, o.Transports)
	}
	if o.Logger != slog.Default() {
		t.Error("logger is not slog.Default()")
	}
}

func TestOptionsRejectUnknownTransport(t *testing.T) {
	if _, err := NewManager("http://127.0.0.1:1", Options{Transports: []string{"carrier-pigeon"}}); err == nil {
		t.Fatal("unknown transport accepted")
	}
	if _, err := NewManager("ftp://127.0.0.1:1", Options{}); err == nil {
		t.Fatal("ftp URL accepted")
	}
	if _, err := NewManager("http:///nohost", Options{}); err == nil {
		t.Fatal("URL without host accepted")
	}
}

func TestBackoffDoublesThenCaps(t *testing.T) {
	b := backoff{base: 100 * time.Millisecond, max: time.Second}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if got := b.duration(i); got != w*time.Millisecond {
			t.Errorf("attempt %d: %v, want %v", i, got, w*time.Millisecond)
		}
	}
	if got := b.duration(1 << 20); got != time.Second {
		t.Errorf("huge attempt: %v, want the cap", got)
	}
}

func TestBackoffJitterDirectionAndSize(t *testing.T) {
	r := 0.0
	b := backoff{base: time.Second, max: time.Hour, jitter: 0.5, rand: func() float64 { return r }}
	cases := []struct {
		r    float64
		want time.Duration
	}{
		{0, time.Second}, // no deviation
		{0.25, time.Second - 125*time.Millisecond}, // floor(2.5)=2, even: down by 0.25*0.5
		{0.35, time.Second + 175*time.Millisecond}, // floor(3.5)=3, odd: up by 0.35*0.5
	}
	for _, c := range cases {
		r = c.r
		if got := b.duration(0); got != c.want {
			t.Errorf("rand %v: %v, want %v", c.r, got, c.want)
		}
	}
}

func TestBackoffRandomStaysInBounds(t *testing.T) {
	b := backoff{base: time.Second, max: 5 * time.Second, jitter: 0.5}
	for i := 0; i < 1000; i++ {
		d := b.duration(1) // 2s ± 1s
		if d < time.Second || d > 3*time.Second {
			t.Fatalf("delay %v outside [1s, 3s]", d)
		}
		if d := b.duration(5); d > 5*time.Second {
			t.Fatalf("delay %v above the cap", d)
		}
	}
}
