//go:build linux

package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestH1RoundTrip runs the long-polling clients' HTTP/1.1 connection
// against net/http's server on 127.0.0.1: each kind of answer body, and
// whether the connection may carry the next request.
func TestH1RoundTrip(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/length":
			w.Write([]byte("got " + r.Method + " " + string(body)))
		case "/chunked":
			for _, part := range []string{"one ", "two ", strings.Repeat("x", 5000)} {
				w.Write([]byte(part))
				w.(http.Flusher).Flush()
			}
		case "/close":
			w.Header().Set("Connection", "close")
			w.Write([]byte("bye"))
		case "/missing":
			http.Error(w, "nothing here", http.StatusNotFound)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	h, err := dialH1(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	for _, tc := range []struct {
		method, target string
		body           []byte
		status         int
		want           string
		keep           bool
	}{
		{"GET", "/length?a=1", nil, 200, "got GET ", true},
		{"POST", "/length", []byte("40"), 200, "got POST 40", true},
		{"GET", "/chunked", nil, 200, "one two " + strings.Repeat("x", 5000), true},
		{"GET", "/missing", nil, 404, "nothing here\n", true},
		{"GET", "/close", nil, 200, "bye", false},
	} {
		status, got, keep, retry, err := h.roundTrip(tc.method, tc.target, tc.body, nil, time.Now().Add(5*time.Second))
		if err != nil || retry {
			t.Fatalf("%s %s: error %v, retry %v", tc.method, tc.target, err, retry)
		}
		if status != tc.status || string(got) != tc.want || keep != tc.keep {
			t.Errorf("%s %s: status %d, body %q, keep %v; want %d, %q, %v", tc.method, tc.target, status, got, keep, tc.status, tc.want, tc.keep)
		}
	}
	// The server closed the connection after /close: the next request
	// fails before any answer, and may be sent again on a new one.
	_, _, _, retry, err := h.roundTrip("GET", "/length", nil, nil, time.Now().Add(5*time.Second))
	if err == nil || !retry {
		t.Errorf("request on a connection the server closed: error %v, retry %v; want an error to retry", err, retry)
	}
}

// TestH1Malformed: an answer that is not HTTP/1.1 is an error, never
// retried.
func TestH1Malformed(t *testing.T) {
	for _, answer := range []string{
		"SSH-2.0-OpenSSH\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	} {
		ln := listenOnce(t, answer)
		h, err := dialH1(context.Background(), ln)
		if err != nil {
			t.Fatal(err)
		}
		_, _, _, retry, err := h.roundTrip("GET", "/", nil, nil, time.Now().Add(5*time.Second))
		h.close()
		if !errors.Is(err, errH1) || retry {
			t.Errorf("answer %q: error %v, retry %v; want errH1, no retry", answer, err, retry)
		}
	}
}

// listenOnce serves answer to the first connection on 127.0.0.1 once it
// has read a request's first line, and returns the address.
func listenOnce(t *testing.T, answer string) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	ln := srv.Listener
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 512)
		c.Read(buf)
		io.WriteString(c, answer)
	}()
	return ln.Addr().String()
}

// TestH1TimeoutNotRetried: a request whose deadline passes before its
// answer is not to be sent again (the server may still answer it).
func TestH1TimeoutNotRetried(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-block
		}
	}))
	defer srv.Close()
	defer close(block)
	h, err := dialH1(context.Background(), strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	if _, _, _, _, err := h.roundTrip("GET", "/fast", nil, nil, time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	_, _, _, retry, err := h.roundTrip("GET", "/slow", nil, nil, time.Now().Add(100*time.Millisecond))
	if !timedOut(err) || retry {
		t.Errorf("request past its deadline: error %v, retry %v; want a timeout, no retry", err, retry)
	}
}
