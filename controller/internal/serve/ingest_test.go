package serve

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/guardcast/guardcast/controller/internal/report"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/protocol"
)

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("GUARDCAST_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func openStore(t testing.TB, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func verifyAll(t testing.TB, dir string) []report.DeviceResult {
	t.Helper()
	res, err := report.Verify(context.Background(), openStore(t, dir), "")
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func countProofs(t testing.TB, dir string) int {
	t.Helper()
	n := 0
	if err := openStore(t, dir).Proofs(context.Background(), store.ProofFilter{}, func(store.ProofRow) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBurstIsLossless: many agents dump everything at once with no window.
// Every record must be committed exactly once and receipted, and every
// chain must verify — losslessness comes from backpressure and receipts,
// not from the broker's queues.
func TestBurstIsLossless(t *testing.T) {
	const agents, perAgent = 20, 3000
	if testing.Short() {
		t.Skip("burst test in -short mode")
	}
	c := startController(t, t.TempDir(), Config{})
	defer c.stop(t)
	fl := fleetOf(t, c, agents, "burst")
	done := make(chan struct{})
	for _, a := range fl {
		a.generate(perAgent)
		go func() {
			defer func() { done <- struct{}{} }()
			a.send(t, 200, 0, 5*time.Second, 2*time.Minute)
		}()
	}
	for range fl {
		<-done
	}
	for _, a := range fl {
		a.close()
	}
	if n := countProofs(t, c.dir); n != agents*perAgent {
		t.Fatalf("stored %d records, want %d", n, agents*perAgent)
	}
	for _, r := range verifyAll(t, c.dir) {
		if !r.OK() || r.Records != perAgent {
			t.Errorf("%s: %d records, problems %v", r.Device, r.Records, r.Problems)
		}
	}
}

// TestIngestRefusesAndFlags covers what ingestion must not simply accept.
func TestIngestRefusesAndFlags(t *testing.T) {
	c := startController(t, t.TempDir(), Config{})
	defer c.stop(t)
	fl := fleetOf(t, c, 3, "flag")
	dup, gap, forger := fl[0], fl[1], fl[2]
	defer func() {
		for _, a := range fl {
			a.close()
		}
	}()

	// 1. The same batch three times, then an overlapping one: no duplicates.
	dup.generate(30)
	for i := 0; i < 3; i++ {
		dup.publish(t, protocol.TopicProofs, dup.batch(1, 20))
	}
	dup.publish(t, protocol.TopicProofs, dup.batch(11, 30))
	waitReceipt(t, dup, 30)

	// 2. A gap: records 1..5, then 9..12 (6..8 "deleted on the device").
	gap.generate(12)
	gap.publish(t, protocol.TopicProofs, gap.batch(1, 5))
	waitReceipt(t, gap, 5)
	gap.publish(t, protocol.TopicProofs, gap.batch(9, 12))
	waitReceipt(t, gap, 12)

	// 3. A batch signed by another key: not stored, a finding, no receipt.
	forger.generate(5)
	good := forger.key
	forger.key = dup.key
	forger.publish(t, protocol.TopicProofs, forger.batch(1, 5))
	forger.key = good
	// 4. Malformed payloads: dropped, and the pipeline keeps going.
	forger.publish(t, protocol.TopicProofs, []byte(`{"v":1,"device":"flag-0002","records":[{"seq":"x"}]}`))
	forger.publish(t, protocol.TopicProofs, bytes.Repeat([]byte("A"), 5000))
	forger.publish(t, protocol.TopicHello, []byte(`not json`))
	forger.publish(t, protocol.TopicStatus, []byte(`{"v":1,"device":"flag-0001","online":true}`)) // names another device
	time.Sleep(300 * time.Millisecond)
	if got := forger.receipted.Load(); got != 0 {
		t.Fatalf("forged batch was receipted through %d", got)
	}
	// ...and the genuine batch afterwards still goes through.
	forger.publish(t, protocol.TopicProofs, forger.batch(1, 5))
	waitReceipt(t, forger, 5)

	// 5. Same seq, different content: a conflict finding, first one kept.
	orig := dup.recs
	dup.recs = append([]protocol.ProofRecord(nil), orig...)
	dup.recs[29].Reason = "edited"
	dup.recs[29].Result = protocol.ResultFailed
	dup.publish(t, protocol.TopicProofs, dup.batch(30, 30))
	dup.recs = orig
	time.Sleep(300 * time.Millisecond)

	if n := countProofs(t, c.dir); n != 30+9+5 {
		t.Errorf("stored %d records, want %d", n, 30+9+5)
	}
	findings, err := openStore(t, c.dir).Findings(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, f := range findings {
		kinds[f.Device+" "+f.Kind] = f.Detail
	}
	for _, want := range []string{"flag-0001 " + store.FindingGap, "flag-0002 " + store.FindingBadSignature, "flag-0000 " + store.FindingConflict} {
		if _, ok := kinds[want]; !ok {
			t.Errorf("no finding %q; have %v", want, kinds)
		}
	}
	res := map[string]report.DeviceResult{}
	for _, r := range verifyAll(t, c.dir) {
		res[r.Device] = r
	}
	if !res["flag-0000"].OK() || !res["flag-0002"].OK() {
		t.Errorf("clean chains failed verification: %v %v", res["flag-0000"].Problems, res["flag-0002"].Problems)
	}
	if r := res["flag-0001"]; r.OK() || !strings.Contains(r.Problems[0].What, "gap") {
		t.Errorf("gap not reported by verify: %+v", r)
	}
}

func waitReceipt(t testing.TB, a *simAgent, through uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for a.receipted.Load() < through {
		if time.Now().After(deadline) {
			t.Fatalf("%s: receipted through %d, want %d", a.cfg.Device, a.receipted.Load(), through)
		}
		select {
		case <-a.rcptCh:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestTamperedRowIsCaught: an insider edits a committed row; verify names it.
func TestTamperedRowIsCaught(t *testing.T) {
	c := startController(t, t.TempDir(), Config{})
	a := fleetOf(t, c, 1, "tamper")[0]
	a.generate(10)
	a.send(t, 4, 0, 2*time.Second, 30*time.Second)
	a.close()
	c.stop(t)
	st := openStore(t, c.dir)
	ctx := context.Background()
	if err := st.Exec(ctx, `UPDATE proofs SET result = 'failed', reason = 'paper out' WHERE device = 'tamper-0000' AND seq = 6`); err != nil {
		t.Fatal(err)
	}
	res, err := report.Verify(ctx, st, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].OK() || res[0].Problems[0].Seq != 6 {
		t.Fatalf("tampered row not caught at seq 6: %+v", res)
	}
	// Rewriting the stored hash too moves the failure to the link after it.
	h := protocol.ProofRecord{}
	_ = st.Proofs(ctx, store.ProofFilter{Device: "tamper-0000"}, func(r store.ProofRow) error {
		if r.Seq == 6 {
			h = r.ProofRecord
		}
		return nil
	})
	if err := st.Exec(ctx, `UPDATE proofs SET hash = ? WHERE device = 'tamper-0000' AND seq = 6`, h.Hash()); err != nil {
		t.Fatal(err)
	}
	res, _ = report.Verify(ctx, st, "")
	if res[0].OK() || res[0].Problems[0].Seq != 7 {
		t.Fatalf("re-hashed tampered row not caught at seq 7: %+v", res[0].Problems)
	}
}

// TestBrokerSurvivesGarbage: raw junk on the MQTT port leaves the
// controller serving.
func TestBrokerSurvivesGarbage(t *testing.T) {
	c := startController(t, t.TempDir(), Config{})
	defer c.stop(t)
	host := strings.TrimPrefix(c.ep.BrokerURL, "tcp://")
	for _, junk := range [][]byte{
		{0x10, 0xff, 0xff, 0xff, 0xff, 0x7f}, // CONNECT with an impossible length
		{0x30, 0x02, 0x00},                   // PUBLISH before CONNECT
		bytes.Repeat([]byte{0xff}, 64),
	} {
		conn, err := net.DialTimeout("tcp", host, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn.Write(junk)
		conn.SetReadDeadline(time.Now().Add(time.Second))
		io.Copy(io.Discard, conn)
		conn.Close()
	}
	a := fleetOf(t, c, 1, "after-junk")[0]
	a.generate(3)
	a.send(t, 3, 0, time.Second, 10*time.Second)
	a.close()
	if n := countProofs(t, c.dir); n != 3 {
		t.Fatalf("after garbage, stored %d records, want 3", n)
	}
}

// TestEnrollmentReset: a re-imaged device (new key) enrolled again with a
// secret from `device reset-enrollment`, made by another process while the
// controller runs, is accepted with its new key: the cached old key must
// not outlive the reset.
func TestEnrollmentReset(t *testing.T) {
	c := startController(t, t.TempDir(), Config{})
	defer c.stop(t)
	old := fleetOf(t, c, 1, "reimaged")[0]
	old.generate(3)
	old.send(t, 3, 0, time.Second, 10*time.Second)

	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(i + 1)
	}
	if err := openStore(t, c.dir).ResetEnrollment(context.Background(), old.cfg.Device, secret); err != nil {
		t.Fatal(err)
	}
	// Once the controller has seen the reset, the old key no longer counts:
	// records it signs are not stored (the device has no pinned key).
	time.Sleep(500 * time.Millisecond)
	old.generate(2)
	old.publish(t, protocol.TopicProofs, old.batch(4, 5))
	time.Sleep(500 * time.Millisecond)
	if got := old.receipted.Load(); got != 3 {
		t.Fatalf("after the reset, the old key's records were receipted through %d", got)
	}
	old.close()

	cfg := *old.cfg
	cfg.EnrollSecret = protocol.EncodeKey(secret)
	fresh := newSimAgent(t, &cfg, c.ep.BrokerURL)
	defer fresh.close()
	fresh.hello(t)
	waitFor := time.Now().Add(10 * time.Second)
	for !fresh.anyRcpt.Load() {
		if time.Now().After(waitFor) {
			t.Fatal("no answer to the re-enrolled device's hello")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Its new chain (a fresh SD card starts again at seq 1) is signed with
	// the new key; the old records keep their own signatures.
	fresh.generate(2)
	fresh.publish(t, protocol.TopicProofs, fresh.batch(1, 2))
	time.Sleep(500 * time.Millisecond)
	fs, err := openStore(t, c.dir).Findings(context.Background(), old.cfg.Device)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.Kind == store.FindingBadSignature {
			t.Fatalf("the new key was checked against the old one: %+v", f)
		}
	}
}
