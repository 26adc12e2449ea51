package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

var now = time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)

func TestCACreatedOnceAndKept(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	ca, err := LoadOrCreateCA(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Cert.IsCA || ca.Cert.NotAfter.Sub(now) < 9*365*24*time.Hour {
		t.Errorf("CA: IsCA %v, valid until %v", ca.Cert.IsCA, ca.Cert.NotAfter)
	}
	for name, want := range map[string]os.FileMode{CAKeyFile: 0o600, CACertFile: 0o644, ".": 0o700} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", name, got, want)
		}
	}
	again, err := LoadOrCreateCA(dir, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.PEM, ca.PEM) {
		t.Error("second start made a new CA: every enrolled agent would be locked out")
	}
}

func TestCAKeyWithoutCertificateIsReused(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, CACertFile)) // as if the first start crashed in between
	again, err := LoadOrCreateCA(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if !publicEqual(again.Cert.PublicKey, ca.Cert.PublicKey) {
		t.Error("the surviving CA key was not reused")
	}
}

func TestCACertificateWithoutKeyRefused(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadOrCreateCA(dir, now); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, CAKeyFile))
	if _, err := LoadOrCreateCA(dir, now); !errors.Is(err, ErrCAKeyMissing) {
		t.Fatalf("err = %v, want ErrCAKeyMissing", err)
	}
}

func TestServerCertificate(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"guardcast.example", "10.0.0.5"}
	first, issued, err := ca.ServerCertificate(dir, names, now)
	if err != nil || !issued {
		t.Fatalf("first: issued %v, err %v", issued, err)
	}
	leaf := first.Leaf
	if !slices.Equal(leaf.DNSNames, []string{"guardcast.example"}) || len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.ParseIP("10.0.0.5")) {
		t.Errorf("SANs: DNS %v IP %v", leaf.DNSNames, leaf.IPAddresses)
	}
	if d := leaf.NotAfter.Sub(now); d < 700*24*time.Hour || d > 740*24*time.Hour {
		t.Errorf("server certificate valid for %v, want about 2 years", d)
	}
	firstCert, firstKey := mustRead(t, filepath.Join(dir, ServerCertFile)), mustRead(t, filepath.Join(dir, ServerKeyFile))
	fi, _ := os.Stat(filepath.Join(dir, ServerKeyFile))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("server.key mode %o", fi.Mode().Perm())
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "guardcast.example", CurrentTime: now}); err != nil {
		t.Errorf("does not verify against the CA: %v", err)
	}

	for _, tt := range []struct {
		name    string
		names   []string
		at      time.Time
		reissue bool
	}{
		{"same names", names, now.Add(time.Hour), false},
		{"a subset", names[:1], now.Add(time.Hour), false},
		{"case and order differ", []string{"10.0.0.5", "GuardCast.Example"}, now, false},
		{"a new name", append(slices.Clone(names), "guardcast.lan"), now, true},
		{"close to expiry", names, leaf.NotAfter.Add(-RenewBefore / 2), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Every case starts from the first pair.
			if err := os.WriteFile(filepath.Join(dir, ServerCertFile), firstCert, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, ServerKeyFile), firstKey, 0o600); err != nil {
				t.Fatal(err)
			}
			c, issued, err := ca.ServerCertificate(dir, tt.names, tt.at)
			if err != nil {
				t.Fatal(err)
			}
			if issued != tt.reissue {
				t.Errorf("issued = %v, want %v", issued, tt.reissue)
			}
			if miss := Missing(c.Leaf, tt.names); len(miss) > 0 {
				t.Errorf("certificate misses %v", miss)
			}
		})
	}
}

func TestServerCertificateFromAnotherCAReplaced(t *testing.T) {
	dir := t.TempDir()
	other, err := LoadOrCreateCA(t.TempDir(), now)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := other.ServerCertificate(dir, []string{"localhost"}, now); err != nil {
		t.Fatal(err)
	}
	ca, err := LoadOrCreateCA(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	c, issued, err := ca.ServerCertificate(dir, []string{"localhost"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !issued || c.Leaf.CheckSignatureFrom(ca.Cert) != nil {
		t.Fatal("a certificate from another CA was kept")
	}
}

func TestLoadKeyPairOperatorFiles(t *testing.T) {
	dir := t.TempDir()
	ca, _ := LoadOrCreateCA(dir, now)
	certPEM, keyPEM, err := ca.Issue([]string{"guardcast.example"}, now)
	if err != nil {
		t.Fatal(err)
	}
	cf, kf := filepath.Join(dir, "op.crt"), filepath.Join(dir, "op.key")
	os.WriteFile(cf, certPEM, 0o644)
	os.WriteFile(kf, keyPEM, 0o600)
	c, err := LoadKeyPair(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	if got := Missing(c.Leaf, []string{"guardcast.example", "other.example", "127.0.0.1"}); !slices.Equal(got, []string{"other.example", "127.0.0.1"}) {
		t.Errorf("Missing = %v", got)
	}
	_, otherKey, _ := ca.Issue([]string{"x"}, now)
	os.WriteFile(kf, otherKey, 0o600)
	if _, err := LoadKeyPair(cf, kf); err == nil {
		t.Error("a key that does not match the certificate was accepted")
	}
}

// TestHandshake: a client pinning only the CA completes a TLS handshake
// with the issued certificate by name, and one pinning another CA fails.
func TestHandshake(t *testing.T) {
	dir := t.TempDir()
	ca, _ := LoadOrCreateCA(dir, time.Now())
	cert, _, err := ca.ServerCertificate(dir, []string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", ServerConfig(cert))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	other, _ := LoadOrCreateCA(t.TempDir(), time.Now())
	for _, tt := range []struct {
		name string
		ca   *CA
		ok   bool
	}{{"pinned CA", ca, true}, {"another CA", other, false}} {
		pool := x509.NewCertPool()
		pool.AddCert(tt.ca.Cert)
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12})
		if err == nil {
			c.Close()
		}
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v", tt.name, err)
		}
		var ua x509.UnknownAuthorityError
		if !tt.ok && !errors.As(err, &ua) {
			t.Errorf("%s: err %v is not an unknown-authority error", tt.name, err)
		}
	}
	ln.Close()
	<-done
}

func TestNames(t *testing.T) {
	got := Names(" Host.Example ", "", "[::1]", "0:0:0:0:0:0:0:1", "host.example", "10.0.0.5")
	if want := []string{"host.example", "::1", "10.0.0.5"}; !slices.Equal(got, want) {
		t.Errorf("Names = %v, want %v", got, want)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
