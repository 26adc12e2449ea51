package store

import (
	"context"
	"errors"
	"testing"
)

func TestCapability(t *testing.T) {
	st, dir := open(t)
	ctx := context.Background()
	for _, id := range []string{"old-1", "new-1"} {
		if err := st.AddDevice(ctx, Device{ID: id, Role: RoleDevice, CredSalt: []byte{1}, CredHash: []byte{2}}); err != nil {
			t.Fatal(err)
		}
	}
	if c, err := st.Capability(ctx, "old-1"); err != nil || c != 1 {
		t.Fatalf("a device that never said: capability %d, %v; want 1", c, err)
	}
	rev, _ := st.Revision(ctx)
	if changed, err := st.SetCapability(ctx, "new-1", 2); err != nil || !changed {
		t.Fatalf("set: %v %v", changed, err)
	}
	if changed, err := st.SetCapability(ctx, "new-1", 2); err != nil || changed {
		t.Fatalf("set again: changed=%v %v", changed, err)
	}
	if r, _ := st.Revision(ctx); r != rev {
		t.Fatal("a capability change bumped the revision")
	}
	if _, err := st.SetCapability(ctx, "new-1", 0); err == nil {
		t.Fatal("capability 0 stored")
	}
	if _, err := st.Capability(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown device: %v", err)
	}
	st.Close()
	st, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	caps, err := st.Capabilities(ctx)
	if err != nil || caps["old-1"] != 1 || caps["new-1"] != 2 || len(caps) != 2 {
		t.Fatalf("after reopen: %v %v", caps, err)
	}
}
