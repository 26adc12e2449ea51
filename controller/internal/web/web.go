// Package web is the controller's office HTTP side: a JSON API over the
// office's operations core, behind sessions and API tokens. Agents never
// come here: they fetch media from a listener of their own.
//
// Every request but login and /healthz needs a signed-in user (a session
// cookie, HttpOnly, Secure, SameSite=Strict, with a CSRF token on every
// state-changing request and a checked Origin; or an API token as
// "Authorization: Bearer gct_…"). Anonymous requests get 401, the wrong
// role 403. Request bodies are decoded strictly: an unknown field is a 400
// naming it.
package web

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/guardcast/guardcast/controller/internal/httpserve"
)

// ParseSince accepts RFC 3339, a date (2006-01-02) or a duration back from
// now ("24h").
func ParseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, errors.New("since: want RFC 3339 time, YYYY-MM-DD, or a duration such as 24h")
}

// Serve runs an HTTP server on ln until ctx is cancelled, with
// httpserve.DefaultOptions: header, body, write and idle timeouts, bounded
// headers and bodies, and media downloads that may run long while they
// keep moving. Use httpserve.Serve for other limits.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	return httpserve.Serve(ctx, ln, h, log, httpserve.DefaultOptions)
}
