package gateway

import (
	"testing"
	"unsafe"
)

// TestIdleConnectionSizes keeps what an idle WebSocket holds in the
// gateway within the allocator's size classes it fits today: each byte
// over a class costs the next class for every connection.
func TestIdleConnectionSizes(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("sizes are of 64-bit platforms")
	}
	tests := []struct {
		name      string
		size, max uintptr
	}{
		{"Conn", unsafe.Sizeof(Conn{}), 352},
		{"parkedReader", unsafe.Sizeof(parkedReader{}), 160},
		{"batchConn", unsafe.Sizeof(batchConn{}), 128},
	}
	for _, tt := range tests {
		if tt.size > tt.max {
			t.Errorf("%s is %d bytes, over its %d-byte size class: group the small fields", tt.name, tt.size, tt.max)
		}
	}
}
