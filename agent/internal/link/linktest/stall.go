package linktest

import (
	"net"
	"sync"
	"testing"
)

// StallProxy forwards TCP connections to a broker until Stall is called;
// from then on it forwards nothing in either direction and reads nothing,
// but keeps every socket open: a half-open or wedged network path, which
// the agent can only notice by its own deadlines and keepalive.
type StallProxy struct {
	Addr string // host:port to dial instead of the broker
	// Accepted receives a value for each connection accepted (it drops
	// them when nobody reads).
	Accepted chan struct{}

	ln      net.Listener
	target  string
	stalled chan struct{}
	once    sync.Once
	mu      sync.Mutex
	conns   []net.Conn
	wg      sync.WaitGroup
}

// NewStallProxy listens on loopback and forwards to target (host:port).
// With stalled set it stalls from the first byte: connections are
// accepted and never answered. Everything is closed when the test ends.
func NewStallProxy(t testing.TB, target string, stalled bool) *StallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &StallProxy{Addr: ln.Addr().String(), ln: ln, target: target, stalled: make(chan struct{}), Accepted: make(chan struct{}, 16)}
	if stalled {
		p.Stall()
	}
	t.Cleanup(p.Close)
	p.wg.Go(p.accept)
	return p
}

// Stall stops all forwarding, keeping the sockets open.
func (p *StallProxy) Stall() { p.once.Do(func() { close(p.stalled) }) }

// Close closes the listener and every connection and waits for the
// proxy's goroutines.
func (p *StallProxy) Close() {
	p.ln.Close()
	p.Stall()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *StallProxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

func (p *StallProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(c)
		select {
		case p.Accepted <- struct{}{}:
		default:
		}
		select {
		case <-p.stalled:
			continue // accepted, never answered
		default:
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.track(u)
		p.wg.Go(func() { p.pipe(u, c) })
		p.wg.Go(func() { p.pipe(c, u) })
	}
}

// pipe copies from src to dst until the proxy stalls; then it stops
// reading and writing but leaves both sockets open.
func (p *StallProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-p.stalled:
			return
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}
