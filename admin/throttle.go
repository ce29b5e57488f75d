package admin

import (
	"net/netip"
	"sync"
	"time"
)

// DefaultLoginPenalty is how long, by default, an address that used up
// its LoginBurst failed logins waits for each further password check.
const DefaultLoginPenalty = 2 * time.Second

// LoginBurst is how many failed logins in a row an address may make
// before it is throttled to one password check per LoginPenalty.
const LoginBurst = 5

// maxThrottledAddresses caps the throttle's table of addresses; beyond it
// the addresses that are no longer throttled are forgotten first, then any.
const maxThrottledAddresses = 10000

// maxQueuedChecks bounds the logins waiting for the password checker
// (one bcrypt comparison at a time); a login beyond it is refused at once.
const maxQueuedChecks = 16

// loginThrottle limits the password checks of each remote address with a
// token bucket: LoginBurst checks, a failed login spends one, and one
// comes back every penalty. Its memory is bounded: an address whose bucket
// is full again is the same as an unknown one and is forgotten.
type loginThrottle struct {
	penalty time.Duration // negative: no throttle
	burst   float64
	max     int

	mu        sync.Mutex
	addrs     map[string]*bucket
	lastSweep time.Time
}

// bucket is the checks an address has left, as of at.
type bucket struct {
	tokens float64
	at     time.Time
}

func newLoginThrottle(penalty time.Duration) *loginThrottle {
	return &loginThrottle{penalty: penalty, burst: LoginBurst, max: maxThrottledAddresses, addrs: map[string]*bucket{}}
}

// take spends one password check of addr; false when addr has none left.
func (t *loginThrottle) take(addr string, now time.Time) bool {
	if t.penalty < 0 {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Sub(t.lastSweep) >= t.refillTime() {
		t.sweepLocked(now)
	}
	b := t.addrs[addr]
	if b == nil {
		if len(t.addrs) >= t.max {
			t.makeRoomLocked(now)
		}
		b = &bucket{tokens: t.burst, at: now}
		t.addrs[addr] = b
	} else {
		t.refillLocked(b, now)
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// refund gives back the check take spent for a login whose password was
// not checked after all.
func (t *loginThrottle) refund(addr string, now time.Time) {
	if t.penalty < 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if b := t.addrs[addr]; b != nil {
		t.refillLocked(b, now)
		b.tokens = min(b.tokens+1, t.burst)
	}
}

// forget clears addr after a successful login: its earlier failures no
// longer count.
func (t *loginThrottle) forget(addr string) {
	if t.penalty < 0 {
		return
	}
	t.mu.Lock()
	delete(t.addrs, addr)
	t.mu.Unlock()
}

// size returns how many addresses the throttle remembers.
func (t *loginThrottle) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.addrs)
}

// refillTime is how long an empty bucket takes to fill up.
func (t *loginThrottle) refillTime() time.Duration {
	return time.Duration(t.burst * float64(t.penalty))
}

func (t *loginThrottle) refillLocked(b *bucket, now time.Time) {
	if t.penalty <= 0 {
		b.tokens, b.at = t.burst, now
		return
	}
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(b.tokens+float64(d)/float64(t.penalty), t.burst)
		b.at = now
	}
}

// sweepLocked forgets the addresses whose bucket is full again.
func (t *loginThrottle) sweepLocked(now time.Time) {
	t.lastSweep = now
	for addr, b := range t.addrs {
		t.refillLocked(b, now)
		if b.tokens >= t.burst {
			delete(t.addrs, addr)
		}
	}
}

// makeRoomLocked frees a place in a full table: by a sweep, at most once
// per penalty, else by forgetting an address picked at random (map order),
// which at worst gives that address its burst back.
func (t *loginThrottle) makeRoomLocked(now time.Time) {
	if now.Sub(t.lastSweep) >= t.penalty {
		t.sweepLocked(now)
	}
	for addr := range t.addrs {
		if len(t.addrs) < t.max {
			return
		}
		delete(t.addrs, addr)
	}
}

// throttleKey is the part of a remote address ("ip:port") that the
// throttle counts by: the IPv4 address, or the /64 prefix of an IPv6
// address (what one host usually holds); the whole string when it is not
// an IP address and port.
func throttleKey(remote string) string {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		if a, err := netip.ParseAddr(remote); err == nil {
			ap = netip.AddrPortFrom(a, 0)
		} else {
			return remote
		}
	}
	a := ap.Addr().Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return a.String()
	}
	return p.String()
}
