package broker

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/guardcast/guardcast/internal/protocol"
)

// Role is what a credential may do on the broker.
type Role int

const (
	// RoleNone is the zero Role; a credential carrying it is refused.
	RoleNone Role = iota
	// RoleDevice is an agent: its own uplink and downlink topics only.
	RoleDevice
	// RoleController is a controller connecting over the network (several
	// controllers sharing ingestion through shared subscriptions): anything.
	RoleController
)

func (r Role) String() string {
	switch r {
	case RoleDevice:
		return "device"
	case RoleController:
		return "controller"
	default:
		return fmt.Sprintf("Role(%d)", int(r))
	}
}

// Credential is one stored broker login. Passwords are never stored, only
// a salted hash made by HashPassword.
type Credential struct {
	Username string
	Role     Role
	Salt     []byte
	Hash     []byte
}

// Credentials looks up a login by username. found=false means no such user;
// err means the lookup itself failed (the connection is refused either way).
// It is called once per connection attempt, possibly from many goroutines
// at once.
type Credentials interface {
	LookupCredential(username string) (c Credential, found bool, err error)
}

// StaticCredentials is an in-memory Credentials keyed by username, for tests,
// examples and small fixed setups.
type StaticCredentials map[string]Credential

// LookupCredential implements Credentials.
func (s StaticCredentials) LookupCredential(username string) (Credential, bool, error) {
	c, ok := s[username]
	return c, ok, nil
}

// Add hashes password and stores a credential for username with role.
func (s StaticCredentials) Add(username string, role Role, password string) {
	salt, hash := HashPassword(password)
	s[username] = Credential{Username: username, Role: role, Salt: salt, Hash: hash}
}

const saltLen = 16

// HashPassword returns a fresh random salt and SHA-256(salt || password).
//
// Why not bcrypt/argon2: broker passwords are 256-bit random tokens issued
// at enrollment, never human-chosen, so there is nothing to brute-force that
// a slow hash would protect; a salted SHA-256 is as strong as the token. A
// slow hash, on the other hand, turns a reconnect storm (thousands of
// agents coming back after a power cut at ~100 ms of CPU each) into minutes
// of a pinned controller.
func HashPassword(password string) (salt, hash []byte) {
	salt = make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // never returns an error since Go 1.24
	}
	return salt, hashWith(salt, password)
}

func hashWith(salt []byte, password string) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(password))
	return h.Sum(nil)
}

// CheckPassword reports whether password matches c, in constant time.
func CheckPassword(c Credential, password string) bool {
	if len(c.Salt) == 0 || len(c.Hash) != sha256.Size {
		return false
	}
	return subtle.ConstantTimeCompare(hashWith(c.Salt, password), c.Hash) == 1
}

// Refusals counts what the AuthHook refused since start.
type Refusals struct {
	Connect uint64 // bad or missing credentials, client ID mismatch, lookup errors
	Will    uint64 // connections refused for a will outside the device's status topic
	Publish uint64 // publishes to a topic the client may not write
	Retain  uint64 // retained publishes outside the device's own status topic
	Read    uint64 // subscription filters refused and deliveries withheld (mochi asks both through one ACL call)
	Packet  uint64 // packets refused before processing (too long topic or filter)

	// Malformed counts connections dropped by the listener's packet guard
	// (malformed or out-of-order packets); AuthHook never sets it.
	Malformed uint64
}

// Errors returned from OnPacketRead. Both wrap packets.ErrRejectPacket:
// mochi v2.7.9's Hooks.OnPacketRead silently ignores any other error (it
// fails open), while ErrRejectPacket makes it drop the connection.
var (
	ErrTopicTooLong = fmt.Errorf("%w: topic or filter longer than the broker's limit", packets.ErrRejectPacket)
	ErrRetainDenied = fmt.Errorf("%w: retained publish outside the device's status topic", packets.ErrRejectPacket)
)

// AuthHook is a deny-by-default mochi hook: it authenticates every network
// client against Credentials and enforces the GuardCast topic ACL. Mochi
// OR-s the answers of all auth hooks, so this must be the only hook that
// provides OnConnectAuthenticate and OnACLCheck; never add mochi's allow-all
// or Ledger hooks next to it.
type AuthHook struct {
	mqtt.HookBase
	creds          Credentials
	maxTopicLen    int
	maxClientIDLen int

	// roles remembers the role of every username that authenticated, so the
	// hot ACL path needs no credential lookup. Keyed by username (bounded by
	// the number of credentials), not by *Client, so taken-over and expired
	// sessions leave nothing behind. A revoked credential keeps its role
	// until its connection ends; revocation must also kick the client.
	roles sync.Map // string → Role

	connect, will, publish, retain, read, packet atomic.Uint64
}

// NewAuthHook returns a hook checking logins against creds and enforcing
// opts.MaxTopicLen and opts.MaxClientIDLen (zero values take the defaults).
func NewAuthHook(creds Credentials, opts Options) *AuthHook {
	opts = opts.withDefaults()
	return &AuthHook{creds: creds, maxTopicLen: opts.MaxTopicLen, maxClientIDLen: opts.MaxClientIDLen}
}

