package actors

// The inbound bound of a connection (gateway.Conn.Hold and Release) counts
// each event the inbound route (inbound.go) hands to a socket actor until
// the actor is done with it. The count is kept on the event's SocketRef too, so
// that what the actor never handles (protoactor drops its mailbox when it
// stops) is given back when it stops, once. Other packets (CONNECT,
// DISCONNECT, ACK) are handled before the next is read and hold nothing.

// packetCost is what one inbound packet counts against the bound.
func packetCost(data []byte, atts [][]byte) int64 {
	n := int64(len(data))
	for _, a := range atts {
		n += int64(len(a))
	}
	return n
}

// admit counts an event of n bytes on its way to the socket actor, on
// the SocketRef and on the connection, and reports whether it may be sent:
// false once the actor has stopped.
func (p *SocketRef) admit(n int64) bool {
	p.inMu.Lock()
	defer p.inMu.Unlock()
	if p.inClosed {
		return false
	}
	p.inBytes += n
	p.inPackets++
	p.conn.Hold(n)
	return true
}

// handled gives back the hold of an event of n bytes the socket actor is
// done with.
func (p *SocketRef) handled(n int64) {
	p.inMu.Lock()
	if p.inClosed {
		p.inMu.Unlock()
		return
	}
	p.inBytes -= n
	p.inPackets--
	p.inMu.Unlock()
	p.conn.Release(n, 1)
}

// closeInflow gives back what the stopped socket actor will never handle;
// later events are not admitted.
func (p *SocketRef) closeInflow() {
	p.inMu.Lock()
	n, k := p.inBytes, p.inPackets
	p.inBytes, p.inPackets, p.inClosed = 0, 0, true
	p.inMu.Unlock()
	if k > 0 || n > 0 {
		p.conn.Release(n, k)
	}
}
