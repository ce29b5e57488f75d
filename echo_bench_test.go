package actorio_test

import (
	"bufio"
	"fmt"
	"strings"
	"testing"

	"github.com/actorio/actorio"
)

// BenchmarkEcho measures the inbound path end to end, as cmd/bench's echo
// scenario drives it: a client sends an event with an ack id, the
// server's handler acks with the event's arguments, and one op is one ack
// read back. The client writes prebuilt frames and parses the answers in
// place, so the allocations reported are the server's.
//
//	go test -run '^$' -bench Echo -benchmem .
func BenchmarkEcho(b *testing.B) {
	_, url := benchServer(b, func(s *actorio.Socket) {
		s.On("echo", func(s *actorio.Socket, args actorio.Args, ack actorio.AckFunc) {
			if ack != nil {
				_ = ack(args.Values()...)
			}
		})
	})
	ws := benchJoin(b, url)
	// From here on the connection is read and written raw.
	c := ws.NetConn()
	b.Cleanup(func() { _ = c.Close() })

	for _, size := range []int{16, 256} {
		b.Run(fmt.Sprintf("bytes=%d", size), func(b *testing.B) {
			// benchBatch echoes in flight, each with its own ack id.
			frames := make([][]byte, benchBatch)
			for i := range frames {
				frames[i] = clientTextFrame(fmt.Sprintf(`42%d["echo",%q]`, 100+i, strings.Repeat("x", size)))
			}
			r := bufio.NewReaderSize(c, 64<<10)
			var batch []byte
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += benchBatch {
				k := min(benchBatch, b.N-i)
				batch = batch[:0]
				for j := range k {
					batch = append(batch, frames[j]...)
				}
				if _, err := c.Write(batch); err != nil {
					b.Fatal(err)
				}
				for range k {
					if err := readAck(r); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// clientTextFrame returns payload as one masked text frame, its mask all
// zeros (the payload needs no masking then), as a client must send it.
func clientTextFrame(payload string) []byte {
	f := []byte{0x81}
	switch n := len(payload); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	default:
		f = append(f, 0x80|126, byte(n>>8), byte(n))
	}
	f = append(f, 0, 0, 0, 0)
	return append(f, payload...)
}

// readAck reads one unmasked server frame and checks that it is an ack.
func readAck(r *bufio.Reader) error {
	h, err := r.Peek(2)
	if err != nil {
		return err
	}
	n, skip := int(h[1]&0x7f), 2
	switch n {
	case 126:
		ext, err := r.Peek(4)
		if err != nil {
			return err
		}
		n, skip = int(ext[2])<<8|int(ext[3]), 4
	case 127:
		return fmt.Errorf("frame too large for the benchmark")
	}
	if h[0] != 0x81 {
		return fmt.Errorf("frame %#x, want a final text frame", h[0])
	}
	if _, err := r.Discard(skip); err != nil {
		return err
	}
	p, err := r.Peek(min(n, 2))
	if err != nil {
		return err
	}
	if string(p) != "43" {
		return fmt.Errorf("frame %q, want an ack", p)
	}
	_, err = r.Discard(n)
	return err
}
