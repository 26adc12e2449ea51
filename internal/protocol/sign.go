package protocol

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// Domain-separation prefixes: a signature made for one purpose can never be
// replayed as another.
const (
	domainDesired = "guardcast/desired/v1\n"
	domainHead    = "guardcast/proof-head/v1\n"
	domainEnroll  = "guardcast/enroll/v1\n"
)

// SignedDoc is the envelope for signed content. Payload holds the exact
// bytes that were signed (JSON of the document), so no re-encoding is
// involved in checking a signature.
type SignedDoc struct {
	V       int    `json:"v"`
	Kind    string `json:"kind"` // "desired"
	KeyID   string `json:"key_id"`
	Payload []byte `json:"payload"`
	Sig     []byte `json:"sig"`
}

// Validate checks the envelope's shape.
func (d *SignedDoc) Validate() error {
	if d.V != Version {
		return fmt.Errorf("signed doc: protocol version %d, want %d", d.V, Version)
	}
	if d.Kind != "desired" {
		return fmt.Errorf("signed doc: unknown kind %q", d.Kind)
	}
	if len(d.Sig) != ed25519.SignatureSize {
		return fmt.Errorf("signed doc: signature is %d bytes", len(d.Sig))
	}
	if len(d.Payload) == 0 {
		return errors.New("signed doc: empty payload")
	}
	return nil
}

// KeyID names a public key: the first 8 bytes of its SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return hex.EncodeToString(s[:8])
}

// SignDesired encodes and signs d with the office content key, as it is
// (its V included): a controller serving devices of several capabilities
// uses SignDesiredFor.
func SignDesired(priv ed25519.PrivateKey, d *DesiredState) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	payload, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	return SealDesired(priv, payload), nil
}

// SignDesiredFor signs d as encoded for a device of capability c
// (d.ForCapability(c)).
func SignDesiredFor(priv ed25519.PrivateKey, d *DesiredState, c int) ([]byte, error) {
	return SignDesired(priv, d.ForCapability(c))
}

// SealDesired wraps payload, the exact bytes of a desired state, in a
// signed envelope. It neither parses nor checks payload.
func SealDesired(priv ed25519.PrivateKey, payload []byte) []byte {
	doc := SignedDoc{
		V:       Version,
		Kind:    "desired",
		KeyID:   KeyID(priv.Public().(ed25519.PublicKey)),
		Payload: payload,
		Sig:     ed25519.Sign(priv, DesiredMessage(payload)),
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err) // a struct of strings and byte slices: cannot fail
	}
	return b
}

// DesiredMessage is what the content key signs: the domain prefix and
// the payload's exact bytes.
func DesiredMessage(payload []byte) []byte {
	return append([]byte(domainDesired), payload...)
}

// Errors from OpenDesired that an agent reports as a refusal.
var (
	ErrWrongKey     = errors.New("signed by an unknown key")
	ErrBadSignature = errors.New("signature does not verify")
)

// OpenDesired checks the envelope's signature against any of the trusted
// keys and returns the validated desired state, decoded by the rules of
// this build's capability (OpenDesiredAt). It does not check version
// order or expiry against a clock: that is the agent's policy.
func OpenDesired(raw []byte, trusted []ed25519.PublicKey) (*DesiredState, error) {
	return OpenDesiredAt(raw, trusted, CapabilityVersion)
}

// OpenDesiredAt opens a signed desired state as an agent of capability c
// does. The envelope is always decoded strictly (it is not signed, and v1
// has nothing to add to it). The signature is checked over the payload's
// exact bytes as received — never a re-encoding — and only then is the
// payload parsed:
//
//   - c = 1, the rule of the first agents: unknown fields are errors and
//     "v" must be 1;
//   - c ≥ 2: fields this build does not know are skipped, "v" may be any
//     value ≥ 1 (a newer controller's), and every field it does know is
//     validated as before.
func OpenDesiredAt(raw []byte, trusted []ed25519.PublicKey, c int) (*DesiredState, error) {
	var doc SignedDoc
	if err := Decode(raw, &doc); err != nil {
		return nil, err
	}
	var key ed25519.PublicKey
	for _, k := range trusted {
		if KeyID(k) == doc.KeyID {
			key = k
			break
		}
	}
	if key == nil {
		return nil, fmt.Errorf("desired state: key %q: %w", doc.KeyID, ErrWrongKey)
	}
	if !ed25519.Verify(key, DesiredMessage(doc.Payload), doc.Sig) {
		return nil, fmt.Errorf("desired state: %w", ErrBadSignature)
	}
	var d DesiredState
	if err := decode(doc.Payload, &d, c <= 1); err != nil {
		return nil, err
	}
	if c <= 1 && d.V != Version {
		return nil, fmt.Errorf("desired state: protocol version %d, want %d", d.V, Version)
	}
	return &d, nil
}

// Canonical returns the bytes a record's hash is taken over: every field,
// length-prefixed in a fixed order, so that no JSON re-encoding question
// (field order, escaping, number formats) can change a hash. Both the agent
// and `proofs verify` rebuild it from the fields alone.
func (r *ProofRecord) Canonical() []byte {
	b := make([]byte, 0, 256)
	str := func(s string) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	u64 := func(v uint64) { b = binary.BigEndian.AppendUint64(b, v) }
	str("guardcast/proof/v1")
	str(r.Device)
	u64(r.Seq)
	str(r.Prev)
	u64(r.Version)
	str(r.Output)
	str(r.Playlist)
	str(r.MediaSHA256)
	u64(uint64(r.StartNS))
	u64(uint64(r.EndNS))
	u64(uint64(r.MonoNS))
	if r.ClockSynced {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	str(r.Result)
	str(r.Reason)
	return b
}

// Hash is the hex SHA-256 of Canonical; the next record's Prev.
func (r *ProofRecord) Hash() string {
	s := sha256.Sum256(r.Canonical())
	return hex.EncodeToString(s[:])
}

// HeadMessage is what a device signs to vouch for its chain up to seq.
func HeadMessage(device string, seq uint64, hash string) []byte {
	return []byte(domainHead + device + "\n" + strconv.FormatUint(seq, 10) + "\n" + hash)
}

// SignHead signs the head of a chain with the device key.
func SignHead(priv ed25519.PrivateKey, device string, seq uint64, hash string) []byte {
	return ed25519.Sign(priv, HeadMessage(device, seq, hash))
}

// VerifyHead checks a head signature.
func VerifyHead(pub ed25519.PublicKey, device string, seq uint64, hash string, sig []byte) bool {
	return len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, HeadMessage(device, seq, hash), sig)
}

// EnrollMAC proves knowledge of the one-time enrollment secret and binds it
// to the device's public key, so a secret seen on the wire cannot pin a
// different key.
func EnrollMAC(secret []byte, device string, pub ed25519.PublicKey) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(domainEnroll + device + "\n"))
	m.Write(pub)
	return m.Sum(nil)
}

// EncodeKey and DecodeKey move keys through config files as base64.
func EncodeKey(k []byte) string { return base64.StdEncoding.EncodeToString(k) }

// DecodeKey decodes a base64 key and checks its length.
func DecodeKey(s string, size int) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	if len(k) != size {
		return nil, fmt.Errorf("key is %d bytes, want %d", len(k), size)
	}
	return k, nil
}
