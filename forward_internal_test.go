package actorio

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/actorio/actorio/proto"
)

// TestDropDoubled checks which headers of an owner's answer the node that
// handed the request over drops, given the headers it set itself.
func TestDropDoubled(t *testing.T) {
	for _, tc := range []struct {
		name       string
		set, owner http.Header
		want       http.Header
	}{
		{
			name:  "any origin",
			set:   http.Header{"Access-Control-Allow-Origin": {"*"}},
			owner: http.Header{"Access-Control-Allow-Origin": {"*"}, "Content-Type": {"text/plain; charset=UTF-8"}},
			want:  http.Header{"Content-Type": {"text/plain; charset=UTF-8"}},
		},
		{
			name: "listed origin with credentials",
			set: http.Header{"Access-Control-Allow-Origin": {"https://a.example"}, "Access-Control-Allow-Credentials": {"true"},
				"Vary": {"Origin"}},
			owner: http.Header{"Access-Control-Allow-Origin": {"https://a.example"}, "Access-Control-Allow-Credentials": {"true"},
				"Vary": {"Origin, Accept-Encoding"}, "Content-Encoding": {"gzip"}},
			want: http.Header{"Vary": {"Accept-Encoding"}, "Content-Encoding": {"gzip"}},
		},
		{
			name:  "vary compared without case, every value",
			set:   http.Header{"Vary": {"origin", "Access-Control-Request-Headers"}},
			owner: http.Header{"Vary": {"Origin", "access-control-request-headers, Accept-Encoding"}},
			want:  http.Header{"Vary": {"Accept-Encoding"}},
		},
		{
			name:  "nothing set here",
			set:   http.Header{},
			owner: http.Header{"Access-Control-Allow-Origin": {"*"}, "Vary": {"Origin"}},
			want:  http.Header{"Access-Control-Allow-Origin": {"*"}, "Vary": {"Origin"}},
		},
		{
			name:  "vary left empty",
			set:   http.Header{"Vary": {"Origin"}},
			owner: http.Header{"Vary": {"Origin"}},
			want:  http.Header{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dropDoubled(tc.owner, tc.set)
			if !reflect.DeepEqual(tc.owner, tc.want) {
				t.Fatalf("got %v, want %v", tc.owner, tc.want)
			}
		})
	}
}

// TestServeHandOver checks the request a node's server gets for a
// long-polling request another node handed over, and the answer that goes
// back: what the handler saw and wrote, as net/http would have sent it.
func TestServeHandOver(t *testing.T) {
	m := &pb.NodeHandOver{Method: http.MethodPost, Uri: "/socket.io/?EIO=4&transport=polling&sid=abc", Host: "example.test",
		ReplyTo: "10.0.0.2:9000", ContentLength: 5, Body: []byte("hello"),
		Header: []*pb.NodeHeader{{Key: "Content-Type", Values: []string{"text/plain"}}, {Key: "Cookie", Values: []string{"a=1", "b=2"}}}}
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		want    *pb.NodeHandOverReply
	}{
		{
			name: "the request as the handing node's server saw it",
			handler: func(w http.ResponseWriter, r *http.Request) {
				body, err := io.ReadAll(r.Body)
				got := fmt.Sprintf("%s %s %s host=%s remote=%s len=%d body=%q err=%v ct=%q cookie=%q fwd=%q",
					r.Method, r.URL.Path, r.URL.Query().Get("sid"), r.Host, r.RemoteAddr, r.ContentLength, body, err,
					r.Header.Get("Content-Type"), r.Header.Values("Cookie"), r.Header.Get(forwardedHeader))
				_, _ = io.WriteString(w, got)
			},
			want: &pb.NodeHandOverReply{Status: http.StatusOK,
				Body: []byte(`POST /socket.io/ abc host=example.test remote=10.0.0.2:9000 len=5 body="hello" err=<nil> ct="text/plain" cookie=["a=1" "b=2"] fwd="1"`)},
		},
		{
			name: "headers as they were when the status was written",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusTeapot)
				w.Header().Set("X-Late", "1")
				w.WriteHeader(http.StatusOK)
				_, _ = io.WriteString(w, "short")
			},
			want: &pb.NodeHandOverReply{Status: http.StatusTeapot, Header: []*pb.NodeHeader{{Key: "Content-Type", Values: []string{"text/html"}}},
				Body: []byte("short")},
		},
		{
			name:    "nothing written: 200 and no body",
			handler: func(http.ResponseWriter, *http.Request) {},
			want:    &pb.NodeHandOverReply{Status: http.StatusOK},
		},
		{
			name:    "a handler that panics: status 0, taken as a failure",
			handler: func(http.ResponseWriter, *http.Request) { panic("boom") },
			want:    &pb.NodeHandOverReply{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := testForwarder(tc.handler)
			got, pooled := f.serveHandOver(t.Context(), m)
			if !proto.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			if pooled {
				t.Fatal("an answer written with Write reported as pooled")
			}
		})
	}
}

