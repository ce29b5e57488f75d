package cluster

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/actorio/actorio/internal/bufpool"
	pb "github.com/actorio/actorio/proto"
)

// A node link carries frames: a message type (one byte, its index in
// linkTypes), the length of the message (uvarint), then the message
// marshalled as protobuf.

// maxLinkFrame bounds one frame a node reads from another: what a node
// sends is bounded by the client payloads it accepts and the bound of its
// queue, far below this.
const maxLinkFrame = 256 << 20

// linkTypes are the messages a link carries, by type byte (0 is none).
var linkTypes = []func() proto.Message{
	nil,
	func() proto.Message { return new(pb.NodeBroadcast) },
	func() proto.Message { return new(pb.NodeRoomChange) },
	func() proto.Message { return new(pb.NodeDisconnect) },
	func() proto.Message { return new(pb.NodeBroadcastWithAck) },
	func() proto.Message { return new(pb.NodeBroadcastCancel) },
	func() proto.Message { return new(pb.NodeBroadcastAck) },
	func() proto.Message { return new(pb.NodeBroadcastAcks) },
	func() proto.Message { return new(pb.NodeBroadcastAckDone) },
	func() proto.Message { return new(pb.NodeFetchSockets) },
	func() proto.Message { return new(pb.NodeFetchSocketsReply) },
	func() proto.Message { return new(pb.NodeSocketCommand) },
	func() proto.Message { return new(pb.NodeSession) },
	func() proto.Message { return new(pb.NodeSessionClaim) },
	func() proto.Message { return new(pb.NodeSessionClaimReply) },
	func() proto.Message { return new(pb.NodeQueueMark) },
	func() proto.Message { return new(pb.NodeQueueMarkAck) },
	func() proto.Message { return new(pb.NodeEventAck) },
	func() proto.Message { return new(pb.NodeLeaving) },
	func() proto.Message { return new(pb.NodeLeavingAck) },
	func() proto.Message { return new(pb.NodeEvent) },
	func() proto.Message { return new(pb.NodeRouteQuery) },
	func() proto.Message { return new(pb.NodeRouteReply) },
	func() proto.Message { return new(pb.NodeHandOver) },
	func() proto.Message { return new(pb.NodeHandOverReply) },
	func() proto.Message { return new(pb.NodeHandOverCancel) },
}

// linkTypeOf is the type byte of each message of linkTypes.
var linkTypeOf = func() map[protoreflect.FullName]byte {
	m := make(map[protoreflect.FullName]byte, len(linkTypes))
	for i, f := range linkTypes[1:] {
		m[f().ProtoReflect().Descriptor().FullName()] = byte(i + 1)
	}
	return m
}()

// errLinkFrame reports a frame a node cannot read: the link ends.
var errLinkFrame = errors.New("cluster link: bad frame")

// appendLinkFrame appends m as one frame to b; with b nil, in a buffer of
// the frame's size.
func appendLinkFrame(b []byte, m proto.Message) ([]byte, error) {
	frame, _, err := linkFrame(b, m, false)
	return frame, err
}

// appendLinkFrameHead is appendLinkFrame but for a body (bodyOf) over
// linkCopyMax bytes, which it returns, not copied, as tail: the frame is
// head then tail. An answer to a long-polling request handed over, as
// large as the session's queue, then goes on the link without a copy.
func appendLinkFrameHead(b []byte, m proto.Message) (head, tail []byte, err error) {
	return linkFrame(b, m, true)
}

// linkFrame appends m's frame to b, with b nil in a buffer of its size;
// split: a body over linkCopyMax is left out and returned as tail.
func linkFrame(b []byte, m proto.Message, split bool) (_, tail []byte, err error) {
	t := linkTypeOf[m.ProtoReflect().Descriptor().FullName()]
	if t == 0 {
		return b, nil, fmt.Errorf("cluster link: %T is not sent on links", m)
	}
	bp := bodyOf(m)
	var body []byte
	if bp != nil {
		body, *bp = *bp, nil
		defer func() { *bp = body }()
	}
	size := proto.Size(m)
	n := size
	if bp != nil {
		n += uvarintLen(size) + len(body)
	}
	split = split && len(body) > linkCopyMax
	if b == nil {
		c := 1 + uvarintLen(n) + n
		if split {
			c -= len(body)
		}
		b = make([]byte, 0, c)
	}
	b = append(b, t)
	b = binary.AppendUvarint(b, uint64(n))
	if bp != nil {
		b = binary.AppendUvarint(b, uint64(size))
	}
	b, err = proto.MarshalOptions{}.MarshalAppend(b, m)
	if err != nil {
		return b, nil, fmt.Errorf("cluster link: marshal %T: %w", m, err)
	}
	if split {
		return b, body, nil
	}
	return append(b, body...), nil, nil
}

