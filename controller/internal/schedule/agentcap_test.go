package schedule

import (
	"context"
	"crypto/ed25519"
	"testing"

	"github.com/guardcast/guardcast/internal/protocol"
)

// TestDocumentsFollowAgentCapability: a device that never announced a
// capability (a deployed agent) gets documents it accepts under the
// capability-1 rules (strict, "v": 1); one that announces capability 2 is
// re-signed for it, and a downgrade is re-signed back.
func TestDocumentsFollowAgentCapability(t *testing.T) {
	f := bank(t)
	ctx := context.Background()
	keys := []ed25519.PublicKey{f.key.Public().(ed25519.PublicKey)}
	docs, err := f.comp.RefreshAll(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		ds, err := protocol.OpenDesiredAt(d.Doc, keys, 1)
		if err != nil {
			t.Fatalf("%s: a capability-1 agent refuses its document: %v", d.Device, err)
		}
		if ds.V != 1 {
			t.Fatalf("%s: v %d", d.Device, ds.V)
		}
	}

	// atm-1's agent is upgraded: its next hello says capability 2.
	if _, err := f.st.SetCapability(ctx, "atm-1", 2); err != nil {
		t.Fatal(err)
	}
	doc, version, changed, err := f.comp.Refresh(ctx, "atm-1")
	if err != nil || !changed || version != 2 {
		t.Fatalf("after the upgrade: version %d changed %v err %v", version, changed, err)
	}
	ds, err := protocol.OpenDesiredAt(doc, keys, 2)
	if err != nil || ds.V != 2 {
		t.Fatalf("capability-2 document: v %v err %v", ds, err)
	}
	if _, _, changed, _ := f.comp.Refresh(ctx, "atm-1"); changed {
		t.Fatal("re-signed again with nothing changed")
	}
	if docs, _ := f.comp.RefreshAll(ctx, false); len(docs) != 0 {
		t.Fatalf("a fleet pass re-signed %d documents with nothing changed", len(docs))
	}
	if pre, err := f.comp.Desired(ctx, "atm-1"); err != nil || pre.V != 2 || pre.Version != 2 {
		t.Fatalf("preview: %+v %v", pre, err)
	}

	// A re-imaged card with an old agent: back to documents it accepts.
	if _, err := f.st.SetCapability(ctx, "atm-1", 1); err != nil {
		t.Fatal(err)
	}
	docs, err = f.comp.RefreshAll(ctx, false)
	if err != nil || len(docs) != 1 || docs[0].Device != "atm-1" || docs[0].Version != 3 {
		t.Fatalf("after the downgrade: %+v %v", docs, err)
	}
	if ds, err := protocol.OpenDesiredAt(docs[0].Doc, keys, 1); err != nil || ds.V != 1 {
		t.Fatalf("after the downgrade a capability-1 agent gets %v, %v", ds, err)
	}

	// An agent from the future gets what this controller knows.
	if _, err := f.st.SetCapability(ctx, "door-1", protocol.CapabilityVersion+3); err != nil {
		t.Fatal(err)
	}
	doc, _, _, err = f.comp.Refresh(ctx, "door-1")
	if err != nil {
		t.Fatal(err)
	}
	if ds := f.open(t, doc); ds.V != protocol.CapabilityVersion {
		t.Fatalf("future agent: v %d", ds.V)
	}
}