// testForwarder returns a forwarder whose server is h, for serveHandOver.
func testForwarder(h http.Handler) *forwarder {
	return &forwarder{s: &Server{opts: Options{Logger: slog.New(slog.DiscardHandler)}}, handler: h, serving: map[string]int{}}
}

// TestServeHandOverCutBody checks that the server of a request whose body
// the handing node cut reads what it got, then an error.
func TestServeHandOverCutBody(t *testing.T) {
	m := &pb.NodeHandOver{Method: http.MethodPost, Uri: "/socket.io/", ContentLength: -1, Body: []byte("abc"), Cut: true}
	var body []byte
	var err error
	f := testForwarder(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		body, err = io.ReadAll(r.Body)
	}))
	f.serveHandOver(t.Context(), m)
	if string(body) != "abc" || !errors.Is(err, errCutBody) {
		t.Fatalf("read %q, %v; want \"abc\", %v", body, err, errCutBody)
	}
}

// TestHeadersOut checks that a request handed over carries its client's
// headers, less the hop-by-hop ones and those its Connection names.
func TestHeadersOut(t *testing.T) {
	in := http.Header{"Connection": {"keep-alive, X-Hop"}, "X-Hop": {"1"}, "Keep-Alive": {"timeout=5"}, "Te": {"trailers"},
		"Accept-Encoding": {"gzip"}, "X-Forwarded-For": {"192.0.2.1"}, "Cookie": {"io=abc"}}
	got := http.Header{}
	for _, h := range headersOut(in) {
		got[h.Key] = h.Values
	}
	want := http.Header{"Accept-Encoding": {"gzip"}, "X-Forwarded-For": {"192.0.2.1"}, "Cookie": {"io=abc"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if in.Get("X-Hop") != "1" {
		t.Fatal("headersOut changed the request's own headers")
	}
}

// TestHandOverAnswerKeepsBody: an answer keeps the body the gateway hands
// it, not a copy, and what is written after it does not go into that
// body's spare capacity, which may be shared.
func TestHandOverAnswerKeepsBody(t *testing.T) {
	shared := make([]byte, 1, 8)
	shared[0] = '6'
	w := &handOverAnswer{header: http.Header{}}
	w.KeepBody(shared, false)
	if r := w.reply(); r.Status != http.StatusOK || &r.Body[0] != &shared[0] || w.pooled {
		t.Fatalf("answer %d with a body not the one kept (pooled %v)", r.Status, w.pooled)
	}
	if _, err := w.Write([]byte("more")); err != nil {
		t.Fatal(err)
	}
	if got := string(w.reply().Body); got != "6more" {
		t.Fatalf("body %q, want %q", got, "6more")
	}
	if spare := shared[1:4]; string(spare) != "\x00\x00\x00" {
		t.Fatalf("the write went into the kept body's spare capacity: %q", spare)
	}
}

// TestHandOverAnswerPooled: an answer whose body the gateway kept from
// bufpool says so, for the node to give the body back once written, its
// capacity whole; once written to after it (which the gateway never
// does), it does not.
func TestHandOverAnswerPooled(t *testing.T) {
	w := &handOverAnswer{header: http.Header{}}
	body := append(make([]byte, 0, 1024), "4hello"...)
	w.KeepBody(body, true)
	if r := w.reply(); !w.pooled || &r.Body[0] != &body[0] || cap(r.Body) != cap(body) {
		t.Fatalf("an answer kept from bufpool: pooled %v, its body's capacity %d of %d (bufpool takes back its classes only)", w.pooled, cap(r.Body), cap(body))
	}
	if _, err := w.Write([]byte("more")); err != nil {
		t.Fatal(err)
	}
	if w.pooled {
		t.Fatal("an answer written to after its kept body is still reported as pooled")
	}
	if got := string(w.reply().Body); got != "4hellomore" {
		t.Fatalf("body %q", got)
	}
}
