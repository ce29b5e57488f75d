package cluster

import "testing"

// TestAwaitRecheck: a call counts the nodes reachable (await), then
// registers its waiter; a node whose connection was lost in between was
// announced only to the waiters registered then, so recheck, after the
// registration, stops waiting for it. The wait ends once no node is
// awaited any more.
func TestAwaitRecheck(t *testing.T) {
	peers := []peer{{id: "a", addr: "10.0.0.1:7001"}, {id: "b", addr: "10.0.0.2:7001"}, {id: "c", addr: "10.0.0.3:7001"}}
	tests := []struct {
		name     string
		lost     []string // addresses lost between await and recheck
		wantLost int
		wantDone bool
	}{
		{"none lost", nil, 0, false},
		{"one lost", []string{"10.0.0.2:7001"}, 1, false},
		{"all lost", []string{"10.0.0.1:7001", "10.0.0.2:7001", "10.0.0.3:7001"}, 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			down := map[string]bool{}
			reachable := func(addr string) bool { return !down[addr] }
			var w awaiting
			w.await(peers, reachable)
			for _, addr := range tt.lost {
				down[addr] = true
			}
			w.recheck(peers, reachable)
			done := false
			select {
			case <-w.done:
				done = true
			default:
			}
			if w.lost != tt.wantLost || done != tt.wantDone || len(w.want) != len(peers)-tt.wantLost {
				t.Errorf("lost %d, done %v, awaited %d; want %d, %v, %d", w.lost, done, len(w.want), tt.wantLost, tt.wantDone, len(peers)-tt.wantLost)
			}
			// A node lost once counts once: an announcement that comes
			// after recheck changes nothing.
			w.lose([]string{"b"})
			if tt.wantLost > 0 && w.lost != tt.wantLost {
				t.Errorf("after a second loss of b: lost %d, want %d", w.lost, tt.wantLost)
			}
		})
	}
}
