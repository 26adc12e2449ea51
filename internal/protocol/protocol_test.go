package protocol

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseTopic(t *testing.T) {
	tests := []struct {
		name  string
		topic string
		want  Topic
		ok    bool
	}{
		{"desired", "gc/v1/dev/bank-01/down/desired", Topic{"bank-01", Down, TopicDesired}, true},
		{"proofs", "gc/v1/dev/atm.3/up/proofs", Topic{"atm.3", Up, TopicProofs}, true},
		{"wrong root", "gc/v2/dev/a/up/proofs", Topic{}, false},
		{"wildcard device", "gc/v1/dev/+/up/proofs", Topic{}, false},
		{"hash", "gc/v1/dev/#", Topic{}, false},
		{"unknown name", "gc/v1/dev/a/up/desired", Topic{}, false},
		{"extra level", "gc/v1/dev/a/up/proofs/x", Topic{}, false},
		{"upper case", "gc/v1/dev/A/up/proofs", Topic{}, false},
		{"dotdot", "gc/v1/dev/a..b/up/proofs", Topic{}, false},
		{"empty", "", Topic{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTopic(tt.topic)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseTopic(%q) err = %v, want ok=%v", tt.topic, err, tt.ok)
			}
			if tt.ok && got != tt.want {
				t.Fatalf("ParseTopic(%q) = %+v, want %+v", tt.topic, got, tt.want)
			}
			if !tt.ok && !errors.Is(err, ErrBadTopic) {
				t.Fatalf("error %v is not ErrBadTopic", err)
			}
		})
	}
}

func TestACLRules(t *testing.T) {
	tests := []struct {
		name      string
		id, topic string
		pub, sub  bool
	}{
		{"own uplink", "a", UpTopic("a", TopicProofs), true, false},
		{"own downlink", "a", DownTopic("a", TopicDesired), false, true},
		{"own down filter", "a", DownFilter("a"), false, true},
		{"other's uplink", "a", UpTopic("b", TopicProofs), false, false},
		{"other's downlink", "a", DownTopic("b", TopicDesired), false, false},
		{"everything", "a", "#", false, false},
		{"all devices", "a", "gc/v1/dev/+/down/+", false, false},
		{"shared", "a", "$share/g/" + UpTopic("a", TopicProofs), false, false},
		{"sys", "a", "$SYS/#", false, false},
		{"own up filter", "a", "gc/v1/dev/a/up/+", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MayDevicePublish(tt.id, tt.topic); got != tt.pub {
				t.Errorf("MayDevicePublish(%q, %q) = %v", tt.id, tt.topic, got)
			}
			if got := MayDeviceSubscribe(tt.id, tt.topic); got != tt.sub {
				t.Errorf("MayDeviceSubscribe(%q, %q) = %v", tt.id, tt.topic, got)
			}
		})
	}
}

func testDesired() *DesiredState {
	return &DesiredState{
		V: Version, Device: "bank-01", Version: 3, IssuedAt: 1000, ExpiresAt: 2000,
		Playlists: []Playlist{{Name: "door", Output: OutputLED, Items: []Item{{
			SHA256: strings.Repeat("ab", 32), Size: 10, Kind: "text", DurationMS: 5000,
		}}}},
	}
}

func TestSignedDesired(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	otherPub, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	raw, err := SignDesired(priv, testDesired())
	if err != nil {
		t.Fatal(err)
	}
	d, err := OpenDesired(raw, []ed25519.PublicKey{otherPub, pub})
	if err != nil {
		t.Fatalf("OpenDesired: %v", err)
	}
	if d.Version != 3 || d.Playlists[0].Items[0].DurationMS != 5000 {
		t.Fatalf("round trip lost data: %+v", d)
	}
	if _, err := OpenDesired(raw, []ed25519.PublicKey{otherPub}); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("untrusted key: err = %v, want ErrWrongKey", err)
	}
	// Same key id, different signer: a forged envelope claiming the office key.
	forged, _ := SignDesired(otherPriv, testDesired())
	var doc SignedDoc
	_ = json.Unmarshal(forged, &doc)
	doc.KeyID = KeyID(pub)
	forged, _ = json.Marshal(doc)
	if _, err := OpenDesired(forged, []ed25519.PublicKey{pub}); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged: err = %v, want ErrBadSignature", err)
	}
	// A tampered payload: version bumped after signing.
	_ = json.Unmarshal(raw, &doc)
	doc.Payload = []byte(strings.Replace(string(doc.Payload), `"version":3`, `"version":4`, 1))
	tampered, _ := json.Marshal(doc)
	if _, err := OpenDesired(tampered, []ed25519.PublicKey{pub}); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered: err = %v, want ErrBadSignature", err)
	}
}

