package broker

import (
	"net"
	"sync"
	"time"
)

// trackingListener wraps the TCP listener handed to mochi. mochi sets no
// deadline until a CONNECT has been read and does not know connections that
// have not sent one, so a silent TCP client would hold a goroutine forever
// and make Server.Close wait for it. This listener gives every new
// connection connectTimeout to get through CONNECT (mochi then replaces the
// deadline with the keepalive one) and closes all connections when the
// listener is closed.
type trackingListener struct {
	net.Listener
	connectTimeout time.Duration

	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
}

func newTrackingListener(l net.Listener, connectTimeout time.Duration) *trackingListener {
	return &trackingListener{Listener: l, connectTimeout: connectTimeout, conns: make(map[*trackedConn]struct{})}
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if l.connectTimeout > 0 {
		_ = c.SetDeadline(time.Now().Add(l.connectTimeout))
	}
	tc := &trackedConn{Conn: c, l: l}
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

type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
