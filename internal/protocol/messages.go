package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// MaxPayload bounds every GuardCast MQTT payload. Anything larger is
// dropped before it is parsed.
const MaxPayload = 1 << 20

// MaxBatch bounds the number of proof records in one ProofBatch.
const MaxBatch = 500

// Outputs a playlist can be placed on.
const (
	OutputLED     = "led"
	OutputTV      = "tv"
	OutputAudio   = "audio"
	OutputPrinter = "printer"
)

// ValidOutput reports whether o names an output kind.
func ValidOutput(o string) bool {
	switch o {
	case OutputLED, OutputTV, OutputAudio, OutputPrinter:
		return true
	}
	return false
}

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ValidSHA256 reports whether s is a lower-case hex SHA-256.
func ValidSHA256(s string) bool { return hexSHA256.MatchString(s) }

// DesiredState is what one device should be doing. It travels inside a
// SignedDoc signed by the office's content key.
type DesiredState struct {
	V         int        `json:"v"`
	Device    string     `json:"device"`
	Version   uint64     `json:"version"`    // strictly increasing per device
	IssuedAt  int64      `json:"issued_at"`  // unix seconds
	ExpiresAt int64      `json:"expires_at"` // unix seconds
	MediaURL  string     `json:"media_url,omitempty"`
	Playlists []Playlist `json:"playlists"`
	// Nodes are the org-tree nodes the device sits under (site, unit,
	// village, town), so it can tell which alerts are addressed to it.
	Nodes []string `json:"nodes,omitempty"`
	// Schedule, when present, replaces the plain looping Playlists with
	// campaigns, dayparts and quotas (see plan.go).
	Schedule *Schedule `json:"schedule,omitempty"`
	// Alerts are the urgent warnings active for this device.
	Alerts []Alert `json:"alerts,omitempty"`
}

// Playlist places items on one output; in protocol v1 it simply loops.
type Playlist struct {
	Name   string `json:"name"`
	Output string `json:"output"`
	Items  []Item `json:"items"`
	// By is who authored and approved it (capability 2; agents ignore it).
	By *Provenance `json:"by,omitempty"`
}

// Item is one piece of media and how long it holds the output.
type Item struct {
	SHA256     string `json:"sha256"`
	Size       int64  `json:"size"`
	Kind       string `json:"kind"`
	Title      string `json:"title,omitempty"`
	DurationMS int64  `json:"duration_ms"`
}

// Validate checks a desired state's shape. Its "v" is the capability it
// was encoded for (see CapabilityVersion): any v ≥ 1 is accepted, since
// what a newer capability added is either absent or skipped.
func (d *DesiredState) Validate() error {
	if d.V < 1 {
		return fmt.Errorf("desired state: v %d, want ≥ 1", d.V)
	}
	if err := ValidateDeviceID(d.Device); err != nil {
		return fmt.Errorf("desired state: %w", err)
	}
	if d.Version == 0 {
		return errors.New("desired state: version 0")
	}
	if d.ExpiresAt <= d.IssuedAt {
		return fmt.Errorf("desired state: expires_at %d not after issued_at %d", d.ExpiresAt, d.IssuedAt)
	}
	if len(d.Playlists) > 16 {
		return fmt.Errorf("desired state: %d playlists, at most 16", len(d.Playlists))
	}
	if d.Schedule != nil {
		if err := d.Schedule.Validate(); err != nil {
			return fmt.Errorf("desired state: %w", err)
		}
	}
	if len(d.Alerts) > 64 {
		return fmt.Errorf("desired state: %d alerts, at most 64", len(d.Alerts))
	}
	for i := range d.Alerts {
		if err := d.Alerts[i].Validate(); err != nil {
			return fmt.Errorf("desired state: %w", err)
		}
	}
	outputs := map[string]bool{}
	for i, p := range d.Playlists {
		if !ValidOutput(p.Output) {
			return fmt.Errorf("desired state: playlist %d: unknown output %q", i, p.Output)
		}
		if outputs[p.Output] {
			return fmt.Errorf("desired state: two playlists on output %q", p.Output)
		}
		outputs[p.Output] = true
		if len(p.Items) == 0 || len(p.Items) > 1000 {
			return fmt.Errorf("desired state: playlist %q has %d items (1..1000)", p.Name, len(p.Items))
		}
		for j, it := range p.Items {
			if !ValidSHA256(it.SHA256) {
				return fmt.Errorf("desired state: playlist %q item %d: bad sha256 %q", p.Name, j, it.SHA256)
			}
			if it.Size <= 0 {
				return fmt.Errorf("desired state: playlist %q item %d: size %d", p.Name, j, it.Size)
			}
			if it.DurationMS <= 0 || it.DurationMS > int64(24*time.Hour/time.Millisecond) {
				return fmt.Errorf("desired state: playlist %q item %d: duration %d ms out of range", p.Name, j, it.DurationMS)
			}
		}
	}
	return nil
}