// bodyOf returns the body field of m when m is a message whose body a
// frame carries after it rather than in it (the long-polling requests
// handed over and their answers): the frame holds the length of the
// message (uvarint), the message without its body, then the body, which
// is read as a part of the frame's buffer rather than copied out of it.
func bodyOf(m proto.Message) *[]byte {
	switch m := m.(type) {
	case *pb.NodeHandOver:
		return &m.Body
	case *pb.NodeHandOverReply:
		return &m.Body
	}
	return nil
}

// uvarintLen returns how many bytes x takes as a uvarint.
func uvarintLen(x int) int {
	n := 1
	for ; x >= 0x80; x >>= 7 {
		n++
	}
	return n
}

// readLinkFrame reads one frame from r; io.EOF when r ends between
// frames. A frame of a type past linkTypes, which a node of a newer build
// may send, is read and skipped: it returns nil and no error. A message
// whose body the frame carries after it (bodyOf) is read with its body in
// a buffer of its own (readWithBody): for an answer to a long-polling
// request handed over, a buffer from bufpool, which its reader may give
// back once done with it.
func readLinkFrame(r *bufio.Reader) (proto.Message, error) {
	t, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	if t == 0 {
		return nil, fmt.Errorf("%w: type 0", errLinkFrame)
	}
	if int(t) >= len(linkTypes) {
		if _, err := readSized(r, maxLinkFrame); err != nil {
			return nil, fmt.Errorf("%w: %w", errLinkFrame, err)
		}
		return nil, nil
	}
	m := linkTypes[t]()
	if bp := bodyOf(m); bp != nil {
		if err := readWithBody(r, m, bp, t == replyType); err != nil {
			return nil, fmt.Errorf("%w: %w", errLinkFrame, err)
		}
		return m, nil
	}
	buf, err := readSized(r, maxLinkFrame)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errLinkFrame, err)
	}
	if err := proto.Unmarshal(buf, m); err != nil {
		return nil, fmt.Errorf("%w: %w", errLinkFrame, err)
	}
	return m, nil
}

// replyType is the type byte of NodeHandOverReply, whose bodies
// readLinkFrame reads into buffers from bufpool.
var replyType = linkTypeOf[(*pb.NodeHandOverReply)(nil).ProtoReflect().Descriptor().FullName()]

// readWithBody reads the rest of a frame whose message m has its body
// after it (bodyOf; body is m's body field): the frame's length, the
// message's, the message, then the body, into a buffer of its own (none
// for an empty body), from bufpool when pooled. Nothing past the frame's
// length is read.
func readWithBody(r *bufio.Reader, m proto.Message, body *[]byte, pooled bool) error {
	n, err := readLength(r, maxLinkFrame)
	if err != nil {
		return err
	}
	f := frameBytes{r: r, left: n}
	size, err := binary.ReadUvarint(&f)
	switch {
	case err != nil:
		return fmt.Errorf("message length: %w", noEOF(err))
	case size > f.left:
		return errPastFrame
	}
	head := make([]byte, size)
	if _, err := io.ReadFull(r, head); err != nil {
		return fmt.Errorf("message: %w", noEOF(err))
	}
	if err := proto.Unmarshal(head, m); err != nil {
		return err
	}
	if rest := int(f.left - size); rest > 0 {
		var b []byte
		if pooled {
			b = bufpool.Get(rest)[:rest]
		} else {
			b = make([]byte, rest)
		}
		if _, err := io.ReadFull(r, b); err != nil {
			return fmt.Errorf("body: %w", noEOF(err))
		}
		*body = b
	}
	return nil
}

// errPastFrame is a message's length that goes past its frame.
var errPastFrame = errors.New("a message's length past its frame")

// frameBytes reads bytes of a frame, left of them at most.
type frameBytes struct {
	r    *bufio.Reader
	left uint64
}

func (f *frameBytes) ReadByte() (byte, error) {
	if f.left == 0 {
		return 0, errPastFrame
	}
	f.left--
	return f.r.ReadByte()
}

// readSized reads a length (uvarint) of at most max, then that many bytes:
// a frame's message, or a field of a link's hello. An end of input inside
// it is io.ErrUnexpectedEOF.
func readSized(r *bufio.Reader, max uint64) ([]byte, error) {
	n, err := readLength(r, max)
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("body: %w", noEOF(err))
	}
	return b, nil
}

// readLength reads a length (uvarint) of at most max.
func readLength(r *bufio.Reader, max uint64) (uint64, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return 0, fmt.Errorf("length: %w", noEOF(err))
	}
	if n > max {
		return 0, fmt.Errorf("%d bytes, at most %d", n, max)
	}
	return n, nil
}

// noEOF turns an end of input inside a frame into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// frameBuffered reports whether r holds a whole frame already read, so
// that reading it does not wait for the network.
func frameBuffered(r *bufio.Reader) bool {
	b, _ := r.Peek(r.Buffered())
	if len(b) < 2 {
		return false
	}
	n, k := binary.Uvarint(b[1:])
	return k > 0 && n <= uint64(len(b)-1-k)
}
