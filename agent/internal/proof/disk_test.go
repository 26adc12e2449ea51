package proof

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/guardcast/guardcast/internal/protocol"
)

// smallDisk mounts a tmpfs of size bytes for the test, or skips it when
// this process may not mount.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a %s tmpfs here (%v: %s); the small-disk test needs root", size, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// used is what the file system holds, in bytes.
func used(t *testing.T, dir string) uint64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return (st.Blocks - st.Bfree) * uint64(st.Bsize)
}

// TestSmallDisk runs the outbox on a 2 MiB state disk: one play a second
// with receipts for a long time stays small; cut off, it fills the disk
// up to the headroom and then refuses to reserve, never failing an
// append it reserved for; when another writer takes the last byte, the
// spare carries the plays already started and the prune that frees
// space; once space is back, appends resume on an unbroken chain.
func TestSmallDisk(t *testing.T) {
	ctx := context.Background()
	dir := smallDisk(t, "2m")
	o := open(t, filepath.Join(dir, "outbox.db"))

	appendReserved := func(i int) protocol.ProofRecord {
		t.Helper()
		if err := o.Reserve(); err != nil {
			t.Fatalf("reserve %d: %v", i, err)
		}
		r, err := o.Append(ctx, rec(i))
		if err != nil {
			t.Fatalf("append %d after a successful reserve: %v", i, err)
		}
		return r
	}

	// Steady state: 5,000 plays (each well past any size the WAL or the
	// free list reach) with a receipt every five.
	var peak uint64
	for i := range 5_000 {
		r := appendReserved(i)
		if i%5 == 4 { // receipts come in batches
			if err := o.Prune(ctx, r.Seq, r.Hash()); err != nil {
				t.Fatal(err)
			}
		}
		if i%100 == 0 {
			peak = max(peak, used(t, dir))
		}
	}
	t.Logf("steady state: peak %d KiB on the file system (spare %d KiB included), %d KiB now",
		peak>>10, SpareBytes>>10, used(t, dir)>>10)
	if peak > 640<<10 {
		t.Fatalf("outbox used %d KiB at steady state, want under 640", peak>>10)
	}

	// Cut off: no receipts. The disk fills until Reserve refuses.
	held := 0
	for i := 0; ; i++ {
		if err := o.Reserve(); err != nil {
			if !errors.Is(err, ErrFull) {
				t.Fatal(err)
			}
			break
		}
		if _, err := o.Append(ctx, rec(i)); err != nil {
			t.Fatalf("append after a successful reserve, %d records in: %v", held, err)
		}
		held++
	}
	if o.Full() == nil {
		t.Fatal("Full reports nothing while Reserve refuses")
	}
	t.Logf("cut off: %d unreceipted records held before the disk was full", held)

	// Someone else takes the last byte between a reserve and its append.
	ballast := filepath.Join(dir, "ballast")
	f, err := os.Create(ballast)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	f.Close()
	r, err := o.Append(ctx, rec(0))
	if err != nil {
		t.Fatalf("append of a play already started, disk at 0 bytes: %v", err)
	}
	if err := o.Reserve(); !errors.Is(err, ErrFull) {
		t.Fatalf("reserve with the disk at zero: %v", err)
	}
	// Receipts arrive: the prune runs with the disk at zero, and what it
	// frees goes back to the file system.
	if err := o.Prune(ctx, r.Seq, r.Hash()); err != nil {
		t.Fatalf("prune on a full disk: %v", err)
	}
	if err := o.Reserve(); err != nil {
		t.Fatalf("reserve once the receipt freed space: %v", err)
	}
	os.Remove(ballast)
	if err := o.Reserve(); err != nil {
		t.Fatal(err)
	}
	if o.Full() != nil {
		t.Fatal("still full")
	}
	after := appendReserved(1)
	if after.Seq != r.Seq+1 || after.Prev != r.Hash() {
		t.Fatalf("chain after recovery: seq %d prev %s", after.Seq, after.Prev)
	}
	if _, err := os.Stat(o.sparePath()); err != nil {
		t.Fatalf("spare not restored: %v", err)
	}
	t.Logf("recovered: %d KiB in use", used(t, dir)>>10)
}

// TestOldOutboxConverted: an outbox made before disk use was bounded (no
// auto_vacuum) is converted on open, records and chain intact.
func TestOldOutboxConverted(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	old, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec(schema); err != nil {
		t.Fatal(err)
	}
	old.Close()
	o := open(t, path)
	r, err := o.Append(ctx, rec(1))
	if err != nil {
		t.Fatal(err)
	}
	var av int
	if err := o.db.QueryRow("PRAGMA auto_vacuum").Scan(&av); err != nil || av != 2 {
		t.Fatalf("auto_vacuum %d (%v), want 2 (incremental)", av, err)
	}
	o.Close()
	o2 := open(t, path)
	if p, err := o2.Pending(ctx, 0, 10); err != nil || len(p) != 1 || p[0] != r {
		t.Fatalf("after conversion: %v %+v", err, p)
	}
}
