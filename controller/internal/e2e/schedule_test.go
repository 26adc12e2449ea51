package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/protocol"
)

// TestCampaignAndAlertSignedFor: with the real binaries, a device on a
// site plays a campaign placed on its town (its proofs name the campaign
// entry), adopts and acknowledges each version, and signs for an urgent
// alert pushed with the CLI through the running controller: it plays it,
// `alert status` counts it signed for, and nobody is a laggard.
func TestCampaignAndAlertSignedFor(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binaries")
	}
	s := &stack{t: t, dir: t.TempDir(), mqtt: freePort(t), http: freePort(t), agents: map[string]*proc{}}
	s.startController()
	for _, args := range [][]string{
		{"org", "add", "--id", "town", "--kind", "town", "--name", "Town", "--tz", "Asia/Shanghai"},
		{"org", "add", "--id", "bank", "--kind", "unit", "--name", "Bank", "--parent", "town"},
		{"org", "add", "--id", "branch", "--kind", "site", "--name", "Branch", "--parent", "bank"},
		{"org", "person", "add", "--node", "branch", "--role", "first_responsible", "--name", "Wang", "--phone", "138 0000 0001"},
		{"media", "add", repoFile("hotline-zh.txt"), repoFile("hotline-en.txt")},
		{"playlist", "create", "fast-door", "--output", "led", "--item", "hotline-zh.txt:0.05", "--item", "hotline-en.txt:0.05"},
		{"device", "add", "--id", "bank-a", "--profile", "virtual", "--node", "branch", "--tag", "doorway"},
	} {
		s.mustCLI(args...)
	}
	// The playlist is approved by a second person before a campaign may
	// place it; the campaign waits for approval too.
	approveAllAsChecker(t, s)
	out := s.mustCLI("campaign", "create", "door", "--target", "node:town", "--output", "led", "--playlist", "fast-door", "--min-share", "0.2")
	if !strings.Contains(out, "reaches 1 device(s) with output led") || !strings.Contains(out, "pending") {
		t.Fatalf("campaign create: %s", out)
	}
	approveChanges(t, s)
	s.startAgent("bank-a")
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(s.dir, "agent-bank-a.log"))
			t.Logf("agent log:\n%.3000s", b)
			seen := map[string]int{}
			for _, r := range s.rows("bank-a") {
				seen[r.Playlist+" "+r.Result]++
			}
			t.Logf("proofs by playlist and result: %v", seen)
			c, _ := os.ReadFile(filepath.Join(s.dir, "controller.log"))
			t.Logf("controller log:\n%s", c)
		}
	}()
	// With a synchronised clock the proofs name the entry; on a machine
	// whose kernel clock is not synchronised (CI containers) the agent
	// plays the screen's safe loop — the campaign's items — and says so.
	waitFor(t, 30*time.Second, "proofs of the campaign's items", func() bool {
		for _, r := range s.rows("bank-a") {
			if r.Playlist == "door/fast-door" || (r.Playlist == "safe" && !r.ClockSynced) {
				return true
			}
		}
		return false
	})
	waitFor(t, 30*time.Second, "bank-a to acknowledge its version", func() bool {
		return regexp.MustCompile(`bank-a: version \d+ verified and playing`).MatchString(s.mustCLI("versions", "list"))
	})

	out = s.mustCLI("alert", "push", "--to", "bank", "--text", "Police: 'safe account' calls are fraud. Hang up, call 96110.", "--hold", "1s", "--expires", "10m")
	if !strings.Contains(out, "pushed to 1 device(s)") || !strings.Contains(out, "through the running controller") {
		t.Fatalf("alert push: %s", out)
	}
	id := regexp.MustCompile(`a-\d{8}-\d{4}`).FindString(out)
	waitFor(t, 30*time.Second, "bank-a to sign for "+id, func() bool {
		return strings.Contains(s.mustCLI("alert", "status", id), "signed for by 1 of 1 device(s)")
	})
	if out := s.mustCLI("alert", "laggards", id); !strings.Contains(out, "all 1 device(s) have signed") {
		t.Errorf("laggards: %s", out)
	}
	waitFor(t, 30*time.Second, "the alert in bank-a's proofs", func() bool {
		for _, r := range s.rows("bank-a") {
			if r.Playlist == "alert:"+id && r.Result == protocol.ResultPlayed {
				return true
			}
		}
		return false
	})
	acks, err := s.store().Acks(context.Background(), store.AckFilter{Alert: id})
	if err != nil || len(acks) < 2 {
		t.Fatalf("acks of %s: %+v %v", id, acks, err)
	}
	s.agents["bank-a"].kill(syscall.SIGTERM)
	s.checkChain("bank-a")
}
