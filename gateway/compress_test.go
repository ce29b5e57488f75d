package gateway

import (
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestAcceptsGzip(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   bool
	}{
		{"", false},
		{"gzip", true},
		{"gzip, deflate, br", true},
		{"deflate, GZIP", true},
		{"br;q=1.0, gzip;q=0.8", true},
		{"gzip;q=0", false},
		{"gzip; q=0.000", false},
		{"gzip;q=0.001", true},
		{"*", true},
		{"*;q=0", false},
		{"*;q=0, gzip", true},
		{"gzip;q=0, *", false},
		{"identity", false},
		{"x-gzip", false},
	} {
		if got := acceptsGzip(tc.header); got != tc.want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
}

// TestPollingGzip checks that a polling response is gzip-compressed when
// the client accepts it and it reaches the threshold, and only then.
func TestPollingGzip(t *testing.T) {
	// A client that sends no Accept-Encoding of its own and does not
	// decompress: the test sees the bytes on the wire.
	raw := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	for _, tc := range []struct {
		name      string
		threshold int
		accept    string
		size      int
		gzipped   bool
	}{
		{"large, accepted", 0, "gzip, deflate", 4000, true},
		{"large, not accepted", 0, "", 4000, false},
		{"large, refused with q=0", 0, "gzip;q=0", 4000, false},
		{"below the default threshold", 0, "gzip", 500, false},
		{"custom threshold", 100, "gzip", 500, true},
		{"compression off", -1, "gzip", 4000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startEnv(t, Config{CompressionThreshold: tc.threshold})
			sid := e.handshake(t)
			c := e.h.nextConn(t)
			data := strings.Repeat("socket.io ", tc.size/10)
			if err := c.Send(msg(data)); err != nil {
				t.Fatal(err)
			}
			req, err := http.NewRequest(http.MethodGet, e.base+"?EIO=4&transport=polling&sid="+sid, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.accept != "" {
				req.Header.Set("Accept-Encoding", tc.accept)
			}
			resp, err := raw.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			wire, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			body := wire
			if got := resp.Header.Get("Content-Encoding") == "gzip"; got != tc.gzipped {
				t.Fatalf("Content-Encoding %q, want gzip: %v", resp.Header.Get("Content-Encoding"), tc.gzipped)
			}
			if tc.gzipped {
				zr, err := gzip.NewReader(strings.NewReader(string(wire)))
				if err != nil {
					t.Fatal(err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
				if len(wire) >= len(body)/2 {
					t.Errorf("%d bytes on the wire for %d: not compressed much", len(wire), len(body))
				}
				if v := resp.Header.Get("Vary"); !strings.Contains(v, "Accept-Encoding") {
					t.Errorf("Vary %q", v)
				}
			}
			if want := "4" + data; string(body) != want {
				t.Fatalf("body %d bytes %.40q..., want %d bytes", len(body), body, len(want))
			}
			if n := resp.Header.Get("Content-Length"); n == "" {
				t.Error("no Content-Length")
			}
		})
	}
}
