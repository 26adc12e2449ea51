// Package pki keeps the controller's private certificate authority and the
// server certificate its listeners present. Agents pin the CA certificate
// (it travels in their config), so no public CA or system trust store is
// involved, and the CA's key never leaves the data directory.
//
// Layout, in DATA/tls/:
//
//	ca.pem      CA certificate (ECDSA P-256, 10 years) — what agents pin
//	ca.key      CA private key, mode 0600
//	server.pem  server certificate for the controller's names (2 years)
//	server.key  server private key, mode 0600
//
// The server certificate is issued again whenever the names wanted do not
// all verify against it, it was not signed by the current CA, or it has
// less than RenewBefore left. The CA is never replaced automatically:
// every enrolled agent pins it.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/guardcast/guardcast/internal/atomicfile"
)

// File names inside the TLS directory.
const (
	Dir            = "tls" // under the data directory
	CACertFile     = "ca.pem"
	CAKeyFile      = "ca.key"
	ServerCertFile = "server.pem"
	ServerKeyFile  = "server.key"
)

// Lifetimes.
const (
	CALifetime     = 10 * 365 * 24 * time.Hour
	ServerLifetime = 2 * 365 * 24 * time.Hour
	// RenewBefore: a server certificate with less than this left is
	// replaced at the next start.
	RenewBefore = 60 * 24 * time.Hour
)

// backdate is how far before "now" certificates start to be valid. A
// Raspberry Pi has no battery clock and boots with the time it last saved,
// which may well be before the certificate was made; a private CA loses
// nothing by starting validity early.
const backdate = 7 * 24 * time.Hour

// ErrCAKeyMissing means ca.pem exists without ca.key: the CA agents pin can
// no longer issue, and making a new one would lock every agent out.
var ErrCAKeyMissing = errors.New("CA certificate present but its key is missing")

// CA is the controller's private certificate authority.
type CA struct {
	Cert *x509.Certificate
	PEM  []byte // Cert, PEM-encoded: what agents pin
	key  crypto.Signer
}

// LoadOrCreateCA loads dir/ca.pem and dir/ca.key, creating them (and dir,
// mode 0700) if neither exists. A key without a certificate (a crash
// between the two writes on first start) gets a fresh certificate.
func LoadOrCreateCA(dir string, now time.Time) (*CA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tls dir: %w", err)
	}
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	switch {
	case certErr == nil && keyErr == nil:
		return parseCA(certPEM, keyPEM)
	case certErr == nil && errors.Is(keyErr, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: %w (%s)", certPath, ErrCAKeyMissing, keyPath)
	case certErr != nil && !errors.Is(certErr, fs.ErrNotExist):
		return nil, fmt.Errorf("read CA certificate: %w", certErr)
	case keyErr != nil && !errors.Is(keyErr, fs.ErrNotExist):
		return nil, fmt.Errorf("read CA key: %w", keyErr)
	}
	var key *ecdsa.PrivateKey
	if keyErr == nil {
		k, err := parseKey(keyPEM)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", keyPath, err)
		}
		ek, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%s: not an ECDSA key", keyPath)
		}
		key = ek
	} else {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate CA key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("encode CA key: %w", err)
		}
		// The key goes first: a crash before the certificate is written
		// leaves a key we reuse, never a certificate without its key.
		if err := atomicfile.Write(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, fmt.Errorf("write CA key: %w", err)
		}
		key = k
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"GuardCast"}, CommonName: "GuardCast controller CA " + host},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := atomicfile.Write(certPath, certPEM, 0o644); err != nil {
		return nil, fmt.Errorf("write CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse new CA certificate: %w", err)
	}
	return &CA{Cert: cert, PEM: certPEM, key: key}, nil
}

func parseCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := ParseCertificate(certPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	if !cert.IsCA {
		return nil, errors.New("CA certificate: not a CA")
	}
	k, err := parseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("CA key: cannot sign")
	}
	if !publicEqual(signer.Public(), cert.PublicKey) {
		return nil, errors.New("CA key does not match the CA certificate")
	}
	return &CA{Cert: cert, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), key: signer}, nil
}

