package serve

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guardcast/guardcast/controller/internal/datadir"
)

// TestSecondServeRefused: a second controller on the same data directory
// exits at once naming the first, and changes nothing the first wrote.
func TestSecondServeRefused(t *testing.T) {
	dir := t.TempDir()
	c := startController(t, dir, Config{})
	defer c.stop(t)
	before, err := os.ReadFile(filepath.Join(dir, EndpointsFile))
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := ReadAdminToken(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = Run(ctx, Config{DataDir: dir, MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", MediaAddr: "127.0.0.1:0"}, testLogger(t))
	if !errors.Is(err, datadir.ErrHeld) || !strings.Contains(err.Error(), "serve (pid") {
		t.Fatalf("second serve: %v, want it refused naming the first", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, EndpointsFile))
	if string(after) != string(before) {
		t.Fatalf("second serve rewrote endpoints.json:\n%s\nwas\n%s", after, before)
	}
	if tok2, _ := ReadAdminToken(dir); tok2 != tok {
		t.Fatal("second serve replaced the admin token")
	}
	// The first still answers with its token.
	if code := apiDo(t, c, "GET", "/api/devices", nil, nil); code != 200 {
		t.Fatalf("first controller after the refusal: %d", code)
	}
}
