// Package trigger brings local trigger events — the counter's "large
// transfer" button, a PIR sensor, a teller's till — to the agent's
// players. Sources call a Firer: the GPIO driver directly, other local
// software through a small HTTP listener (POST /trigger/{name}) that only
// listens on loopback unless told otherwise.
package trigger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"sync"
	"time"
)

// Firer receives trigger events. Fire reports whether anything is bound
// to name; it must not block for long (the daemon queues the play and
// interrupts the current one).
type Firer interface {
	Fire(name string) bool
}

// FirerFunc adapts a function to Firer.
type FirerFunc func(name string) bool

// Fire calls f.
func (f FirerFunc) Fire(name string) bool { return f(name) }

var validName = regexp.MustCompile(`^[a-z0-9-]{1,40}$`)

// ValidName reports whether name is a trigger name: 1–40 of a-z, 0-9, '-'.
func ValidName(name string) bool { return validName.MatchString(name) }

// Options configure the HTTP listener.
type Options struct {
	// Addr is host:port to listen on; "" disables the listener.
	Addr string
	// AllowRemote permits a non-loopback Addr. The listener has no
	// authentication: anyone who can reach it can make the signs speak.
	AllowRemote bool
}

// DefaultOpts listens on loopback only.
var DefaultOpts = Options{Addr: "127.0.0.1:8787"}

// ErrRemote refuses a non-loopback address without AllowRemote.
var ErrRemote = errors.New("trigger listener: refusing a non-loopback address without --trigger-allow-remote")

// Server is the HTTP trigger listener.
type Server struct {
	o    Options
	f    Firer
	log  *slog.Logger
	h    http.Handler
	mu   sync.Mutex
	addr string
}

// NewServer checks o and prepares a listener that fires f. A nil log
// discards.
func NewServer(o Options, f Firer, log *slog.Logger) (*Server, error) {
	if f == nil {
		return nil, errors.New("trigger listener: no firer")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Addr != "" {
		host, _, err := net.SplitHostPort(o.Addr)
		if err != nil {
			return nil, fmt.Errorf("trigger listener %q: %w", o.Addr, err)
		}
		if !o.AllowRemote && !loopback(host) {
			return nil, fmt.Errorf("%w: %q", ErrRemote, o.Addr)
		}
	}
	s := &Server{o: o, f: f, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /trigger/{name}", s.fire)
	s.h = mux
	return s, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Handler serves POST /trigger/{name}: 202 when something is bound to
// name, 404 when nothing is, 400 for a malformed name.
func (s *Server) Handler() http.Handler { return s.h }

func (s *Server) fire(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !ValidName(name) {
		http.Error(w, "trigger name: want 1-40 of a-z, 0-9 and -", http.StatusBadRequest)
		return
	}
	if !s.f.Fire(name) {
		http.Error(w, "no schedule entry is bound to trigger "+name, http.StatusNotFound)
		return
	}
	s.log.Info("trigger", "name", name, "from", r.RemoteAddr)
	w.WriteHeader(http.StatusAccepted)
}

// Enabled reports whether a listen address is configured.
func (s *Server) Enabled() bool { return s.o.Addr != "" }

// Addr is the address listened on, once Run has bound it.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Run listens and serves until ctx ends. It returns at once, with nil,
// when no address is configured.
func (s *Server) Run(ctx context.Context) error {
	if s.o.Addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.o.Addr)
	if err != nil {
		return fmt.Errorf("trigger listener: %w", err)
	}
	s.mu.Lock()
	s.addr = ln.Addr().String()
	s.mu.Unlock()
	srv := &http.Server{
		Handler:           s.h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("trigger listener: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-errc
	return nil
}
