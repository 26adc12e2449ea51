package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/guardcast/guardcast/internal/protocol"
)

func open(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, dir
}

func TestMigrationsApplyOnce(t *testing.T) {
	st, dir := open(t)
	ctx := context.Background()
	if err := st.AddDevice(ctx, Device{ID: "a", CredSalt: []byte{1}, CredHash: []byte{2}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st2, err := Open(ctx, dir)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer st2.Close()
	if _, err := st2.Device(ctx, "a"); err != nil {
		t.Fatalf("device lost across reopen: %v", err)
	}
}

func TestDevices(t *testing.T) {
	st, _ := open(t)
	ctx := context.Background()
	d := Device{ID: "bank-1", Site: "s", CredSalt: []byte{1}, CredHash: []byte{2}, EnrollSecret: []byte("secret")}
	if err := st.AddDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := st.AddDevice(ctx, d); !errors.Is(err, ErrExists) {
		t.Fatalf("second add: %v, want ErrExists", err)
	}
	if _, err := st.Device(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing device: %v", err)
	}
	// The key pins once; the secret is gone with it.
	if ok, err := st.PinKey(ctx, "bank-1", []byte("key-1")); !ok || err != nil {
		t.Fatalf("first pin: %v %v", ok, err)
	}
	if ok, _ := st.PinKey(ctx, "bank-1", []byte("key-2")); ok {
		t.Fatal("second pin replaced the key")
	}
	got, _ := st.Device(ctx, "bank-1")
	if string(got.PubKey) != "key-1" || got.EnrollSecret != nil {
		t.Fatalf("after pin: key %q secret %q", got.PubKey, got.EnrollSecret)
	}
	// Reset keeps nothing pinned and issues a new secret.
	if err := st.ResetEnrollment(ctx, "bank-1", []byte("new")); err != nil {
		t.Fatal(err)
	}
	if ok, _ := st.PinKey(ctx, "bank-1", []byte("key-3")); !ok {
		t.Fatal("pin after reset refused")
	}
	// Desired versions only go up.
	if err := st.SetDesired(ctx, "bank-1", 2, "h", []byte("doc"), 1, 2); err != nil {
		t.Fatal(err)
	}
	if err := st.SetDesired(ctx, "bank-1", 2, "h2", []byte("doc2"), 1, 2); err == nil {
		t.Fatal("same version stored twice")
	}
	if err := st.SetDesired(ctx, "bank-1", 1, "h2", []byte("doc2"), 1, 2); err == nil {
		t.Fatal("older version stored")
	}
}

func TestMediaLookup(t *testing.T) {
	st, _ := open(t)
	ctx := context.Background()
	a := strings.Repeat("ab", 32)
	b := "abab" + strings.Repeat("cd", 30)
	for _, m := range []Media{{SHA256: a, Kind: "text", Name: "one.txt", Size: 1}, {SHA256: b, Kind: "text", Name: "two.txt", Size: 1}} {
		if err := st.PutMedia(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		ref, want string
		ok        bool
	}{
		{"one.txt", a, true},
		{a, a, true},
		{"ababcdcd", b, true},
		{"abababab", a, true},
		{"abab", "", false},   // too short for a prefix, not a name
		{"ababab", "", false}, // ditto
		{"missing.txt", "", false},
	}
	for _, tt := range tests {
		m, err := st.Media(ctx, tt.ref)
		if (err == nil) != tt.ok || (tt.ok && m.SHA256 != tt.want) {
			t.Errorf("Media(%q) = %s, %v", tt.ref, m.SHA256, err)
		}
	}
	if err := st.PutMedia(ctx, Media{SHA256: "ababcdcd" + strings.Repeat("ef", 28), Kind: "text", Name: "three.txt", Size: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Media(ctx, "ababcdcd"); err == nil || !strings.Contains(err.Error(), "ambiguous") {
		t.Errorf("ambiguous prefix: %v", err)
	}
}

func TestPlaylistsAndAssignments(t *testing.T) {
	st, _ := open(t)
	ctx := context.Background()
	st.AddDevice(ctx, Device{ID: "d", CredSalt: []byte{1}, CredHash: []byte{2}})
	sha := strings.Repeat("12", 32)
	st.PutMedia(ctx, Media{SHA256: sha, Kind: "text", Name: "a.txt", Size: 3})
	rev0, _ := st.Revision(ctx)
	if err := st.CreatePlaylist(ctx, Playlist{Name: "p", Output: "led", Items: []PlaylistItem{{SHA256: sha, DurationMS: 1000}, {SHA256: sha, DurationMS: 2000}}}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreatePlaylist(ctx, Playlist{Name: "p", Output: "tv", Items: []PlaylistItem{{SHA256: sha, DurationMS: 1000}}}); err == nil {
		t.Fatal("playlist changed output")
	}
	if err := st.AssignPlaylist(ctx, "p", "d"); err != nil {
		t.Fatal(err)
	}
	if err := st.AssignPlaylist(ctx, "p", "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("assign to unknown device: %v", err)
	}
	if err := st.AssignPlaylist(ctx, "nothing", "d"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("assign unknown playlist: %v", err)
	}
	items, err := st.Assigned(ctx, "d")
	if err != nil || len(items) != 2 || items[1].DurationMS != 2000 {
		t.Fatalf("assigned %+v %v", items, err)
	}
	// Re-creating is refused and says how to edit; editing replaces items.
	if err := st.CreatePlaylist(ctx, Playlist{Name: "p", Output: "led", Items: []PlaylistItem{{SHA256: sha, DurationMS: 500}}}); !errors.Is(err, ErrExists) ||
		!strings.Contains(err.Error(), "playlist edit p") {
		t.Fatalf("re-create: %v", err)
	}
	if err := st.EditPlaylist(ctx, Playlist{Name: "p", Items: []PlaylistItem{{SHA256: sha, DurationMS: 500}}}); err != nil {
		t.Fatal(err)
	}
	items, _ = st.Assigned(ctx, "d")
	if len(items) != 1 || items[0].DurationMS != 500 {
		t.Fatalf("after edit: %+v", items)
	}
	if rev, _ := st.Revision(ctx); rev <= rev0 {
		t.Fatalf("revision did not move: %d -> %d", rev0, rev)
	}
}

func TestCommitProofsIsIdempotent(t *testing.T) {
	st, _ := open(t)
	ctx := context.Background()
	st.AddDevice(ctx, Device{ID: "d", CredSalt: []byte{1}, CredHash: []byte{2}})
	r := ProofRow{ProofRecord: protocol.ProofRecord{Device: "d", Seq: 1, Prev: protocol.GenesisHash, Output: "led", Result: "played"}, Hash: "h1"}
	c := ProofCommit{Rows: []ProofRow{r}, Heads: map[string]Head{"d": {1, "h1"}}}
	for i := 0; i < 3; i++ {
		if err := st.CommitProofs(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	st.Proofs(ctx, ProofFilter{}, func(ProofRow) error { n++; return nil })
	if n != 1 {
		t.Fatalf("%d rows after three identical commits", n)
	}
	if h, err := st.ProofHash(ctx, "d", 1); err != nil || h != "h1" {
		t.Fatalf("ProofHash = %q, %v", h, err)
	}
	d, _ := st.Device(ctx, "d")
	if d.LastSeq != 1 || d.LastHash != "h1" {
		t.Fatalf("head %d %s", d.LastSeq, d.LastHash)
	}
	// Heads never move backwards.
	st.CommitProofs(ctx, ProofCommit{Heads: map[string]Head{"d": {0, "x"}}})
	if d, _ := st.Device(ctx, "d"); d.LastSeq != 1 {
		t.Fatalf("head moved back to %d", d.LastSeq)
	}
}
