package daemon

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guardcast/guardcast/internal/protocol"
)

// newerDoc is a desired state as a controller one capability ahead of
// this agent writes it: "v" above ours and fields we do not know, at the
// top level and inside a playlist item. It is signed over exactly these
// bytes (no re-encoding could keep the unknown fields).
func (e *env) newerDoc(version uint64, items ...protocol.Item) []byte {
	e.t.Helper()
	now := e.clk.Now().Unix()
	b, err := json.Marshal(protocol.DesiredState{
		V: protocol.CapabilityVersion + 1, Device: dev, Version: version, IssuedAt: now - 60, ExpiresAt: now + 86400,
		Playlists: []protocol.Playlist{{Name: "door", Output: protocol.OutputLED, Items: items}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	b = bytes.Replace(b, []byte(`{"v":`), []byte(`{"night_dimming":{"from":"22:00","level":0.3},"v":`), 1)
	b = bytes.Replace(b, []byte(`"kind":"text"`), []byte(`"kind":"text","loudness_lufs":-23`), 1)
	return protocol.SealDesired(e.key, b)
}

func TestAgentAdoptsDocumentFromNewerController(t *testing.T) {
	e := newEnv(t)
	a := e.item("A")
	r := e.start()
	defer func() { r.stop(t) }()
	h := recv(t, e.hellos)
	c := &chain{records: map[uint64]protocol.ProofRecord{}}
	var hello protocol.Hello
	if err := protocol.Decode(h.Payload, &hello); err != nil {
		t.Fatal(err)
	}
	c.pub = hello.PublicKey

	// Correctly signed, with fields this agent does not know: adopted and
	// played, the unknown fields ignored.
	doc := e.newerDoc(1, a)
	e.publishDesired(doc)
	waitFor(t, "the newer controller's document adopted", func() bool { return r.d.HeldVersion() == 1 })
	e.drive(c, func() bool { return c.last >= 1 })
	if p := c.records[1]; p.Version != 1 || p.MediaSHA256 != a.SHA256 || p.Result != protocol.ResultPlayed {
		t.Fatalf("first play: %+v", p)
	}

	// The same kind of document with a bad signature is refused; version 1
	// keeps playing.
	bad := e.newerDoc(2, e.item("scam"))
	var env protocol.SignedDoc
	if err := json.Unmarshal(bad, &env); err != nil {
		t.Fatal(err)
	}
	env.Sig[0] ^= 1
	bad, _ = json.Marshal(env)
	e.publishDesired(bad)
	s := lastStatus(t, e.statuses, func(s protocol.Status) bool { return s.Refused != "" })
	if s.Version != 1 || !strings.Contains(s.Refused, "signature does not verify") {
		t.Fatalf("status after a bad signature: %+v", s)
	}
	before := c.last
	e.drive(c, func() bool { return c.last >= before+1 })
	if p := c.records[c.last]; p.Version != 1 || p.MediaSHA256 != a.SHA256 {
		t.Fatalf("after the refused document: %+v", p)
	}

	// The held document is the envelope as received, and it still opens
	// after a restart.
	if held, err := os.ReadFile(filepath.Join(e.state, DesiredFile)); err != nil || !bytes.Equal(held, doc) {
		t.Fatalf("held document is not the envelope received: %v", err)
	}
	r.stop(t)
	r2 := e.start()
	if r2.d.HeldVersion() != 1 {
		t.Fatalf("held version after restart: %d", r2.d.HeldVersion())
	}
	r = r2
}
