package actors

import (
	"testing"
	"time"

	pb "github.com/actorio/actorio/proto"
)

// A namespace keeps the newest state of another node's session: a later
// version replaces it, an older one or a "gone" of an older generation
// does not, and a "gone" of its own generation forgets it.
func TestReceiveSessionKeepsNewest(t *testing.T) {
	state := func(version uint64, member string, gone bool) *pb.NodeSession {
		return &pb.NodeSession{Pid: "p1", Sid: "s1", Version: version, MemberId: member, Gone: gone}
	}
	for _, tc := range []struct {
		name string
		in   []*pb.NodeSession
		want uint64 // version kept, 0 for none
	}{
		{"first state", []*pb.NodeSession{state(generation(1)+1, "B", false)}, generation(1) + 1},
		{"newer replaces", []*pb.NodeSession{state(generation(1)+1, "B", false), state(generation(1)+2, "B", false)}, generation(1) + 2},
		{"older is ignored", []*pb.NodeSession{state(generation(1)+2, "B", false), state(generation(1)+1, "B", false)}, generation(1) + 2},
		{"gone forgets", []*pb.NodeSession{state(generation(1)+1, "B", false), state(generation(1)+2, "B", true)}, 0},
		{"a new generation on another node wins", []*pb.NodeSession{state(generation(1)+5, "B", false), state(generation(2)+1, "C", false)}, generation(2) + 1},
		{"its old node's late states lose", []*pb.NodeSession{state(generation(2)+1, "C", false), state(generation(1)+6, "B", false), state(generation(1)+7, "B", true)}, generation(2) + 1},
		{"gone of an unknown session", []*pb.NodeSession{state(generation(1)+1, "B", true)}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNamespace("/", nil, nil, NamespaceOptions{})
			ns.log = newPacketLog(Recovery{MaxDisconnectionDuration: time.Minute})
			for _, s := range tc.in {
				ns.ReceiveSession(s)
			}
			got := uint64(0)
			if r := ns.log.replicas["p1"]; r != nil {
				got = r.Version
			}
			if got != tc.want {
				t.Errorf("kept version %#x, want %#x", got, tc.want)
			}
		})
	}
	// A session restored here ignores what other nodes say of it.
	ns := newNamespace("/", nil, nil, NamespaceOptions{})
	ns.log = newPacketLog(Recovery{MaxDisconnectionDuration: time.Minute})
	p := newSocketRef("s1", ns, nil)
	p.rec = &socketRecovery{privateID: "p1"}
	ns.refs["s1"] = p
	ns.ReceiveSession(state(generation(1)+1, "B", false))
	if n := ns.ReplicaCount(); n != 0 {
		t.Errorf("%d replicas of a session held here", n)
	}
}

// A replica whose node left the cluster starts waiting for its client
// then, and expires MaxDisconnectionDuration later; one whose node is
// alive stays.
func TestReplicasExpire(t *testing.T) {
	l := newPacketLog(Recovery{MaxDisconnectionDuration: time.Minute})
	now := time.Now()
	l.replicas["alive"] = &pb.NodeSession{Pid: "alive", MemberId: "A"}
	l.replicas["dead"] = &pb.NodeSession{Pid: "dead", MemberId: "D"}
	l.replicas["ended"] = &pb.NodeSession{Pid: "ended", MemberId: "A", EndedAtMs: now.Add(-2 * time.Minute).UnixMilli()}
	alive := func(m string) bool { return m == "A" }
	l.expire(now, alive)
	if _, ok := l.replicas["ended"]; ok {
		t.Error("a replica ended 2 minutes ago is kept")
	}
	if r := l.replicas["dead"]; r == nil || r.EndedAtMs != now.UnixMilli() {
		t.Errorf("the replica of a dead node: %v, want kept and ended now", r)
	}
	l.expire(now.Add(61*time.Second), alive)
	if _, ok := l.replicas["dead"]; ok {
		t.Error("the replica of a dead node outlives MaxDisconnectionDuration")
	}
	if _, ok := l.replicas["alive"]; !ok {
		t.Error("the replica of a connected socket of a node alive expired")
	}
}
