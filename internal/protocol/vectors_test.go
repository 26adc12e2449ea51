package protocol

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// The known answers in testdata/vectors.json pin every byte GuardCast
// signs or hashes. If this test fails, a change altered what an auditor's
// verifier, or a deployed agent, computes: that is a new protocol version
// or a mistake, never a refactoring. Rewrite with -update only for a
// deliberate, documented change.
const vectorsFile = "testdata/vectors.json"

type keyVector struct {
	Seed      string `json:"seed_hex"` // Ed25519 private key seed (RFC 8032)
	PublicKey string `json:"public_key_hex"`
	PublicB64 string `json:"public_key_base64"` // as in an agent config's content_keys
	KeyID     string `json:"key_id"`
}

type desiredVector struct {
	Name    string `json:"name"`
	Payload string `json:"payload"` // the signed bytes, as text (they are UTF-8 JSON)
	Message string `json:"message_hex"`
	Sig     string `json:"sig_hex"`
	// Envelope is the SignedDoc as published on the desired topic.
	Envelope string `json:"envelope"`
	// Capability1 says whether a capability-1 agent accepts it;
	// every agent of this build does.
	Capability1 bool `json:"accepted_by_capability_1"`
}

type proofVector struct {
	Name      string          `json:"name"`
	Record    json.RawMessage `json:"record"` // as in a ProofBatch
	Canonical string          `json:"canonical_hex"`
	Hash      string          `json:"hash"`
}

type headVector struct {
	Name    string `json:"name"`
	Device  string `json:"device"`
	Seq     uint64 `json:"seq"`
	Hash    string `json:"hash"`
	Message string `json:"message_hex"`
	Sig     string `json:"sig_hex"`
}

type enrollVector struct {
	Device    string `json:"device"`
	Secret    string `json:"secret_hex"`
	PublicKey string `json:"public_key_hex"`
	Message   string `json:"message_hex"` // what the HMAC is taken over
	MAC       string `json:"mac_hex"`
}

type vectors struct {
	About      []string        `json:"about"`
	ContentKey keyVector       `json:"content_key"`
	DeviceKey  keyVector       `json:"device_key"`
	Desired    []desiredVector `json:"desired"`
	Proofs     []proofVector   `json:"proof_records"`
	Heads      []headVector    `json:"heads"`
	Batch      string          `json:"batch"` // a ProofBatch of the chained records, as sent
	Enroll     []enrollVector  `json:"enroll"`
}

func seededKey(b byte) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = b + byte(i)
	}
	return ed25519.NewKeyFromSeed(seed)
}

