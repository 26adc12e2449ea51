package cli

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/guardcast/guardcast/internal/protocol"
)

// run runs one command on dir as the local admin. "@approve" approves
// every pending change as a second user with the approver role, as the
// office's approver would.
func run(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	if len(args) == 1 && args[0] == "@approve" {
		return runAs(t, dir, checkerToken(t, dir), "", "change", "approve", "--all")
	}
	return runAs(t, dir, "", "", args...)
}

func runAs(t *testing.T, dir, token, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), append(args, "--data", dir), Env{Stdout: &out, Stderr: &errb, Token: token,
		Stdin: strings.NewReader(stdin), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return code, out.String(), errb.String()
}

var checkers sync.Map // data dir → the approver's token

// checkerToken makes (once per data dir) a user "checker" with the
// approver role and returns an API token of theirs.
func checkerToken(t *testing.T, dir string) string {
	t.Helper()
	if v, ok := checkers.Load(dir); ok {
		return v.(string)
	}
	if code, _, errs := runAs(t, dir, "", "checker-password-1\n", "user", "add", "checker", "--role", "approver"); code != 0 {
		t.Fatalf("user add checker: %s", errs)
	}
	code, out, errs := runAs(t, dir, "", "", "user", "token", "add", "checker", "--label", "test")
	if code != 0 {
		t.Fatalf("token add: %s", errs)
	}
	tok := strings.TrimSpace(out)
	checkers.Store(dir, tok)
	return tok
}

func sample(name string) string { return filepath.Join("..", "..", "..", "media", name) }

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		args   []string
		code   int
		outHas string
		errHas string
	}{
		{"unknown", []string{"frobnicate"}, 2, "", "unknown command"},
		{"media add", []string{"media", "add", sample("hotline-zh.txt"), sample("atm-voice-zh.wav")}, 0, "hotline-zh.txt", ""},
		{"media add missing", []string{"media", "add", filepath.Join(dir, "nope.txt")}, 1, "", "rejected"},
		{"device add", []string{"device", "add", "--id", "bank-1", "--site", "B", "--profile", "virtual-led"}, 0, "enrolled bank-1", ""},
		{"device add again", []string{"device", "add", "--id", "bank-1", "--profile", "virtual-led"}, 1, "", "already exists"},
		{"device add bad id", []string{"device", "add", "--id", "../etc", "--profile", "virtual-led"}, 1, "", "not allowed"},
		{"device add no profile", []string{"device", "add", "--id", "x"}, 2, "", "required"},
		{"device add with outputs", []string{"device", "add", "--id", "hall-1", "--profile", "hdmi-tv-mpv", "--output", "audio=atm-speaker-alsa", "--input", "large-transfer=gpio-button"}, 0, "enrolled hall-1", ""},
		{"device add bad output", []string{"device", "add", "--id", "hall-2", "--profile", "hdmi-tv-mpv", "--output", "radio=x"}, 2, "", "OUTPUT"},
		{"device add bad trigger", []string{"device", "add", "--id", "hall-3", "--profile", "hdmi-tv-mpv", "--input", "Big Button=gpio-button"}, 2, "", "TRIGGER"},
		{"device add custom profile", []string{"device", "add", "--id", "door-9", "--profile", "my-sign"}, 0, "enrolled door-9", "not built in"},
		{"playlist wrong kind", []string{"playlist", "create", "p", "--output", "led", "--item", "atm-voice-zh.wav"}, 1, "", "audio media"},
		{"playlist text without seconds", []string{"playlist", "create", "p", "--output", "led", "--item", "hotline-zh.txt"}, 1, "", "no duration"},
		{"playlist bad seconds", []string{"playlist", "create", "p", "--output", "led", "--item", "hotline-zh.txt:-3"}, 2, "", "seconds"},
		{"playlist bad output", []string{"playlist", "create", "p", "--output", "radio", "--item", "hotline-zh.txt:3"}, 2, "", "output"},
		{"playlist unknown media", []string{"playlist", "create", "p", "--output", "led", "--item", "ghost.txt:3"}, 1, "", "not found"},
		{"playlist create", []string{"playlist", "create", "door", "--output", "led", "--item", "hotline-zh.txt:3"}, 0, "1 items", ""},
		{"audio keeps its own duration", []string{"playlist", "create", "atm", "--output", "audio", "--item", "atm-voice-zh.wav"}, 0, "1 items", ""},
		{"playlist again", []string{"playlist", "create", "door", "--output", "led", "--item", "hotline-zh.txt:4"}, 1, "", "already pending"},
		{"assign", []string{"playlist", "assign", "door", "--device", "bank-1"}, 0, "pending", ""},
		{"author cannot approve", []string{"change", "approve", "1"}, 1, "", "another approver must approve it"},
		{"approve", []string{"@approve"}, 0, "change 3 approved (playlist.assign by local-admin)", ""},
		{"recreate refused", []string{"playlist", "create", "door", "--output", "led", "--item", "hotline-zh.txt:4"}, 1, "", "playlist edit door"},
		{"edit", []string{"playlist", "edit", "door", "--output", "led", "--item", "hotline-zh.txt:4"}, 0, "pending", ""},
		{"assign unknown device", []string{"playlist", "assign", "door", "--device", "ghost"}, 1, "", "not found"},
		{"export bad format", []string{"proofs", "export", "--format", "xml"}, 2, "", "csv or jsonl"},
		{"export csv", []string{"proofs", "export", "--format", "csv"}, 0, "device,seq,start", ""},
		{"verify empty", []string{"proofs", "verify"}, 0, "bank-1", ""},
		{"device list", []string{"device", "list"}, 0, "bank-1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := run(t, dir, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.outHas) || !strings.Contains(errs, tt.errHas) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tt.code, out, errs)
			}
		})
	}
	// The agent config is private and complete.
	p := filepath.Join(dir, "agents", "bank-1.json")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("agent config mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(p)
	cfg, err := protocol.ParseAgentConfig(b)
	if err != nil {
		t.Fatalf("written config does not parse: %v", err)
	}
	b, _ = os.ReadFile(filepath.Join(dir, "agents", "hall-1.json"))
	hall, err := protocol.ParseAgentConfig(b)
	if err != nil || hall.Outputs["audio"] != "atm-speaker-alsa" || hall.Inputs["large-transfer"] != "gpio-button" {
		t.Fatalf("hall-1 config %+v, %v", hall, err)
	}
	pub, _ := os.ReadFile(filepath.Join(dir, "content.pub"))
	if cfg.ContentKeys[0] != strings.TrimSpace(string(pub)) {
		t.Error("agent config does not carry the office's content key")
	}
}
