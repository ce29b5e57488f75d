package gateway

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/actorio/actorio/protocol/engineio"
	"github.com/gorilla/websocket"
)

// TestBatchFrames sends, in one batch, packets whose frames take each
// length encoding (7-bit, 16-bit, 64-bit), text and binary, in Engine.IO
// v4 and v3, and checks that a gorilla/websocket client reads each as
// writeFrame would have written it.
func TestBatchFrames(t *testing.T) {
	sizes := []int{0, 1, 124, 125, 126, 127, 65534, 65535, 65536, 70000}
	for _, v := range []struct {
		query  string
		binPre []byte // what a binary frame starts with
	}{
		{"EIO=4&transport=websocket", nil},
		{"EIO=3&transport=websocket", []byte{byte(engineio.Message)}},
	} {
		t.Run(v.query, func(t *testing.T) {
			e := startEnv(t, Config{AllowEIO3: true, MaxQueueBytes: 8 << 20})
			ws := e.dial(t, v.query)
			readText(t, ws) // open
			c := e.h.nextConn(t)
			var pkts []engineio.Packet
			for i, n := range sizes {
				data := bytes.Repeat([]byte{byte('a' + i)}, n)
				pkts = append(pkts, engineio.Packet{Type: engineio.Message, Data: data},
					engineio.Packet{Type: engineio.Message, Data: data, Binary: true})
			}
			if err := c.Send(pkts...); err != nil {
				t.Fatal(err)
			}
			_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			for i, p := range pkts {
				mt, got, err := ws.ReadMessage()
				if err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				wantType, want := websocket.TextMessage, append([]byte("4"), p.Data...)
				if p.Binary {
					wantType, want = websocket.BinaryMessage, append(append([]byte(nil), v.binPre...), p.Data...)
				}
				if mt != wantType || !bytes.Equal(got, want) {
					t.Fatalf("packet %d (%d bytes, binary %v): got type %d, %s", i, len(p.Data), p.Binary, mt, trim(got))
				}
			}
		})
	}
}

func trim(b []byte) string {
	if len(b) > 20 {
		return fmt.Sprintf("%q… (%d bytes)", b[:20], len(b))
	}
	return fmt.Sprintf("%q", b)
}
