package protocol

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"
)

func testCAPEM(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func baseConfig() AgentConfig {
	return AgentConfig{
		Device: "bank-a", Profile: "virtual", Password: "pw",
		BrokerURL: "mqtts://guardcast.example:8883", MediaURL: "https://guardcast.example:8443/media/",
		ContentKeys:  []string{EncodeKey(make([]byte, 32))},
		EnrollSecret: EncodeKey(make([]byte, 32)),
	}
}

func TestAgentConfigTransport(t *testing.T) {
	ca := testCAPEM(t)
	for _, tt := range []struct {
		name string
		edit func(*AgentConfig)
		want string // "" = valid; else a substring of the error
	}{
		{"mqtts and https with a CA", func(c *AgentConfig) { c.CACert = ca }, ""},
		{"mqtts, system trust", func(c *AgentConfig) {}, ""},
		{"ssl scheme", func(c *AgentConfig) { c.BrokerURL = "ssl://guardcast.example:8883" }, ""},
		{"tls scheme", func(c *AgentConfig) { c.BrokerURL = "tls://guardcast.example:8883" }, ""},
		{"tcp on loopback", func(c *AgentConfig) { c.BrokerURL = "tcp://127.0.0.1:1883" }, ""},
		{"tcp on localhost", func(c *AgentConfig) { c.BrokerURL = "tcp://localhost:1883" }, ""},
		{"tcp on ::1", func(c *AgentConfig) { c.BrokerURL = "tcp://[::1]:1883" }, ""},
		{"http on loopback", func(c *AgentConfig) { c.MediaURL = "http://127.0.0.1:8081/media/" }, ""},
		{"tcp over a network", func(c *AgentConfig) { c.BrokerURL = "tcp://10.0.0.5:1883" },
			`broker_url tcp://10.0.0.5:1883 is plaintext over a network: use mqtts:// with ca_cert, or set "insecure": true`},
		{"mqtt over a network", func(c *AgentConfig) { c.BrokerURL = "mqtt://guardcast.example:1883" }, "plaintext over a network"},
		{"http over a network", func(c *AgentConfig) { c.MediaURL = "http://10.0.0.5:8081/media/" },
			`media_url http://10.0.0.5:8081/media/ is plaintext over a network: use https:// with ca_cert, or set "insecure": true`},
		{"insecure allows tcp", func(c *AgentConfig) { c.BrokerURL = "tcp://10.0.0.5:1883"; c.Insecure = true }, ""},
		{"insecure allows http", func(c *AgentConfig) { c.MediaURL = "http://10.0.0.5:8081/media/"; c.Insecure = true }, ""},
		{"websocket refused", func(c *AgentConfig) { c.BrokerURL = "ws://guardcast.example:80" }, "want mqtts://"},
		{"bad CA", func(c *AgentConfig) { c.CACert = "not a certificate" }, "ca_cert: no PEM CERTIFICATE block"},
		{"corrupt CA", func(c *AgentConfig) {
			c.CACert = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}))
		}, "ca_cert:"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := baseConfig()
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestClientTLSPinsOnlyTheCA(t *testing.T) {
	c := baseConfig()
	tc, err := c.ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	if tc.RootCAs != nil || tc.MinVersion != tls.VersionTLS12 {
		t.Errorf("without ca_cert: RootCAs %v (want nil: system trust), MinVersion %x", tc.RootCAs, tc.MinVersion)
	}
	c.CACert = testCAPEM(t)
	if tc, err = c.ClientTLS(); err != nil {
		t.Fatal(err)
	}
	if tc.RootCAs == nil || !tc.RootCAs.Equal(mustPool(t, c.CACert)) {
		t.Error("with ca_cert: RootCAs is not exactly the configured CA")
	}
}

func mustPool(t *testing.T, p string) *x509.CertPool {
	t.Helper()
	blk, _ := pem.Decode([]byte(p))
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

func TestPlaintextOverNetwork(t *testing.T) {
	for raw, want := range map[string]bool{
		"tcp://127.0.0.1:1883":      false,
		"tcp://127.8.9.1:1883":      false,
		"tcp://localhost:1883":      false,
		"tcp://LOCALHOST.:1883":     false,
		"tcp://[::1]:1883":          false,
		"tcp://0.0.0.0:1883":        true,
		"tcp://10.0.0.5:1883":       true,
		"tcp://localhost.evil:1883": true,
		"http://192.168.1.2/media/": true,
		"https://10.0.0.5/media/":   false,
		"mqtts://10.0.0.5:8883":     false,
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := PlaintextOverNetwork(u); got != want {
			t.Errorf("PlaintextOverNetwork(%s) = %v, want %v", raw, got, want)
		}
	}
}