func keyVec(k ed25519.PrivateKey) keyVector {
	pub := k.Public().(ed25519.PublicKey)
	return keyVector{Seed: hex.EncodeToString(k.Seed()), PublicKey: hex.EncodeToString(pub), PublicB64: EncodeKey(pub), KeyID: KeyID(pub)}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// buildVectors computes every known answer from fixed inputs.
func buildVectors(t *testing.T) vectors {
	content, device := seededKey(0x00), seededKey(0x20)
	v := vectors{
		About: []string{
			"GuardCast protocol v1 known answers; docs/protocol.md says how each is computed.",
			"Hex is lower case. Keys are Ed25519 (RFC 8032) from the seeds given; signatures are deterministic.",
			"Receipts, status, acks and hellos (apart from enroll_mac) are neither signed nor hashed.",
			"internal/protocol/vectors_test.go checks these in Go; testdata/verify_vectors.py again from the document alone.",
		},
		ContentKey: keyVec(content),
		DeviceKey:  keyVec(device),
	}

	// Desired states.
	item := Item{SHA256: strings.Repeat("83", 32), Size: 70, Kind: "text", Title: "反诈热线 96110", DurationMS: 4000}
	v1 := &DesiredState{V: 1, Device: "bank-01-door", Version: 7, IssuedAt: 1795000000, ExpiresAt: 1797592000,
		MediaURL: "https://controller:8443/media/", Playlists: []Playlist{{Name: "doorway", Output: OutputLED, Items: []Item{item}}}}
	v2 := *v1
	v2.Version = 8
	v2.Nodes = []string{"branch", "bank", "town"}
	v2.Schedule = &Schedule{TZ: "Asia/Shanghai", Outputs: []OutputPlan{{Output: OutputLED, Safe: []Item{item},
		Entries: []Entry{{ID: "hotline/doorway", Campaign: "hotline", Priority: 1, MinShare: 0.2,
			Dayparts: []Daypart{{Days: "mon-fri", Start: "09:00", End: "17:00"}}, Items: []EntryItem{{Item: item, ValidFrom: "2026-12-20", ValidUntil: "2026-12-26"}}}}}}}
	v2.Alerts = []Alert{{ID: "a-20261127-0001", Targets: []string{"town"}, Outputs: []string{OutputLED},
		Text: "警方提示：凡是要求转账到“安全账户”的都是诈骗！", IssuedAt: 1795748400, ExpiresAt: 1795755600, HoldMS: 15000}}
	future := bytes.Replace(mustMarshal(t, v1.ForCapability(CapabilityVersion)), []byte(`{"v":2,`),
		[]byte(`{"v":3,"night_dimming":{"from":"22:00","level":0.3},`), 1)
	future = bytes.Replace(future, []byte(`"version":7`), []byte(`"version":9`), 1)
	for _, d := range []struct {
		name    string
		payload []byte
	}{
		{"capability 1: plain playlists, as a deployed agent needs it", mustMarshal(t, v1.ForCapability(1))},
		{"capability 2: nodes, schedule and an alert", mustMarshal(t, v2.ForCapability(2))},
		{"from a controller of capability 3: v 3 and a field this build does not know", future},
	} {
		env := SealDesired(content, d.payload)
		var sd SignedDoc
		if err := json.Unmarshal(env, &sd); err != nil {
			t.Fatal(err)
		}
		keys := []ed25519.PublicKey{content.Public().(ed25519.PublicKey)}
		if _, err := OpenDesired(env, keys); err != nil {
			t.Fatalf("%s: this build refuses it: %v", d.name, err)
		}
		_, err := OpenDesiredAt(env, keys, 1)
		v.Desired = append(v.Desired, desiredVector{Name: d.name, Payload: string(d.payload),
			Message: hex.EncodeToString(DesiredMessage(d.payload)), Sig: hex.EncodeToString(sd.Sig),
			Envelope: string(env), Capability1: err == nil})
	}

	// A chain of three records, then one at the edges of the encoding.
	recs := []ProofRecord{
		{Device: "bank-01-door", Seq: 1, Prev: GenesisHash, Version: 7, Output: OutputLED, Playlist: "门口",
			MediaSHA256: strings.Repeat("83", 32), StartNS: 1795000123000000000, EndNS: 1795000127000000000, MonoNS: 4000012345,
			ClockSynced: true, Result: ResultPlayed},
		{Device: "bank-01-door", Seq: 2, Version: 7, Output: OutputPrinter, StartNS: 1795000127000000000,
			EndNS: 1795000127500000000, MonoNS: 500000000, Result: ResultFailed, Reason: "paper end"},
		{Device: "bank-01-door", Seq: 3, Version: 8, Output: OutputAudio, Playlist: "atm-voice", MediaSHA256: strings.Repeat("ab", 32),
			StartNS: 1795000130000000000, EndNS: 1795000135759000000, MonoNS: 5759000000, ClockSynced: true,
			Result: ResultPlayed, Reason: "unconfirmed: the printer cannot report status on this link"},
	}
	for i := 1; i < len(recs); i++ {
		recs[i].Prev = recs[i-1].Hash()
	}
	edge := ProofRecord{Device: "pi.0_x", Seq: 1, Prev: GenesisHash, Version: 1<<64 - 1, Output: OutputTV,
		StartNS: -1500000000, EndNS: -1, MonoNS: 0, Result: ResultPlayed}
	names := []string{"first record (seq 1, genesis prev, UTF-8 playlist)", "failed play, clock not synchronised, empty strings",
		"played with a note", "edges: negative times (two's complement), version 2^64-1"}
	for i, r := range append(append([]ProofRecord{}, recs...), edge) {
		if err := r.Validate(); err != nil {
			t.Fatalf("vector %d: %v", i, err)
		}
		v.Proofs = append(v.Proofs, proofVector{Name: names[i], Record: mustMarshal(t, r),
			Canonical: hex.EncodeToString(r.Canonical()), Hash: r.Hash()})
	}
	for _, h := range []struct {
		name string
		r    ProofRecord
	}{{"head of the chain (seq 3)", recs[2]}, {"head of the edge record", edge}} {
		v.Heads = append(v.Heads, headVector{Name: h.name, Device: h.r.Device, Seq: h.r.Seq, Hash: h.r.Hash(),
			Message: hex.EncodeToString(HeadMessage(h.r.Device, h.r.Seq, h.r.Hash())),
			Sig:     hex.EncodeToString(SignHead(device, h.r.Device, h.r.Seq, h.r.Hash()))})
	}
	batch := ProofBatch{V: Version, Device: "bank-01-door", Records: recs, HeadSig: SignHead(device, "bank-01-door", 3, recs[2].Hash())}
	if err := batch.Validate(); err != nil {
		t.Fatal(err)
	}
	v.Batch = string(mustMarshal(t, batch))

	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = 0xa0 + byte(i)
	}
	dpub := device.Public().(ed25519.PublicKey)
	v.Enroll = []enrollVector{{Device: "bank-01-door", Secret: hex.EncodeToString(secret), PublicKey: hex.EncodeToString(dpub),
		Message: hex.EncodeToString(append([]byte(domainEnroll+"bank-01-door\n"), dpub...)),
		MAC:     hex.EncodeToString(EnrollMAC(secret, "bank-01-door", dpub))}}
	return v
}