// Hello is the first thing an agent publishes after each connect: its
// device public key, and on first contact a MAC proving it holds the
// one-time enrollment secret from its config.
type Hello struct {
	V            int    `json:"v"`
	Device       string `json:"device"`
	PublicKey    []byte `json:"public_key"`           // Ed25519, 32 bytes
	EnrollMAC    []byte `json:"enroll_mac,omitempty"` // EnrollMAC(secret, device, key)
	AgentVersion string `json:"agent_version,omitempty"`
	HaveVersion  uint64 `json:"have_version"` // desired-state version the agent holds
	NextSeq      uint64 `json:"next_seq"`     // the seq its next proof record will carry
	// Capability is the agent's CapabilityVersion; absent (0) means 1.
	Capability int `json:"capability,omitempty"`
}

// Cap is the capability the hello announces (1 when absent).
func (h *Hello) Cap() int { return max(1, h.Capability) }

// Validate checks the hello's shape.
func (h *Hello) Validate() error {
	if h.V != Version {
		return fmt.Errorf("hello: protocol version %d, want %d", h.V, Version)
	}
	if err := ValidateDeviceID(h.Device); err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	if len(h.PublicKey) != 32 {
		return fmt.Errorf("hello: public key is %d bytes, want 32", len(h.PublicKey))
	}
	if len(h.EnrollMAC) != 0 && len(h.EnrollMAC) != 32 {
		return fmt.Errorf("hello: enroll mac is %d bytes, want 32", len(h.EnrollMAC))
	}
	if h.Capability < 0 {
		return fmt.Errorf("hello: capability %d", h.Capability)
	}
	return nil
}

// Results a proof record can carry.
const (
	ResultPlayed = "played"
	ResultFailed = "failed"
)

// ProofRecord is one play (or failed play) on one output. Its hash chains
// it to the device's previous record; see Hash and ProofBatch.
type ProofRecord struct {
	Device      string `json:"device"`
	Seq         uint64 `json:"seq"`  // gap-free from 1
	Prev        string `json:"prev"` // hex SHA-256 of record seq-1; GenesisHash for seq 1
	Version     uint64 `json:"version"`
	Output      string `json:"output"`
	Playlist    string `json:"playlist,omitempty"`
	MediaSHA256 string `json:"media_sha256"`
	StartNS     int64  `json:"start_ns"` // wall clock, unix ns
	EndNS       int64  `json:"end_ns"`
	MonoNS      int64  `json:"mono_ns"` // monotonic duration of the play
	ClockSynced bool   `json:"clock_synced"`
	Result      string `json:"result"`
	Reason      string `json:"reason,omitempty"`
}

