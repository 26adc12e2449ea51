package protocol

import (
	"bytes"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

// AgentConfig is the file `guardcast-controller device add` writes and
// `guardcast-agent run --config` reads: everything a device needs to reach
// its controller and to trust what it receives. It holds secrets (the MQTT
// password, the one-time enrollment secret) and must be mode 0600.
type AgentConfig struct {
	Device       string   `json:"device"`
	Site         string   `json:"site,omitempty"`
	Profile      string   `json:"profile"`
	BrokerURL    string   `json:"broker_url"` // mqtts://host:8883; tcp://127.0.0.1:1883 on loopback only
	Password     string   `json:"password"`
	MediaURL     string   `json:"media_url"`     // base URL; media is GET {media_url}{sha256}
	ContentKeys  []string `json:"content_keys"`  // base64 Ed25519 public keys of the office
	EnrollSecret string   `json:"enroll_secret"` // base64, 32 bytes, used once to pin the device key
	StateDir     string   `json:"state_dir,omitempty"`
	CacheDir     string   `json:"cache_dir,omitempty"`
	// Outputs adds outputs beside the one Profile drives: output name
	// (led, tv, audio, printer) → firmware profile ID, e.g. a bank hall's
	// Pi driving the TV and a speaker.
	Outputs map[string]string `json:"outputs,omitempty"`
	// Inputs maps a local trigger name ("large-transfer") to the
	// gpio-input profile whose button or sensor raises it.
	Inputs map[string]string `json:"inputs,omitempty"`
	// Hotline is what printed reminders give as the anti-fraud hotline
	// (default 96110).
	Hotline string `json:"hotline,omitempty"`
	// CACert (PEM) is the only certificate authority the agent trusts for
	// the broker and media servers: the controller's private CA. Empty:
	// the system trust store (an operator's publicly signed certificate).
	CACert string `json:"ca_cert,omitempty"`
	// Insecure allows a plaintext broker_url or media_url to a host other
	// than loopback. Plaintext lets anyone on the path read the device
	// password; it exists for test benches, not for sites.
	Insecure bool `json:"insecure,omitempty"`
}

// LoopbackHost reports whether host (a name or an IP, without port) is
// this machine: "localhost" or a loopback address.
func LoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// PlaintextOverNetwork reports whether u would travel unencrypted to
// another machine: a tcp://, mqtt:// or http:// URL whose host is not
// loopback.
func PlaintextOverNetwork(u *url.URL) bool {
	switch u.Scheme {
	case "tcp", "mqtt", "http":
		return !LoopbackHost(u.Hostname())
	}
	return false
}

// RootCAs is the pool of CACert, nil when CACert is empty (use the system
// trust store).
func (c *AgentConfig) RootCAs() (*x509.CertPool, error) {
	if c.CACert == "" {
		return nil, nil
	}
	pool := x509.NewCertPool()
	rest := []byte(c.CACert)
	n := 0
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("agent config: ca_cert: %w", err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, errors.New("agent config: ca_cert: no PEM CERTIFICATE block")
	}
	return pool, nil
}

// ClientTLS is the TLS configuration for the broker and media
// connections: TLS 1.2 or later, trusting only CACert when it is set.
// ServerName is left to the caller (it is the host of the URL dialled).
func (c *AgentConfig) ClientTLS() (*tls.Config, error) {
	pool, err := c.RootCAs()
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}, nil
}

// brokerSchemes are the broker URL schemes paho.mqtt.golang dials: plain
// (tcp, mqtt) and TLS (mqtts, ssl, tls).
var brokerSchemes = []string{"mqtts", "ssl", "tls", "tcp", "mqtt"}

// ValidTriggerName reports whether s can name a local trigger:
// [a-z0-9-], 1 to 40 characters.
func ValidTriggerName(s string) bool {
	if len(s) == 0 || len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ParseAgentConfig decodes strictly (unknown fields are errors) and validates.
func ParseAgentConfig(b []byte) (*AgentConfig, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c AgentConfig
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("agent config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate checks every field an agent needs.
func (c *AgentConfig) Validate() error {
	if err := ValidateDeviceID(c.Device); err != nil {
		return fmt.Errorf("agent config: device: %w", err)
	}
	u, err := url.Parse(c.BrokerURL)
	if err != nil || !slices.Contains(brokerSchemes, u.Scheme) || u.Host == "" {
		return fmt.Errorf("agent config: broker_url %q: want mqtts://host:port (or tcp://127.0.0.1:port on loopback)", c.BrokerURL)
	}
	if PlaintextOverNetwork(u) && !c.Insecure {
		return fmt.Errorf("agent config: broker_url %s is plaintext over a network: use mqtts:// with ca_cert, or set \"insecure\": true", c.BrokerURL)
	}
	m, err := url.Parse(c.MediaURL)
	if err != nil || (m.Scheme != "http" && m.Scheme != "https") || m.Host == "" {
		return fmt.Errorf("agent config: media_url %q: want https://host:port/media/", c.MediaURL)
	}
	if PlaintextOverNetwork(m) && !c.Insecure {
		return fmt.Errorf("agent config: media_url %s is plaintext over a network: use https:// with ca_cert, or set \"insecure\": true", c.MediaURL)
	}
	if _, err := c.RootCAs(); err != nil {
		return err
	}
	if c.Password == "" {
		return errors.New("agent config: password is empty")
	}
	if len(c.ContentKeys) == 0 {
		return errors.New("agent config: no content_keys: the agent would trust nothing")
	}
	if _, err := c.TrustedKeys(); err != nil {
		return err
	}
	if _, err := DecodeKey(c.EnrollSecret, 32); err != nil {
		return fmt.Errorf("agent config: enroll_secret: %w", err)
	}
	if c.Profile == "" {
		return errors.New("agent config: profile is empty")
	}
	for out, id := range c.Outputs {
		if !ValidOutput(out) || id == "" {
			return fmt.Errorf("agent config: outputs: %q → %q: want led, tv, audio or printer → a profile ID", out, id)
		}
	}
	for name, id := range c.Inputs {
		if !ValidTriggerName(name) || id == "" {
			return fmt.Errorf("agent config: inputs: %q → %q: want a trigger name ([a-z0-9-]) → a gpio-input profile ID", name, id)
		}
	}
	if len(c.Hotline) > 40 {
		return errors.New("agent config: hotline longer than 40 characters")
	}
	return nil
}

// TrustedKeys decodes the content keys.
func (c *AgentConfig) TrustedKeys() ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	for i, s := range c.ContentKeys {
		k, err := DecodeKey(s, ed25519.PublicKeySize)
		if err != nil {
			return nil, fmt.Errorf("agent config: content_keys[%d]: %w", i, err)
		}
		keys = append(keys, ed25519.PublicKey(k))
	}
	return keys, nil
}
