package cluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorio/actorio/internal/bufpool"
	"github.com/actorio/actorio/internal/leakcheck"
	pb "github.com/actorio/actorio/proto"
)

// linkNode returns a node with what a link needs of it (no cluster, no
// remote), its links plain; its links end with the test, which fails if
// any goroutine of theirs is left.
func linkNode(t *testing.T) *node {
	t.Helper()
	leakcheck.Check(t, 5*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{
		log:   slog.New(slog.DiscardHandler),
		sys:   actor.NewActorSystem(),
		id:    "test-node",
		ctx:   ctx,
		sec:   &linkSecurity{},
		links: map[string]*link{},
	}
	n.peers.Store(&[]peer{})
	t.Cleanup(func() {
		cancel()
		n.closeLinks()
		n.sys.Shutdown()
	})
	return n
}

// acceptLink accepts one link on ln and returns its reader, past the magic
// line and the hello.
func acceptLink(t *testing.T, ln net.Listener) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	r := bufio.NewReader(c)
	magic := make([]byte, len(linkMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != linkMagic {
		t.Fatalf("link opened with %q, %v", magic, err)
	}
	for range 3 { // the hello: secret, address, member id
		if _, err := readSized(r, maxHelloField); err != nil {
			t.Fatalf("hello: %v", err)
		}
	}
	return c, r
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// openLink returns a node with a link to a listener of the test's, the
// link opened by a first frame, and the reader of the accepted end, that
// frame read.
func openLink(t *testing.T) (*node, *link, *bufio.Reader) {
	t.Helper()
	n := linkNode(t)
	ln := listen(t)
	l := n.linkTo(ln.Addr().String())
	first, err := appendLinkFrame(nil, &pb.NodeLeaving{MemberId: "first"})
	if err != nil {
		t.Fatal(err)
	}
	l.queue(first) // opens the link
	_, r := acceptLink(t, ln)
	if m, err := readLinkFrame(r); err != nil || m.(*pb.NodeLeaving).MemberId != "first" {
		t.Fatalf("first frame: %v, %v", m, err)
	}
	return n, l, r
}

// TestLinkKeepsEachSendersOrder: frames that senders write themselves and
// frames the writer goroutine writes for them reach the other node in the
// order each sender queued them, none lost, and senders do write some
// themselves when the other node keeps up.
func TestLinkKeepsEachSendersOrder(t *testing.T) {
	const senders, rounds, each = 8, 200, 10
	n, l, r := openLink(t)

	// Bodies sent from bufpool go back to it once written, not before:
	// meanwhile this goroutine takes buffers of their class from it and
	// overwrites them, which would spoil a body given back too early.
	scribbled := make(chan struct{})
	stopScribbling := make(chan struct{})
	go func() {
		defer close(scribbled)
		n := len(bodyOfFrame("0:0"))
		for {
			select {
			case <-stopScribbling:
				return
			default:
			}
			b := bufpool.Get(n)[:n]
			for i := range b {
				b[i] = 'X'
			}
			bufpool.Put(b)
			runtime.Gosched()
		}
	}()

	// Rounds: every sender queues a few frames at once, then the link is
	// quiet for longer than linkQuiet, so that each round's first frame
	// is written by its sender while the others' queue behind it.
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for round := range rounds {
			var wg sync.WaitGroup
			for s := range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := range each {
						i := round*each + k
						// Some frames are larger than linkCopyMax: queued
						// as they are, between copied ones; some of
						// those in two parts, their body apart (an answer
						// handed over), which nothing may come between.
						id := fmt.Sprintf("%d:%d", s, i)
						switch i % 7 {
						case 3:
							f, err := appendLinkFrame(nil, &pb.NodeLeaving{MemberId: id, Address: strings.Repeat("p", linkCopyMax+1)})
							if err != nil {
								t.Error(err)
								return
							}
							l.queue(f)
						case 5:
							n.sendTo(l.addr, &pb.NodeHandOverReply{MemberId: id, Body: bodyOfFrame(id)})
						case 6:
							// From bufpool, given back once written.
							body := append(bufpool.Get(len(bodyOfFrame(id))), bodyOfFrame(id)...)
							n.sendPooled(l.addr, &pb.NodeHandOverReply{MemberId: id, Body: body})
						default:
							f, err := appendLinkFrame(nil, &pb.NodeLeaving{MemberId: id})
							if err != nil {
								t.Error(err)
								return
							}
							l.queue(f)
						}
					}
				}()
			}
			wg.Wait()
			time.Sleep(2 * linkQuiet)
		}
	}()
	next := make([]int, senders)
	for range senders * rounds * each {
		m, err := readLinkFrame(r)
		if err != nil {
			t.Fatalf("after %v frames per sender: %v", next, err)
		}
		var id string
		switch m := m.(type) {
		case *pb.NodeLeaving:
			id = m.MemberId
			s, i, _ := strings.Cut(id, ":")
			in, _ := strconv.Atoi(i)
			if big := in%7 == 3; big != (len(m.Address) > linkCopyMax) {
				t.Fatalf("sender %s: frame %d arrived with %d bytes of padding", s, in, len(m.Address))
			}
		case *pb.NodeHandOverReply:
			id = m.MemberId
			if !bytes.Equal(m.Body, bodyOfFrame(id)) {
				t.Fatalf("frame %s: its body arrived as %d bytes, not as sent", id, len(m.Body))
			}
		}
		s, i, _ := strings.Cut(id, ":")
		sn, _ := strconv.Atoi(s)
		in, _ := strconv.Atoi(i)
		if in != next[sn] {
			t.Fatalf("sender %d: frame %d arrived where %d was due", sn, in, next[sn])
		}
		if split := in%7 >= 5; split != (m.ProtoReflect().Descriptor().Name() == "NodeHandOverReply") {
			t.Fatalf("sender %d: frame %d arrived as a %T", sn, in, m)
		}
		next[sn]++
	}
	<-sent
	close(stopScribbling)
	<-scribbled
	if l.inlined.Load() == 0 {
		t.Fatal("no sender wrote its frame itself, though the other node kept up")
	}
	t.Logf("%d of %d frames written by their senders", l.inlined.Load(), senders*rounds*each+1)
}