// GenesisHash is the Prev of a device's first record.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Validate checks one record's fields (not its chain).
func (r *ProofRecord) Validate() error {
	if err := ValidateDeviceID(r.Device); err != nil {
		return fmt.Errorf("proof: %w", err)
	}
	if r.Seq == 0 {
		return errors.New("proof: seq 0")
	}
	if !ValidSHA256(r.Prev) {
		return fmt.Errorf("proof %d: bad prev hash", r.Seq)
	}
	if r.Seq == 1 && r.Prev != GenesisHash {
		return errors.New("proof 1: prev is not the genesis hash")
	}
	if !ValidOutput(r.Output) {
		return fmt.Errorf("proof %d: unknown output %q", r.Seq, r.Output)
	}
	if r.MediaSHA256 != "" && !ValidSHA256(r.MediaSHA256) {
		return fmt.Errorf("proof %d: bad media sha256", r.Seq)
	}
	if r.EndNS < r.StartNS || r.MonoNS < 0 {
		return fmt.Errorf("proof %d: end before start", r.Seq)
	}
	switch r.Result {
	case ResultPlayed:
	case ResultFailed:
		if r.Reason == "" {
			return fmt.Errorf("proof %d: failed without a reason", r.Seq)
		}
	default:
		return fmt.Errorf("proof %d: unknown result %q", r.Seq, r.Result)
	}
	if len(r.Reason) > 500 || len(r.Playlist) > 200 {
		return fmt.Errorf("proof %d: reason or playlist too long", r.Seq)
	}
	return nil
}

// ProofBatch carries consecutive records of one device. HeadSig signs the
// hash of the last record; since every record's Prev is the hash of the one
// before, that one signature covers the whole batch and everything before
// it in the chain.
type ProofBatch struct {
	V       int           `json:"v"`
	Device  string        `json:"device"`
	Records []ProofRecord `json:"records"`
	HeadSig []byte        `json:"head_sig"` // Ed25519 over HeadMessage(device, last seq, last hash)
}

// Validate checks the batch's shape and internal chain, not the signature.
func (b *ProofBatch) Validate() error {
	if b.V != Version {
		return fmt.Errorf("proof batch: protocol version %d, want %d", b.V, Version)
	}
	if err := ValidateDeviceID(b.Device); err != nil {
		return fmt.Errorf("proof batch: %w", err)
	}
	if len(b.Records) == 0 || len(b.Records) > MaxBatch {
		return fmt.Errorf("proof batch: %d records (1..%d)", len(b.Records), MaxBatch)
	}
	if len(b.HeadSig) != 64 {
		return fmt.Errorf("proof batch: head signature is %d bytes, want 64", len(b.HeadSig))
	}
	var prevHash string
	for i := range b.Records {
		r := &b.Records[i]
		if r.Device != b.Device {
			return fmt.Errorf("proof batch of %s holds a record of %q", b.Device, r.Device)
		}
		if err := r.Validate(); err != nil {
			return err
		}
		if i > 0 {
			if r.Seq != b.Records[i-1].Seq+1 {
				return fmt.Errorf("proof batch: seq %d follows %d", r.Seq, b.Records[i-1].Seq)
			}
			if r.Prev != prevHash {
				return fmt.Errorf("proof batch: record %d does not chain to %d", r.Seq, r.Seq-1)
			}
		}
		prevHash = r.Hash()
	}
	return nil
}

// Receipt tells a device which of its records the controller has
// committed durably: every seq up to and including Through.
type Receipt struct {
	V       int    `json:"v"`
	Device  string `json:"device"`
	Through uint64 `json:"through"`
	Head    string `json:"head"` // hash of record Through, so the agent can check
}

// Validate checks the receipt's shape.
func (r *Receipt) Validate() error {
	if r.V != Version {
		return fmt.Errorf("receipt: protocol version %d, want %d", r.V, Version)
	}
	if err := ValidateDeviceID(r.Device); err != nil {
		return fmt.Errorf("receipt: %w", err)
	}
	if r.Through > 0 && !ValidSHA256(r.Head) {
		return errors.New("receipt: bad head hash")
	}
	return nil
}