func chain(t *testing.T, n int) []ProofRecord {
	t.Helper()
	prev := GenesisHash
	var out []ProofRecord
	for i := 1; i <= n; i++ {
		r := ProofRecord{Device: "atm-1", Seq: uint64(i), Prev: prev, Version: 1, Output: OutputAudio,
			MediaSHA256: strings.Repeat("cd", 32), StartNS: int64(i) * 1e9, EndNS: int64(i)*1e9 + 5e8,
			MonoNS: 5e8, ClockSynced: true, Result: ResultPlayed}
		prev = r.Hash()
		out = append(out, r)
	}
	return out
}

func TestProofBatch(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	recs := chain(t, 5)
	last := recs[4]
	b := ProofBatch{V: Version, Device: "atm-1", Records: recs, HeadSig: SignHead(priv, "atm-1", last.Seq, last.Hash())}
	raw, _ := json.Marshal(b)
	var got ProofBatch
	if err := Decode(raw, &got); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	gl := got.Records[4]
	if !VerifyHead(pub, "atm-1", gl.Seq, gl.Hash(), got.HeadSig) {
		t.Fatal("head signature does not verify after a round trip")
	}
	// Any edit to an earlier record breaks the chain.
	bad := got
	bad.Records = append([]ProofRecord(nil), got.Records...)
	bad.Records[1].Reason = "x"
	if err := bad.Validate(); err == nil {
		t.Fatal("edited record passed Validate")
	}
	// A gap breaks it too.
	gap := got
	gap.Records = append(append([]ProofRecord(nil), got.Records[:2]...), got.Records[3:]...)
	if err := gap.Validate(); err == nil {
		t.Fatal("gap passed Validate")
	}
	// The head signature is bound to the device and seq.
	if VerifyHead(pub, "atm-2", gl.Seq, gl.Hash(), got.HeadSig) || VerifyHead(pub, "atm-1", gl.Seq+1, gl.Hash(), got.HeadSig) {
		t.Fatal("head signature verified for another device or seq")
	}
}

func TestDecodeStrict(t *testing.T) {
	for _, in := range []string{
		`{"v":1,"device":"a","through":0,"head":"","extra":1}`,
		`{"v":1,"device":"a","through":0,"head":""} {}`,
		`{"v":2,"device":"a","through":0,"head":""}`,
		`not json`,
		strings.Repeat(" ", MaxPayload+1),
	} {
		var r Receipt
		if err := Decode([]byte(in), &r); err == nil {
			t.Errorf("Decode(%.40q) accepted", in)
		}
	}
}

func TestCanonicalDistinguishesFields(t *testing.T) {
	a := chain(t, 1)[0]
	b := a
	// Moving a byte between adjacent string fields must change the hash.
	a.Output, a.Playlist = "led", "x"
	b.Output, b.Playlist = "ledx", ""
	if a.Hash() == b.Hash() {
		t.Fatal("length prefixes do not separate fields")
	}
}

func FuzzDecodeProofBatch(f *testing.F) {
	recs := make([]ProofRecord, 0)
	prev := GenesisHash
	for i := 1; i <= 2; i++ {
		r := ProofRecord{Device: "d", Seq: uint64(i), Prev: prev, Output: OutputLED, Result: ResultPlayed}
		prev = r.Hash()
		recs = append(recs, r)
	}
	seed, _ := json.Marshal(ProofBatch{V: 1, Device: "d", Records: recs, HeadSig: make([]byte, 64)})
	f.Add(seed)
	f.Add([]byte(`{"v":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var pb ProofBatch
		_ = Decode(b, &pb)
		var sd SignedDoc
		_ = Decode(b, &sd)
		_, _ = OpenDesired(b, nil)
		var h Hello
		_ = Decode(b, &h)
	})
}