func TestKnownAnswers(t *testing.T) {
	v := buildVectors(t)
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(vectorsFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatalf("%v (run go test -run TestKnownAnswers -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < max(len(gl), len(wl)); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s line %d changed:\n got  %s\n want %s\nA signed or hashed byte changed: a new protocol version, or a mistake.", vectorsFile, i+1, g, w)
			}
		}
	}
	// The answers are right, not only stable: each signature verifies.
	cpub, _ := hex.DecodeString(v.ContentKey.PublicKey)
	for _, d := range v.Desired {
		msg, _ := hex.DecodeString(d.Message)
		sig, _ := hex.DecodeString(d.Sig)
		if !ed25519.Verify(cpub, msg, sig) {
			t.Errorf("desired %q: signature does not verify", d.Name)
		}
	}
	dpub, _ := hex.DecodeString(v.DeviceKey.PublicKey)
	for _, h := range v.Heads {
		sig, _ := hex.DecodeString(h.Sig)
		if !VerifyHead(dpub, h.Device, h.Seq, h.Hash, sig) {
			t.Errorf("head %q: signature does not verify", h.Name)
		}
	}
	for _, p := range v.Proofs {
		c, _ := hex.DecodeString(p.Canonical)
		if s := sha256.Sum256(c); hex.EncodeToString(s[:]) != p.Hash {
			t.Errorf("proof %q: hash is not SHA-256 of the canonical bytes", p.Name)
		}
	}
}

// TestKnownAnswersIndependently recomputes the answers with a verifier
// written in Python from docs/protocol.md alone: the document, not only
// the Go code, is exact.
func TestKnownAnswersIndependently(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	out, err := exec.Command(py, filepath.Join("testdata", "verify_vectors.py"), vectorsFile).CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("verify_vectors.py: %v", err)
	}
}
