package cache

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"

	"github.com/guardcast/guardcast/internal/protocol"
)

// ErrPlaintext is returned for an http:// media URL that is not on
// loopback, by a client made without insecure.
var ErrPlaintext = errors.New(`plaintext over a network: use https:// with ca_cert, or set "insecure": true`)

// NewClient is the HTTP client the agent fetches media with: TLS from tc
// (trusting only the pinned CA when tc.RootCAs is set; nil tc means TLS
// 1.2+ with the system trust store) and, unless insecure, no plaintext
// request to a host other than loopback — redirects included, since every
// request passes the same check.
func NewClient(tc *tls.Config, insecure bool) *http.Client {
	if tc == nil {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc.Clone()
	var rt http.RoundTripper = tr
	if !insecure {
		rt = refusePlaintext{tr}
	}
	return &http.Client{Transport: rt}
}

type refusePlaintext struct{ next http.RoundTripper }

func (r refusePlaintext) RoundTrip(req *http.Request) (*http.Response, error) {
	if protocol.PlaintextOverNetwork(req.URL) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("media URL %s is %w", req.URL.Redacted(), ErrPlaintext)
	}
	return r.next.RoundTrip(req)
}

// explainTLS says plainly when certificate verification, not the network,
// failed a download.
func explainTLS(err error) error {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
	)
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("media server certificate was not signed by the configured CA (ca_cert): %w", err)
	case errors.As(err, &hostname):
		return fmt.Errorf("media server certificate is not for this host: %w", err)
	}
	return err
}
