// Package printertest is what the fake printers of escpostest and
// tspltest share besides the protocol: Server, which listens on loopback
// TCP like a printer's port 9100, serves each connection (or any stream
// attached to it, such as a pty master) with the fake's own parser, keeps
// track of the open connections and wakes waiters when something
// changed; and Golden, the golden-file check behind the drivers' -update
// flag.
package printertest

import (
	"context"
	"io"
	"net"
	"sync"
)

// Server runs a fake printer's connections. The fake's own state has its
// own lock; the fake calls Notify after each change to it, and Wait
// evaluates its condition only after taking the channel Notify closes, so
// no change is missed.
type Server struct {
	serve func(io.ReadWriter) error
	ln    net.Listener
	wg    sync.WaitGroup

	mu      sync.Mutex
	conns   map[io.Closer]bool
	closed  bool
	changed chan struct{}
}

// NewServer returns a server that serves nothing until Listen or Attach;
// serve parses one stream and answers on it until a read fails.
func NewServer(serve func(io.ReadWriter) error) *Server {
	return &Server{serve: serve, conns: map[io.Closer]bool{}, changed: make(chan struct{})}
}

// Listen starts listening on 127.0.0.1 on a free port and serving every
// connection accepted there.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.ln = ln
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil || !s.Attach(c) {
				return
			}
		}
	}()
	return nil
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Attach serves rwc (a TCP connection, a pty master) until its reads fail;
// Close closes it. It returns false if the server is already closed.
func (s *Server) Attach(rwc io.ReadWriteCloser) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = rwc.Close()
		return false
	}
	s.conns[rwc] = true
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		_ = s.serve(rwc)
		_ = rwc.Close()
		s.mu.Lock()
		delete(s.conns, rwc)
		s.notifyLocked()
		s.mu.Unlock()
	}()
	return true
}

// Notify wakes everything waiting for a change.
func (s *Server) Notify() {
	s.mu.Lock()
	s.notifyLocked()
	s.mu.Unlock()
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Wait blocks until cond holds or ctx ends; it returns ctx's error then.
// cond is evaluated again after every Notify.
func (s *Server) Wait(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// HangUp closes every open connection, as a network printer does with an
// idle one, and waits until they are served no more. Listening goes on.
func (s *Server) HangUp() {
	s.mu.Lock()
	var cs []io.Closer
	for c := range s.conns {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		_ = c.Close()
	}
	for {
		s.mu.Lock()
		n, ch := len(s.conns), s.changed
		s.mu.Unlock()
		if n == 0 {
			return
		}
		<-ch
	}
}

// Close stops listening, closes every connection and waits for them.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	var err error
	if s.ln != nil {
		err = s.ln.Close()
	}
	s.wg.Wait()
	return err
}

// Pump is a fake's serve loop: it reads rw until a read fails and returns
// that error (io.EOF when the driver hung up). Each read is given to feed,
// which parses a prefix of what it is given and says how long it was (a
// fake cuts a read where a scripted state change is due), until all of it
// is parsed; then what reply returns, the answers to what was parsed, is
// written back.
func Pump(rw io.ReadWriter, feed func([]byte) int, reply func() []byte) error {
	buf := make([]byte, 4096)
	for {
		n, err := rw.Read(buf)
		for b := buf[:n]; len(b) > 0; {
			b = b[feed(b):]
		}
		if out := reply(); len(out) > 0 {
			if _, werr := rw.Write(out); werr != nil && err == nil {
				err = werr
			}
		}
		if err != nil {
			return err
		}
	}
}
