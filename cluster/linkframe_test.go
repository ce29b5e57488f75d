package cluster

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/actorio/actorio/proto"
)

func TestLinkFrames(t *testing.T) {
	msgs := []proto.Message{
		&pb.NodeBroadcast{Namespace: "/", Broadcast: &pb.Broadcast{Target: &pb.Target{Rooms: []string{"r"}}, Frame: []byte(`2["x"]`)}},
		&pb.NodeBroadcastWithAck{Namespace: "/chat", Data: bytes.Repeat([]byte("d"), 300), AckId: 7, ReplyTo: "127.0.0.1:7001", TimeoutMs: 10},
		&pb.NodeBroadcastAckDone{AckId: 7, MemberId: "m", Missing: 2, Acks: []*pb.NodeBroadcastAck{{Data: []byte(`[1]`)}}},
		&pb.NodeLeaving{MemberId: "m", Address: "127.0.0.1:7001"},
		&pb.NodeLeavingAck{}, // empty: a frame of zero bytes
		&pb.NodeQueueMark{ReplyTo: "a", Sent: 1 << 40},
		&pb.NodeEvent{Data: []byte(`["reload","x"]`), Attachments: [][]byte{{0, 1}}, AckId: 3, ReplyTo: "127.0.0.1:7001"},
		&pb.NodeRouteQuery{Tag: "abcdefgh", RequestId: 4, ReplyTo: "127.0.0.1:7001"},
		&pb.NodeRouteReply{Address: "127.0.0.1:3000", RequestId: 4, MemberId: "m"},
		&pb.NodeHandOver{RequestId: 5, ReplyTo: "127.0.0.1:7001", Method: "POST", Uri: "/socket.io/?sid=x", Host: "h",
			Header: []*pb.NodeHeader{{Key: "Cookie", Values: []string{"a=1", "b=2"}}}, Body: []byte("42[\"x\"]"), ContentLength: 7},
		&pb.NodeHandOver{RequestId: 6, Method: "GET", Uri: "/socket.io/", ContentLength: -1}, // no body
		&pb.NodeHandOverReply{RequestId: 5, MemberId: "m", Status: 200, Body: bytes.Repeat([]byte("b"), 70000)},
		&pb.NodeHandOverReply{RequestId: 6, MemberId: "m", Status: 413},
		&pb.NodeHandOverCancel{RequestId: 6, ReplyTo: "127.0.0.1:7001"},
	}
	before := make([]proto.Message, len(msgs))
	for i, m := range msgs {
		before[i] = proto.Clone(m)
	}
	var b []byte
	for _, m := range msgs {
		var err error
		if b, err = appendLinkFrame(b, m); err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range msgs {
		if !proto.Equal(m, before[i]) {
			t.Fatalf("framing changed %v into %v", before[i], m)
		}
	}
	r := bufio.NewReader(bytes.NewReader(b))
	for _, want := range msgs {
		got, err := readLinkFrame(r)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("read %v, wrote %v", got, want)
		}
		// An answer's body is read into a buffer from bufpool, which
		// whoever handed the request over gives back once written.
		if a, ok := got.(*pb.NodeHandOverReply); ok && len(a.Body) > 0 && cap(a.Body) != 128<<10 {
			t.Fatalf("an answer's body of %d bytes read into %d bytes, not a buffer of bufpool's class", len(a.Body), cap(a.Body))
		}
	}
	if _, err := readLinkFrame(r); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
	if _, err := appendLinkFrame(nil, &pb.NodePing{}); err == nil {
		t.Fatal("a message links do not carry was framed")
	}

	// A frame of a type this build does not know (a newer build's) is
	// skipped, and the next one read.
	next, err := appendLinkFrame(nil, &pb.NodeLeavingAck{})
	if err != nil {
		t.Fatal(err)
	}
	r = bufio.NewReader(bytes.NewReader(append([]byte{byte(len(linkTypes)), 3, 'a', 'b', 'c'}, next...)))
	if m, err := readLinkFrame(r); m != nil || err != nil {
		t.Fatalf("a frame of an unknown type read as %v, %v; want skipped", m, err)
	}
	if m, err := readLinkFrame(r); err != nil || !proto.Equal(m, &pb.NodeLeavingAck{}) {
		t.Fatalf("after a skipped frame: %v, %v", m, err)
	}

	bad := []struct {
		name  string
		input []byte
	}{
		{"type 0", []byte{0, 0}},
		{"length cut", []byte{1, 0x80}},
		{"over the bound", append([]byte{1}, 0x80, 0x80, 0x80, 0x80, 0x08)}, // 2^31
		{"body cut", []byte{1, 5, 'a'}},
		{"not protobuf", []byte{1, 2, 0xff, 0xff}},
		{"a body's message past its frame", []byte{linkTypeOf[(&pb.NodeHandOverReply{}).ProtoReflect().Descriptor().FullName()], 2, 5, 0}},
		{"a body's message length cut", []byte{linkTypeOf[(&pb.NodeHandOverReply{}).ProtoReflect().Descriptor().FullName()], 1, 0x80}},
		{"a body's message length past its frame", []byte{linkTypeOf[(&pb.NodeHandOverReply{}).ProtoReflect().Descriptor().FullName()], 1, 0x80, 0x01}},
		{"an answer's empty frame", []byte{linkTypeOf[(&pb.NodeHandOverReply{}).ProtoReflect().Descriptor().FullName()], 0, 0}},
		{"an answer's body cut", []byte{linkTypeOf[(&pb.NodeHandOverReply{}).ProtoReflect().Descriptor().FullName()], 4, 0, 'a'}},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := readLinkFrame(bufio.NewReader(bytes.NewReader(c.input)))
			if !errors.Is(err, errLinkFrame) {
				t.Fatalf("error %v, want errLinkFrame", err)
			}
		})
	}
}

