package proof

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/guardcast/guardcast/internal/protocol"
)

const dev = "bank-01"

func rec(i int) protocol.ProofRecord {
	return protocol.ProofRecord{
		Version:     3,
		Output:      protocol.OutputLED,
		Playlist:    "door",
		MediaSHA256: fmt.Sprintf("%064x", i),
		StartNS:     int64(i) * 1e9,
		EndNS:       int64(i)*1e9 + 5e8,
		MonoNS:      5e8,
		ClockSynced: i%2 == 0,
		Result:      protocol.ResultPlayed,
	}
}

func open(t testing.TB, path string) *Outbox {
	t.Helper()
	o, err := Open(path, dev)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// checkChain verifies that rs are contiguous from first and each links to
// the one before (prev is the hash before first).
func checkChain(t *testing.T, rs []protocol.ProofRecord, first uint64, prev string) {
	t.Helper()
	for i, r := range rs {
		if r.Seq != first+uint64(i) {
			t.Fatalf("record %d has seq %d, want %d", i, r.Seq, first+uint64(i))
		}
		if r.Prev != prev {
			t.Fatalf("record %d: prev %s, want %s", r.Seq, r.Prev, prev)
		}
		if err := r.Validate(); err != nil {
			t.Fatal(err)
		}
		prev = r.Hash()
	}
}

func TestAppendChainsAndPrunes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	o := open(t, path)
	var got []protocol.ProofRecord
	for i := 0; i < 10; i++ {
		r, err := o.Append(ctx, rec(i))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	checkChain(t, got, 1, protocol.GenesisHash)
	pend, err := o.Pending(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	checkChain(t, pend, 1, protocol.GenesisHash)
	if s := o.Stats(); s.NextSeq != 11 || s.Unreceipted != 10 {
		t.Fatalf("stats %+v", s)
	}
	if p, _ := o.Pending(ctx, 7, 2); len(p) != 2 || p[0].Seq != 8 {
		t.Fatalf("pending after 7 limit 2: %+v", p)
	}

	if err := o.Prune(ctx, 4, got[2].Hash()); !errors.Is(err, ErrReceiptMismatch) {
		t.Fatalf("prune with wrong head: %v", err)
	}
	if err := o.Prune(ctx, 11, got[9].Hash()); !errors.Is(err, ErrReceiptAhead) {
		t.Fatalf("prune ahead: %v", err)
	}
	if err := o.Prune(ctx, 4, got[3].Hash()); err != nil {
		t.Fatal(err)
	}
	if err := o.Prune(ctx, 4, got[3].Hash()); err != nil { // repeated receipt
		t.Fatal(err)
	}
	if err := o.Prune(ctx, 2, "whatever"); err != nil { // already pruned: no-op
		t.Fatal(err)
	}
	if s := o.Stats(); s.Unreceipted != 6 {
		t.Fatalf("stats after prune %+v", s)
	}
	if err := o.Prune(ctx, 10, got[9].Hash()); err != nil {
		t.Fatal(err)
	}
	// Everything pruned: the tail hash is still checked, seqs continue.
	if err := o.Prune(ctx, 10, got[8].Hash()); !errors.Is(err, ErrReceiptMismatch) {
		t.Fatalf("prune of pruned tail with wrong head: %v", err)
	}
	o.Close()

	o2 := open(t, path)
	if s := o2.Stats(); s.NextSeq != 11 || s.Unreceipted != 0 || s.LastHash != got[9].Hash() {
		t.Fatalf("stats after reopen %+v", s)
	}
	r, err := o2.Append(ctx, rec(11))
	if err != nil {
		t.Fatal(err)
	}
	if r.Seq != 11 || r.Prev != got[9].Hash() {
		t.Fatalf("append after full prune: seq %d prev %s", r.Seq, r.Prev)
	}
}

func TestRefusesOtherDeviceAndBadRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	o := open(t, path)
	r := rec(1)
	r.Device = "other"
	if _, err := o.Append(context.Background(), r); err == nil {
		t.Fatal("appended another device's record")
	}
	r = rec(1)
	r.Result = protocol.ResultFailed // no reason
	if _, err := o.Append(context.Background(), r); err == nil {
		t.Fatal("appended an invalid record")
	}
	if s := o.Stats(); s.NextSeq != 1 {
		t.Fatalf("a refused append consumed a seq: %+v", s)
	}
	o.Close()
	if _, err := Open(path, "other"); err == nil {
		t.Fatal("opened another device's outbox")
	}
}

const crashEnv = "GUARDCAST_PROOF_CRASH_CHILD"

// TestCrashChild is the child half of TestSIGKILLWhileAppending: it appends
// forever, printing each committed seq.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("only runs as a subprocess")
	}
	o, err := Open(path, dev)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		r, err := o.Append(context.Background(), rec(i))
		if err != nil {
			fmt.Fprintln(w, "error", err)
			w.Flush()
			os.Exit(2)
		}
		fmt.Fprintln(w, r.Seq)
		w.Flush()
	}
}

func TestSIGKILLWhileAppending(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a subprocess")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	for round := 0; round < 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		var last uint64
		var lines int
		deadline := time.Now().Add(20 * time.Second)
		for sc.Scan() {
			n, err := strconv.ParseUint(sc.Text(), 10, 64)
			if err != nil {
				t.Fatalf("child said %q", sc.Text())
			}
			last = n
			lines++
			if lines == 150+round*37 || time.Now().After(deadline) {
				break
			}
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		// Drain anything the child committed and printed before it died.
		for sc.Scan() {
			if n, err := strconv.ParseUint(sc.Text(), 10, 64); err == nil {
				last = n
			}
		}
		cmd.Wait()
		if last == 0 {
			t.Fatal("child committed nothing")
		}

		o, err := Open(path, dev)
		if err != nil {
			t.Fatal(err)
		}
		all, err := o.Pending(ctx, 0, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		checkChain(t, all, 1, protocol.GenesisHash)
		if uint64(len(all)) < last {
			t.Fatalf("round %d: child reported seq %d committed, outbox holds %d", round, last, len(all))
		}
		s := o.Stats()
		if s.NextSeq != uint64(len(all))+1 || s.LastHash != all[len(all)-1].Hash() {
			t.Fatalf("stats %+v after %d records", s, len(all))
		}
		r, err := o.Append(ctx, rec(0))
		if err != nil {
			t.Fatal(err)
		}
		if r.Seq != uint64(len(all))+1 || r.Prev != all[len(all)-1].Hash() {
			t.Fatalf("next append seq %d prev %s", r.Seq, r.Prev)
		}
		t.Logf("round %d: child reported %d, outbox holds %d (+1)", round, last, len(all))
		o.Close()
	}
}

func BenchmarkAppend(b *testing.B) {
	o := open(b, filepath.Join(b.TempDir(), "outbox.db"))
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := o.Append(ctx, rec(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}
