package bufpool

import (
	"strconv"
	"testing"
)

// TestClasses: Get returns a buffer of the smallest class that holds n
// bytes, or exactly n outside the classes, and a buffer of a class put
// back comes out of that class again.
func TestClasses(t *testing.T) {
	tests := []struct {
		n, wantCap int
		pooled     bool
	}{
		{0, 0, false},
		{1, 1, false},
		{256, 256, false},
		{257, 512, true},
		{512, 512, true},
		{513, 1024, true},
		{70_000, 128 << 10, true},
		{1 << 20, 1 << 20, true},
		{1<<20 + 1, 1<<20 + 1, false},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.n), func(t *testing.T) {
			b := Get(tt.n)
			if len(b) != 0 || cap(b) != tt.wantCap {
				t.Fatalf("Get(%d): len %d cap %d, want 0 and %d", tt.n, len(b), cap(b), tt.wantCap)
			}
			Put(append(b, 'x'))
			if !tt.pooled {
				return
			}
			// A pool may drop what it holds at any time: look a few times.
			for range 100 {
				if got := Get(tt.n); cap(got) == tt.wantCap && len(got) == 0 && &got[:1][0] == &b[:1][0] {
					return
				}
				Put(b)
			}
			t.Errorf("a buffer of %d bytes put back never came out of its class again", tt.wantCap)
		})
	}
}

// TestPutOutsideClasses: a buffer whose capacity is not a class's is not
// pooled, so that no Get of any class returns it.
func TestPutOutsideClasses(t *testing.T) {
	for _, c := range []int{600, 1<<MinShift - 1, 1<<MaxShift + 1, 3 << 10} {
		b := make([]byte, 0, c)
		Put(b)
		for range 20 {
			for k := MinShift; k <= MaxShift; k++ {
				if got := Get(1 << k); &got[:1][0] == &b[:1][0] {
					t.Fatalf("a buffer of capacity %d came out of the class of %d bytes", c, 1<<k)
				}
			}
		}
	}
}