// TestLinkGivesBodiesBack: the bodies of answers sent from bufpool go
// back to it once the link wrote them, whether their senders wrote them
// (on a quiet link) or the writer goroutine did.
func TestLinkGivesBodiesBack(t *testing.T) {
	n, l, r := openLink(t)
	const size, count = 16 << 10, 40
	sent := map[*byte]bool{}
	total := int64(0)
	for i := range count {
		// Of a class of bufpool's, not from it: each body its own.
		body := bytes.Repeat([]byte{byte('a' + i%26)}, size)
		sent[&body[0]] = true
		m := &pb.NodeHandOverReply{MemberId: strconv.Itoa(i), Body: body}
		f, err := appendLinkFrame(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		total += int64(len(f))
		n.sendPooled(l.addr, m)
		if i%2 == 0 {
			time.Sleep(2 * linkQuiet) // the next one on a quiet link
		}
	}
	// Read as bytes: readLinkFrame would take the bodies given back out
	// of bufpool for the answers it reads.
	if _, err := io.CopyN(io.Discard, r, total); err != nil {
		t.Fatal(err)
	}
	back := 0
	for deadline := time.Now().Add(5 * time.Second); back == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for range 2 * count {
			if b := bufpool.Get(size); sent[&b[:1][0]] {
				back++
			}
		}
	}
	if back == 0 {
		t.Fatalf("none of %d bodies sent from bufpool came back to it once written", count)
	}
	t.Logf("%d of %d bodies came back", back, count)
}

// bodyOfFrame returns the body of frame id of TestLinkKeepsEachSendersOrder
// sent in two parts: over linkCopyMax bytes, the frame's id repeated.
func bodyOfFrame(id string) []byte {
	return bytes.Repeat([]byte(id+";"), linkCopyMax/len(id)+1)
}

// TestLinkSendersNeverWaitForAStalledNode: a node that stops reading (a
// stalled process) fills the link's kernel buffers; its senders still
// return at once, whether they queue one frame at a time on a quiet link
// (which they would write themselves if the kernel had room) or a burst,
// their frames queued for the writer goroutine; once the node reads again,
// every frame arrives in order.
func TestLinkSendersNeverWaitForAStalledNode(t *testing.T) {
	n := linkNode(t)
	// A small receive buffer, so that the kernel's buffers of the link
	// fill after a few dozen frames.
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	l := n.linkTo(ln.Addr().String())
	frame := func(i int) []byte {
		f, err := appendLinkFrame(nil, &pb.NodeLeaving{MemberId: strconv.Itoa(i), Address: strings.Repeat("a", 4000)})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	l.queue(frame(0))
	_, r := acceptLink(t, ln) // and read nothing more for now

	const quiet, total = 2000, 4000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i < quiet; i++ {
			time.Sleep(2 * linkQuiet)
			l.queue(frame(i))
		}
		for i := quiet; i < total; i++ {
			l.queue(frame(i))
		}
	}()
	select {
	case <-done:
	case <-time.After(linkWriteTimeout / 2):
		t.Fatal("a sender waited for a node that reads nothing")
	}
	l.mu.Lock()
	waiting := len(l.pending) > 0 || l.writing
	l.mu.Unlock()
	if !waiting {
		t.Fatal("nothing waits to be written, though the node read nothing")
	}
	t.Logf("the link's send buffer: %d bytes", l.sndbuf)

	for i := range total {
		m, err := readLinkFrame(r)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if got := m.(*pb.NodeLeaving).MemberId; got != strconv.Itoa(i) {
			t.Fatalf("frame %s arrived where %d was due", got, i)
		}
	}
}
