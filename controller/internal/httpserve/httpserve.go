// Package httpserve runs the controller's HTTP servers with limits a
// public-facing listener needs: a slow or stalled client is cut off, a
// request body is bounded, and a large media download may take as long as
// it needs as long as it keeps moving.
//
// net/http's WriteTimeout is one deadline for a whole response, which
// cannot fit both a JSON answer (seconds) and a 200 MB clip to an agent on
// a slow link (many minutes). So the server-wide WriteTimeout stays short,
// and under Options.StreamPrefixes each write instead pushes the deadline
// StallTimeout ahead (with http.ResponseController): a download fails only
// when it stops moving.
package httpserve

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

// Options are the server's limits. Zero fields take DefaultOptions' value.
type Options struct {
	ReadHeaderTimeout time.Duration `json:"read_header_timeout"` // request line and headers
	ReadTimeout       time.Duration `json:"read_timeout"`        // the whole request, body included
	WriteTimeout      time.Duration `json:"write_timeout"`       // a whole response, outside StreamPrefixes
	IdleTimeout       time.Duration `json:"idle_timeout"`        // keep-alive between requests
	MaxHeaderBytes    int           `json:"max_header_bytes"`
	MaxBodyBytes      int64         `json:"max_body_bytes"` // every request body, outside UploadPrefixes

	// StreamPrefixes are paths whose responses may be large (media by
	// sha256): there the write deadline is StallTimeout after the latest
	// write rather than WriteTimeout after the request.
	StreamPrefixes []string      `json:"stream_prefixes"`
	StallTimeout   time.Duration `json:"stall_timeout"`

	// UploadPrefixes are paths that take large bodies: there the body may
	// be MaxUploadBytes and reading it may take UploadReadTimeout.
	UploadPrefixes    []string      `json:"upload_prefixes"`
	MaxUploadBytes    int64         `json:"max_upload_bytes"`
	UploadReadTimeout time.Duration `json:"upload_read_timeout"`

	ShutdownTimeout time.Duration `json:"shutdown_timeout"` // for in-flight requests on cancel
}

// DefaultOptions are the limits the controller runs with.
var DefaultOptions = Options{
	ReadHeaderTimeout: 10 * time.Second,
	ReadTimeout:       30 * time.Second,
	WriteTimeout:      2 * time.Minute, // a 31-day preview is computed before its first byte
	IdleTimeout:       2 * time.Minute,
	MaxHeaderBytes:    64 << 10,
	MaxBodyBytes:      1 << 20,
	StreamPrefixes:    []string{"/media/"},
	StallTimeout:      time.Minute,
	UploadPrefixes:    []string{"/api/media"},
	MaxUploadBytes:    201 << 20, // media.MaxSize (200 MiB) and a margin; the library refuses more anyway
	UploadReadTimeout: 30 * time.Minute,
	ShutdownTimeout:   5 * time.Second,
}

// withDefaults fills zero fields from DefaultOptions. Prefix lists are
// taken as given when non-nil, so an empty list means "none".
func (o Options) withDefaults() Options {
	d := DefaultOptions
	or := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	or(&o.ReadHeaderTimeout, d.ReadHeaderTimeout)
	or(&o.ReadTimeout, d.ReadTimeout)
	or(&o.WriteTimeout, d.WriteTimeout)
	or(&o.IdleTimeout, d.IdleTimeout)
	or(&o.StallTimeout, d.StallTimeout)
	or(&o.UploadReadTimeout, d.UploadReadTimeout)
	or(&o.ShutdownTimeout, d.ShutdownTimeout)
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = d.MaxBodyBytes
	}
	if o.MaxUploadBytes <= 0 {
		o.MaxUploadBytes = d.MaxUploadBytes
	}
	if o.StreamPrefixes == nil {
		o.StreamPrefixes = d.StreamPrefixes
	}
	if o.UploadPrefixes == nil {
		o.UploadPrefixes = d.UploadPrefixes
	}
	return o
}

// Serve runs h on ln with opts until ctx is cancelled; then it stops
// accepting, gives in-flight requests ShutdownTimeout and returns nil.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger, opts Options) error {
	o := opts.withDefaults()
	srv := &http.Server{
		Handler:           o.limit(h),
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    o.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), o.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && serr != nil {
		return serr
	}
	if errors.Is(err, context.DeadlineExceeded) {
		srv.Close() // requests that outlived the grace period
	}
	return nil
}

func hasPrefix(path string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// limit bounds every request body and applies the per-path deadlines.
func (o Options) limit(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		max := o.MaxBodyBytes
		if hasPrefix(r.URL.Path, o.UploadPrefixes) {
			max = o.MaxUploadBytes
			// The answer comes after the body: the write deadline, which
			// runs from the headers, must outlast the upload too.
			rc.SetReadDeadline(time.Now().Add(o.UploadReadTimeout))
			rc.SetWriteDeadline(time.Now().Add(o.UploadReadTimeout + o.WriteTimeout))
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		if hasPrefix(r.URL.Path, o.StreamPrefixes) {
			w = &progressWriter{ResponseWriter: w, rc: rc, stall: o.StallTimeout}
		}
		h.ServeHTTP(w, r)
	})
}

// chunk is how much a progressWriter sends per deadline extension.
const chunk = 256 << 10

// progressWriter moves the write deadline StallTimeout ahead before each
// chunk, so a response lasts as long as it keeps moving. It keeps
// ReadFrom, so http.ServeContent still uses sendfile.
type progressWriter struct {
	http.ResponseWriter
	rc    *http.ResponseController
	stall time.Duration
}

func (p *progressWriter) extend() { p.rc.SetWriteDeadline(time.Now().Add(p.stall)) }

func (p *progressWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		p.extend()
		m, err := p.ResponseWriter.Write(b[:min(len(b), chunk)])
		n += m
		if err != nil {
			return n, err
		}
		b = b[m:]
	}
	return n, nil
}

func (p *progressWriter) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		p.extend()
		n, err := io.Copy(p.ResponseWriter, io.LimitReader(r, chunk))
		total += n
		if err != nil || n < chunk {
			return total, err
		}
	}
}

// Unwrap lets http.ResponseController reach the connection (Flush,
// deadlines) through the wrapper.
func (p *progressWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }
