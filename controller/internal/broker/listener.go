package broker

import (
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// trackingListener wraps the listener handed to mochi. mochi sets no
// deadline until a CONNECT has been read and does not know connections that
// have not sent one, so a silent TCP client would hold a goroutine forever
// and make Server.Close wait for it. This listener gives every new
// connection connectTimeout to get through CONNECT (mochi then replaces the
// deadline with the keepalive one) and closes all connections when the
// listener is closed.
//
// It also puts a packetGuard in front of mochi's decoder: mochi reads only
// bytes that make up whole packets the guard has checked, and a connection
// that sends anything else is closed where the bad packet starts.
type trackingListener struct {
	net.Listener
	connectTimeout time.Duration
	maxPacket      uint32
	log            *slog.Logger
	refused        atomic.Uint64

	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
}

func newTrackingListener(l net.Listener, connectTimeout time.Duration, maxPacket uint32, log *slog.Logger) *trackingListener {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &trackingListener{
		Listener: l, connectTimeout: connectTimeout, maxPacket: maxPacket, log: log,
		conns: make(map[*trackedConn]struct{}),
	}
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if l.connectTimeout > 0 {
		_ = c.SetDeadline(time.Now().Add(l.connectTimeout))
	}
	tc := &trackedConn{Conn: c, l: l, guard: packetGuard{maxPacket: l.maxPacket}}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	l.conns[tc] = struct{}{}
	return tc, nil
}

// Close stops accepting and closes every connection still open.
func (l *trackingListener) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	l.closed = true
	conns := l.conns
	l.conns = map[*trackedConn]struct{}{}
	l.mu.Unlock()
	for c := range conns {
		c.Conn.Close()
	}
	return err
}

// readChunk is how much trackedConn asks the network for at a time.
const readChunk = 4096

type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once

	// Read state; mochi reads a connection from one goroutine.
	guard   packetGuard
	buf     []byte // received and not yet handed to mochi
	checked int    // buf[:checked] is whole packets the guard passed
	refusal error  // set once the guard refuses buf[checked:]
	readErr error  // sticky error from the network
}

// Read hands mochi only whole packets the guard has passed. When the next
// packet is refused, mochi first gets the packets before it, then an error;
// the connection is closed and one line is logged with the reason (never
// the bytes: a CONNECT holds a password).
func (c *trackedConn) Read(p []byte) (int, error) {
	for c.checked == 0 {
		if c.refusal != nil {
			c.Close()
			return 0, c.refusal
		}
		if c.readErr != nil {
			return 0, c.readErr
		}
		if cap(c.buf)-len(c.buf) < readChunk {
			nb := make([]byte, len(c.buf), max(2*len(c.buf), len(c.buf)+readChunk))
			copy(nb, c.buf)
			c.buf = nb
		}
		n, err := c.Conn.Read(c.buf[len(c.buf):cap(c.buf)])
		c.buf = c.buf[:len(c.buf)+n]
		c.readErr = err
		c.check()
	}
	n := copy(p, c.buf[:c.checked])
	c.buf = c.buf[n:]
	c.checked -= n
	return n, nil
}

// check passes as many whole packets at the front of the unchecked bytes
// as it can, and records a refusal.
func (c *trackedConn) check() {
	for c.refusal == nil {
		n, err := c.guard.next(c.buf[c.checked:])
		if err != nil {
			c.refusal = fmt.Errorf("broker: connection refused: %w", err)
			c.l.refused.Add(1)
			c.l.log.Warn("mqtt client dropped", "remote", c.Conn.RemoteAddr().String(), "reason", err.Error())
			return
		}
		if n == 0 {
			return
		}
		c.checked += n
	}
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