func publicEqual(a, b crypto.PublicKey) bool {
	ae, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ae.Equal(b)
}

// ParseCertificate decodes the first CERTIFICATE block of a PEM file.
func ParseCertificate(b []byte) (*x509.Certificate, error) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, errors.New("no PEM CERTIFICATE block")
		}
		if blk.Type == "CERTIFICATE" {
			return x509.ParseCertificate(blk.Bytes)
		}
	}
}

func parseKey(b []byte) (crypto.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	return nil, errors.New("not a PKCS#8 or EC private key")
}

func randomSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil
}

// Issue makes a server certificate and key (both PEM) for names: DNS names
// or IP addresses.
func (ca *CA) Issue(names []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	if len(names) == 0 {
		return nil, nil, errors.New("issue server certificate: no names")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate server key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"GuardCast"}, CommonName: names[0]},
		NotBefore:    now.Add(-backdate),
		NotAfter:     now.Add(ServerLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("issue server certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode server key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// ServerCertificate returns the certificate in dir/server.pem if it was
// signed by ca, covers every name and has at least RenewBefore left;
// otherwise it issues a new one for names and stores it. issued reports
// which happened.
func (ca *CA) ServerCertificate(dir string, names []string, now time.Time) (cert tls.Certificate, issued bool, err error) {
	certPath, keyPath := filepath.Join(dir, ServerCertFile), filepath.Join(dir, ServerKeyFile)
	if c, err := LoadKeyPair(certPath, keyPath); err == nil && ca.reusable(c.Leaf, names, now) {
		return c, false, nil
	}
	certPEM, keyPEM, err := ca.Issue(names, now)
	if err != nil {
		return cert, false, err
	}
	// Key first: a crash in between leaves a pair that fails to load and
	// is simply issued again.
	if err := atomicfile.Write(keyPath, keyPEM, 0o600); err != nil {
		return cert, false, fmt.Errorf("write server key: %w", err)
	}
	if err := atomicfile.Write(certPath, certPEM, 0o644); err != nil {
		return cert, false, fmt.Errorf("write server certificate: %w", err)
	}
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return cert, false, fmt.Errorf("load new server certificate: %w", err)
	}
	return cert, true, nil
}

func (ca *CA) reusable(leaf *x509.Certificate, names []string, now time.Time) bool {
	if leaf == nil || leaf.CheckSignatureFrom(ca.Cert) != nil {
		return false
	}
	if now.Before(leaf.NotBefore) || leaf.NotAfter.Sub(now) < RenewBefore {
		return false
	}
	return len(Missing(leaf, names)) == 0
}

// LoadKeyPair loads a PEM certificate (chain) and key, such as the ones an
// operator supplies, with Leaf set.
func LoadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return c, fmt.Errorf("load certificate %s / key %s: %w", certFile, keyFile, err)
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return c, fmt.Errorf("parse certificate %s: %w", certFile, err)
		}
	}
	return c, nil
}

// Missing returns the names (DNS names or IPs) cert does not verify for.
func Missing(cert *x509.Certificate, names []string) []string {
	var miss []string
	for _, n := range names {
		if cert.VerifyHostname(n) != nil {
			miss = append(miss, n)
		}
	}
	return miss
}

// Names cleans a list of certificate names: trimmed, lower-cased DNS
// names, IPs in canonical form, no empties or duplicates, order kept.
func Names(in ...string) []string {
	var out []string
	for _, n := range in {
		n = strings.TrimSpace(strings.Trim(strings.TrimSpace(n), "[]"))
		if n == "" {
			continue
		}
		if ip := net.ParseIP(n); ip != nil {
			n = ip.String()
		} else {
			n = strings.ToLower(n)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// ServerConfig is the TLS configuration every controller listener uses:
// TLS 1.2 or later with cert.
func ServerConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
}
