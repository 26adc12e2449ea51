package daemon

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guardcast/guardcast/internal/protocol"
)

// TestStateDiskFull: the agent's state disk (a 2 MiB tmpfs) fills up.
// Plays stop being started as soon as their proof could not be kept, the
// status says so at once, and when room returns one record states the
// gap; the chain goes on unbroken.
func TestStateDiskFull(t *testing.T) {
	e := newEnv(t)
	e.state = filepath.Join(t.TempDir(), "state")
	os.Mkdir(e.state, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", e.state).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a 2 MiB tmpfs here (%v: %s); the small-disk test needs root", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", e.state).CombinedOutput(); err != nil {
			t.Errorf("umount: %v: %s", err, out)
		}
	})
	e.publishDesired(e.sign(e.key, 1, e.item("A")))
	r := e.start()
	defer r.stop(t)
	var h protocol.Hello
	protocol.Decode(recv(t, e.hellos).Payload, &h)
	c := &chain{pub: h.PublicKey, records: map[uint64]protocol.ProofRecord{}}
	e.drive(c, func() bool { return c.last >= 3 })

	// Another writer takes every byte of the state disk.
	ballast := filepath.Join(e.state, "ballast")
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
	// The play under way ends (its proof still fits, in the spare); the
	// next one is held back and the status says so.
	var full *protocol.OutputHealth
	deadline := time.Now().Add(20 * time.Second)
	for full == nil {
		if time.Now().After(deadline) {
			t.Fatal("no status reported the full outbox")
		}
		e.clk.Advance(250 * time.Millisecond)
		select {
		case m := <-e.statuses:
			var s protocol.Status
			protocol.Decode(m.Payload, &s)
			for _, h := range s.Health {
				if h.Output == "outbox" && !h.OK {
					full = &h
				}
			}
		case m := <-e.proofs:
			c.add(t, m.Payload)
		case <-time.After(5 * time.Millisecond):
		}
	}
	t.Logf("status while full: %+v", *full)
	// Nothing more is started: the play under way when the disk filled
	// is the last one.
	plays := len(r.led().History())
	for range 20 {
		e.clk.Advance(250 * time.Millisecond)
	}
	if n := len(r.led().History()); n > plays+1 {
		t.Fatalf("%d plays started on a full state disk", n-plays)
	}

	os.Remove(ballast)
	var gap protocol.ProofRecord
	e.drive(c, func() bool {
		for _, p := range c.records {
			if p.Playlist == "held-back" {
				gap = p
				return true
			}
		}
		return false
	})
	if gap.Result != protocol.ResultFailed || !strings.Contains(gap.Reason, "plays held back (led ") || gap.EndNS <= gap.StartNS {
		t.Fatalf("gap record %+v", gap)
	}
	t.Logf("gap record %d: %s", gap.Seq, gap.Reason)
	before := c.last
	e.drive(c, func() bool { return c.last > before && c.records[c.last].Result == protocol.ResultPlayed })
}