// ID implements mqtt.Hook.
func (h *AuthHook) ID() string { return "guardcast-auth" }

// Provides implements mqtt.Hook.
func (h *AuthHook) Provides(b byte) bool {
	return bytes.Contains([]byte{
		mqtt.OnConnectAuthenticate,
		mqtt.OnACLCheck,
		mqtt.OnPacketRead,
	}, []byte{b})
}

// Refusals returns the refusal counters.
func (h *AuthHook) Refusals() Refusals {
	return Refusals{
		Connect: h.connect.Load(),
		Will:    h.will.Load(),
		Publish: h.publish.Load(),
		Retain:  h.retain.Load(),
		Read:    h.read.Load(),
		Packet:  h.packet.Load(),
	}
}

// OnConnectAuthenticate implements mqtt.Hook. It is called after mochi has
// parsed and validated the CONNECT packet and before the session exists.
func (h *AuthHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	ok, why := h.authenticate(cl, pk)
	if !ok {
		h.Log.Info("connection refused", "client", cl.ID, "username", string(pk.Connect.Username), "remote", cl.Net.Remote, "reason", why)
	}
	return ok
}

func (h *AuthHook) authenticate(cl *mqtt.Client, pk packets.Packet) (bool, string) {
	user := string(pk.Connect.Username)
	if !pk.Connect.UsernameFlag || user == "" {
		h.connect.Add(1)
		return false, "anonymous"
	}
	c, found, err := h.creds.LookupCredential(user)
	if err != nil {
		h.connect.Add(1)
		return false, "credential lookup failed: " + err.Error()
	}
	if !found || c.Username != user || !CheckPassword(c, string(pk.Connect.Password)) {
		h.connect.Add(1)
		return false, "unknown user or wrong password"
	}
	id := pk.Connect.ClientIdentifier
	if len(id) > h.maxClientIDLen {
		h.connect.Add(1)
		return false, "client ID too long"
	}
	switch c.Role {
	case RoleDevice:
		if id != user {
			h.connect.Add(1)
			return false, "device client ID is not its username"
		}
		if err := protocol.ValidateDeviceID(id); err != nil || id == mqtt.InlineClientId {
			h.connect.Add(1)
			return false, "device ID not valid"
		}
		if pk.Connect.WillFlag && pk.Connect.WillTopic != protocol.UpTopic(id, protocol.TopicStatus) {
			h.will.Add(1)
			return false, "will outside the device's status topic"
		}
	case RoleController:
		// A controller's client ID must be one no device can ever use, so
		// neither can take over the other's session (and none can take over
		// mochi's inline client). Use e.g. "controller:ingest-1".
		if id == "" || protocol.ValidateDeviceID(id) == nil {
			h.connect.Add(1)
			return false, "controller client ID must not be a valid device ID (use e.g. \"controller:NAME\")"
		}
	default:
		h.connect.Add(1)
		return false, "credential has no role"
	}
	h.roles.Store(user, c.Role)
	return true, ""
}

func (h *AuthHook) role(cl *mqtt.Client) Role {
	r, ok := h.roles.Load(string(cl.Properties.Username))
	if !ok {
		return RoleNone
	}
	return r.(Role)
}

// OnACLCheck implements mqtt.Hook. write=true is a publish; write=false is
// both a SUBSCRIBE filter and each delivery of a message to a subscriber,
// so a device can never receive another device's topic, whatever filter it
// got in with.
func (h *AuthHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	switch h.role(cl) {
	case RoleController:
		return true
	case RoleDevice:
		id := cl.ID
		if id != string(cl.Properties.Username) { // enforced at connect; belt and braces
			break
		}
		if write {
			if protocol.MayDevicePublish(id, topic) {
				return true
			}
			h.publish.Add(1)
			return false
		}
		if protocol.MayDeviceSubscribe(id, topic) {
			return true
		}
		h.read.Add(1)
		return false
	}
	if write {
		h.publish.Add(1)
	} else {
		h.read.Add(1)
	}
	return false
}

// OnPacketRead implements mqtt.Hook. It runs on every decoded packet before
// mochi validates or processes it; an error drops the connection. It
// refuses what OnACLCheck cannot see: the retain flag, and lengths.
// Errors must wrap packets.ErrRejectPacket or mochi ignores them.
func (h *AuthHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	switch pk.FixedHeader.Type {
	case packets.Publish:
		if h.tooLong(pk.TopicName) {
			return pk, ErrTopicTooLong
		}
		if pk.FixedHeader.Retain && h.role(cl) != RoleController &&
			pk.TopicName != protocol.UpTopic(cl.ID, protocol.TopicStatus) {
			h.retain.Add(1)
			return pk, ErrRetainDenied
		}
	case packets.Subscribe, packets.Unsubscribe:
		for _, f := range pk.Filters {
			if h.tooLong(f.Filter) {
				return pk, ErrTopicTooLong
			}
		}
	}
	return pk, nil
}

func (h *AuthHook) tooLong(s string) bool {
	if h.maxTopicLen > 0 && len(s) > h.maxTopicLen {
		h.packet.Add(1)
		return true
	}
	return false
}
