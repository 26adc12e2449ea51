package protocol

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
)

// AgentConfig is the file `guardcast-controller device add` writes and
// `guardcast-agent run --config` reads: everything a device needs to reach
// its controller and to trust what it receives. It holds secrets (the MQTT
// password, the one-time enrollment secret) and must be mode 0600.
type AgentConfig struct {
	Device       string   `json:"device"`
	Site         string   `json:"site,omitempty"`
	Profile      string   `json:"profile"`
	BrokerURL    string   `json:"broker_url"` // tcp://host:1883 or ssl://host:8883
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
}

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
	if err != nil || (u.Scheme != "tcp" && u.Scheme != "ssl" && u.Scheme != "mqtt" && u.Scheme != "mqtts") || u.Host == "" {
		return fmt.Errorf("agent config: broker_url %q: want tcp://host:port or ssl://host:port", c.BrokerURL)
	}
	m, err := url.Parse(c.MediaURL)
	if err != nil || (m.Scheme != "http" && m.Scheme != "https") || m.Host == "" {
		return fmt.Errorf("agent config: media_url %q: want http(s)://host/media/", c.MediaURL)
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