// TestLinkFrameHead checks that a frame framed in two parts reads as the
// one appendLinkFrame makes: a body over linkCopyMax comes back as the
// tail, the very bytes given (not a copy), and a smaller one or another
// message's bytes stay in the head.
func TestLinkFrameHead(t *testing.T) {
	big := bytes.Repeat([]byte("b"), linkCopyMax+1)
	for _, tc := range []struct {
		name     string
		m        proto.Message
		wantTail []byte
	}{
		{"answer over linkCopyMax", &pb.NodeHandOverReply{RequestId: 5, MemberId: "m", Status: 200, Body: big}, big},
		{"answer of linkCopyMax", &pb.NodeHandOverReply{RequestId: 5, Status: 200, Body: big[:linkCopyMax]}, nil},
		{"request over linkCopyMax", &pb.NodeHandOver{RequestId: 6, Method: "POST", Uri: "/", Body: big}, big},
		{"no body", &pb.NodeHandOverReply{RequestId: 6, Status: 400}, nil},
		{"a message without a body field", &pb.NodeBroadcast{Namespace: "/", Broadcast: &pb.Broadcast{Frame: big}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			whole, err := appendLinkFrame(nil, tc.m)
			if err != nil {
				t.Fatal(err)
			}
			head, tail, err := appendLinkFrameHead(nil, tc.m)
			if err != nil {
				t.Fatal(err)
			}
			if len(tail) != len(tc.wantTail) || (len(tail) > 0 && &tail[0] != &tc.wantTail[0]) {
				t.Fatalf("tail of %d bytes at %p, want the body's %d at %p", len(tail), tail, len(tc.wantTail), tc.wantTail)
			}
			if got := append(head, tail...); !bytes.Equal(got, whole) {
				t.Fatalf("head and tail differ from the whole frame")
			}
			if cap(head) != len(head) {
				t.Errorf("head of %d bytes in a buffer of %d", len(head), cap(head))
			}
		})
	}
}

// TestFrameBuffered checks that a link's reader sees a frame as buffered
// only once all of it was read, whatever part of it is missing.
func TestFrameBuffered(t *testing.T) {
	big := &pb.NodeBroadcast{Namespace: "/", Broadcast: &pb.Broadcast{Frame: bytes.Repeat([]byte("x"), 200)}} // a 2-byte length
	for _, m := range []proto.Message{big, &pb.NodeLeavingAck{}} {
		frame, err := appendLinkFrame(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i <= len(frame); i++ {
			r := bufio.NewReader(bytes.NewReader(frame[:i]))
			_, _ = r.Peek(i) // what the network gave so far
			if got, want := frameBuffered(r), i == len(frame); got != want {
				t.Fatalf("%T, %d of %d bytes buffered: frameBuffered %v", m, i, len(frame), got)
			}
		}
	}
}

func FuzzReadLinkFrame(f *testing.F) {
	for _, m := range []proto.Message{
		&pb.NodeBroadcast{Namespace: "/", Broadcast: &pb.Broadcast{Frame: []byte(`2["x"]`)}},
		&pb.NodeBroadcastAcks{AckId: 1, Acks: []*pb.NodeBroadcastAck{{Data: []byte("[]")}}},
		&pb.NodeSessionClaim{Namespace: "/", Pid: "p"},
		&pb.NodeEvent{Data: []byte(`["x"]`), AckId: 1, ReplyTo: "a"},
		&pb.NodeHandOver{RequestId: 1, Method: "POST", Uri: "/", Header: []*pb.NodeHeader{{Key: "A", Values: []string{"b"}}}, Body: []byte("42[]")},
		&pb.NodeHandOverReply{RequestId: 1, Status: 200, Body: []byte("ok")},
	} {
		b, err := appendLinkFrame(nil, m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{1, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		for {
			whole := frameBuffered(r)
			m, err := readLinkFrame(r)
			if err != nil {
				if err != io.EOF && !errors.Is(err, errLinkFrame) {
					t.Fatalf("error %v is neither io.EOF nor errLinkFrame", err)
				}
				if whole && errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("a frame seen as buffered was cut: %v", err)
				}
				return
			}
			if m == nil {
				continue // a type this build does not know: skipped
			}
			// What was read frames again into bytes that read the same.
			again, err := appendLinkFrame(nil, m)
			if err != nil {
				t.Fatal(err)
			}
			m2, err := readLinkFrame(bufio.NewReader(bytes.NewReader(again)))
			if err != nil || !proto.Equal(m, m2) {
				t.Fatalf("re-read %v (%v), want %v", m2, err, m)
			}
		}
	})
}
