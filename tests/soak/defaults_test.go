package soak

import (
	"context"
	"flag"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorio/actorio"
)

var (
	flagDefaultsClients  = flag.Int("soak.defaults.clients", 300, "number of clients of TestSoakDefaults")
	flagDefaultsDuration = flag.Duration("soak.defaults.duration", 2*time.Minute, "how long the clients of TestSoakDefaults chat in bursts and idle")
)

// The chat of TestSoakDefaults goes in cycles, the same for every client:
// a burst of chat, then silence everywhere, then an acknowledged event
// from every client. The silence is longer than the server's WriteTimeout
// and UpgradeTimeout (10 s) and shorter than its PingInterval (25 s): an
// ack is the server's first write to a connection in 14 s or more, unless
// a ping came in between.
const (
	burstFor  = 3 * time.Second
	quietFor  = 14 * time.Second
	ackSpread = 500 * time.Millisecond // acks start spread over this
	cycleFor  = burstFor + quietFor + time.Second
	burstRate = 2.0 // chat messages per second of a chatting client in a burst
	// ackWait bounds the wait for one ack, under -race on two cores with
	// every client acking at once.
	ackWait = 10 * time.Second
)

// phasedChat is the cycle above; its counters are checked after the run.
type phasedChat struct {
	rooms int
	once  sync.Once
	t0    time.Time

	asked, acked atomic.Int64
}

// Roles, from the client's index and room. Rooms r with r%4 == 3 are
// quiet: no one chats there, so their clients only get pings and the
// answers to their own acked events. Elsewhere one client in three only
// listens. One client in five (all rooms) is a sleeper: it sends its acked
// event only every third cycle, so that it stays silent, but for pings,
// for longer than PingInterval + PingTimeout (45 s).
func (p *phasedChat) quiet(c *soakClient) bool   { return c.room%4 == 3 }
func (p *phasedChat) chatter(c *soakClient) bool { return !p.quiet(c) && (c.idx/10)%3 != 2 }
func (p *phasedChat) sleeper(c *soakClient) bool { return (c.idx/10)%5 == 4 }

// chat runs the cycles for c until ctx ends.
func (p *phasedChat) chat(ctx context.Context, c *soakClient) {
	p.once.Do(func() { p.t0 = time.Now() })
	for k := 0; ; k++ {
		cycle := p.t0.Add(time.Duration(k) * cycleFor)
		if p.chatter(c) {
			p.burst(ctx, c, cycle, cycle.Add(burstFor))
		}
		if !sleepUntil(ctx, cycle.Add(burstFor+quietFor+rand.N(ackSpread))) {
			return
		}
		if p.sleeper(c) && k%3 != 0 {
			continue
		}
		p.asked.Add(1)
		actx, cancel := context.WithTimeout(context.Background(), ackWait)
		_, err := c.sock.EmitWithAck(actx, "sync")
		cancel()
		if err != nil {
			c.fail("acked event of cycle %d, after %v of silence: %v", k, quietFor, err)
			continue
		}
		p.acked.Add(1)
	}
}

// burst sends chat messages at burstRate from a random phase between from
// and to, numbered as chat numbers them.
func (p *phasedChat) burst(ctx context.Context, c *soakClient, from, to time.Time) {
	period := time.Duration(float64(time.Second) / burstRate)
	for at := from.Add(rand.N(period)); at.Before(to); at = at.Add(period) {
		if !sleepUntil(ctx, at) {
			return
		}
		m := chatMsg{Room: c.room, From: c.idx, Seq: c.nextSeq, Sent: time.Now().UnixNano()}
		if err := c.sock.Emit("chat", m); err != nil {
			c.fail("emit chat %d: %v", m.Seq, err)
			return
		}
		c.nextSeq++
	}
}

// sleepUntil waits until at, or returns false when ctx ends first.
func sleepUntil(ctx context.Context, at time.Time) bool {
	timer := time.NewTimer(time.Until(at))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// TestSoakDefaults is the soak with the server and the clients at their
// shipped defaults (PingInterval 25 s, PingTimeout 20 s, ConnectTimeout
// 45 s, WriteTimeout and UpgradeTimeout 10 s; the Go client's Timeout and
// reconnection delays), for minutes: bursts of chat, silences longer than
// every internal timeout but the heartbeat's, acked events after each
// silence, quiet rooms and sleepers. No client drops: none may be
// disconnected, every ack and every room message must arrive, and memory
// and goroutines are checked as in every soak. By default 300 clients for
// 2 minutes (about 2.5 minutes in all under -race on two cores).
func TestSoakDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("minutes long")
	}
	n := *flagDefaultsClients
	p := &phasedChat{rooms: max(1, n/20)}
	cfg := config{
		clients:        n,
		rooms:          p.rooms,
		duration:       *flagDefaultsDuration,
		rate:           burstRate,
		dropEvery:      *flagDefaultsDuration,
		server:         actorio.Options{},
		clientDefaults: true,
		chat:           p.chat,
	}
	if cfg.clients < 2 || cfg.duration < cycleFor {
		t.Fatalf("bad flags: %d clients for %v (at least one cycle, %v)", cfg.clients, cfg.duration, cycleFor)
	}
	runSoak(t, cfg)
	asked, acked := p.asked.Load(), p.acked.Load()
	t.Logf("soak at defaults: %d acked events after %v of silence, %d acknowledged", asked, quietFor, acked)
	if asked == 0 || acked != asked {
		t.Errorf("%d acked events sent, %d acknowledged: want all, and some", asked, acked)
	}
}