// Status is the retained state an agent publishes; its last will is the
// same message with Online false.
type Status struct {
	V            int          `json:"v"`
	Device       string       `json:"device"`
	Online       bool         `json:"online"`
	AgentVersion string       `json:"agent_version,omitempty"`
	Version      uint64       `json:"version"` // desired-state version playing
	Refused      string       `json:"refused,omitempty"`
	Current      []NowPlaying `json:"current,omitempty"`
	Cache        CacheState   `json:"cache"`
	ClockSynced  bool         `json:"clock_synced"`
	// ClockSource says how the agent came by ClockSynced: ClockKernel
	// (the kernel's NTP sync state, re-read every minute) or ClockForced
	// (--clock-trusted: an RTC or GPS clock). Absent means the clock
	// state is unknown: a last will (written when the agent connects,
	// before it has played) or an agent from before the field. The
	// controller decodes status strictly, so it must know this field
	// before any agent sends it; controller and agent ship together.
	ClockSource string `json:"clock_source,omitempty"`
	NextSeq     uint64 `json:"next_seq"`
	Unreceipted uint64 `json:"unreceipted"`
	Time        int64  `json:"time"` // unix seconds, agent clock
	// Alerts are the IDs of urgent warnings in force on this device.
	Alerts []string `json:"alerts,omitempty"`
	// Health is each driver's own report: answering or not, last error.
	Health []OutputHealth `json:"health,omitempty"`
	// Capability is the agent's CapabilityVersion; absent (0) means 1.
	Capability int `json:"capability,omitempty"`
}

// Clock sources (Status.ClockSource).
const (
	ClockKernel = "kernel" // adjtimex(2): NTP, chrony or timesyncd has synchronised the clock
	ClockForced = "forced" // the agent was told to trust its clock (RTC or GPS)
)

// OutputHealth is one driver's health as the agent last saw it.
type OutputHealth struct {
	Output    string `json:"output"` // led, tv, audio, printer, or "input:NAME" for a trigger
	Profile   string `json:"profile"`
	OK        bool   `json:"ok"`
	LastError string `json:"last_error,omitempty"`
	Checked   int64  `json:"checked,omitempty"` // unix seconds
}

// NowPlaying is what one output shows now.
type NowPlaying struct {
	Output string `json:"output"`
	SHA256 string `json:"sha256"`
	Title  string `json:"title,omitempty"`
}

// CacheState summarises the agent's media cache.
type CacheState struct {
	Items   int   `json:"items"`
	Bytes   int64 `json:"bytes"`
	Missing int   `json:"missing"`
}

// Validate checks the status's shape.
func (s *Status) Validate() error {
	if s.V != Version {
		return fmt.Errorf("status: protocol version %d, want %d", s.V, Version)
	}
	if err := ValidateDeviceID(s.Device); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if s.Capability < 0 {
		return fmt.Errorf("status: capability %d", s.Capability)
	}
	switch s.ClockSource {
	case "", ClockKernel, ClockForced:
	default:
		return fmt.Errorf("status: clock source %q", s.ClockSource)
	}
	return nil
}

// Decode parses payload strictly into v (unknown fields are errors, size
// is bounded) and runs its Validate. Everything a device sends the
// controller is decoded so: a controller is upgraded before its agents,
// so it knows every field they may send.
func Decode(payload []byte, v interface{ Validate() error }) error {
	return decode(payload, v, true)
}

// decode is Decode; with strict false, fields v does not have are skipped
// (for a signed document from a newer controller, see OpenDesiredAt).
func decode(payload []byte, v interface{ Validate() error }, strict bool) error {
	if len(payload) > MaxPayload {
		return fmt.Errorf("payload of %d bytes exceeds %d", len(payload), MaxPayload)
	}
	dec := json.NewDecoder(bytesReader(payload))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if dec.More() {
		return errors.New("decode: trailing data after message")
	}
	return v.Validate()
}
