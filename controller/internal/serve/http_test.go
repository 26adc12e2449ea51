package serve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDropFolderAndMediaHTTP: a file dropped into DATA/inbox is ingested by
// the running controller and served by sha256 with Range; a corrupt one is
// moved aside with its reason.
func TestDropFolderAndMediaHTTP(t *testing.T) {
	c := startController(t, t.TempDir(), Config{})
	defer c.stop(t)
	body, err := os.ReadFile(filepath.Join("..", "..", "..", "media", "hotline-zh.txt"))
	if err != nil {
		t.Fatal(err)
	}
	inbox := filepath.Join(c.dir, "inbox")
	if err := os.WriteFile(filepath.Join(inbox, "slogan.txt"), body, 0o644); err != nil {
		t.Fatal(err)
	}
	// A WAV that stops halfway through its data chunk.
	wav, _ := os.ReadFile(filepath.Join("..", "..", "..", "media", "atm-voice-zh.wav"))
	os.WriteFile(filepath.Join(inbox, "cut.wav"), wav[:len(wav)/2], 0o644)

	sum := sha256.Sum256(body)
	sha := hex.EncodeToString(sum[:])
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := openStore(t, c.dir).Media(context.Background(), sha); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("dropped file never reached the media library")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for {
		reason, err := os.ReadFile(filepath.Join(inbox, "rejected", "cut.wav.reason"))
		if err == nil {
			if !strings.Contains(string(reason), "truncated") {
				t.Errorf("rejection reason %q does not say truncated", reason)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("truncated WAV never rejected")
		}
		time.Sleep(100 * time.Millisecond)
	}

	base := strings.TrimSuffix(c.ep.MediaURL, "/media/")
	req, _ := http.NewRequest("GET", c.ep.MediaURL+sha, nil)
	req.Header.Set("Range", "bytes=3-8")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || string(got) != string(body[3:9]) {
		t.Fatalf("range GET: %d %q, want 206 %q", resp.StatusCode, got, body[3:9])
	}
	for path, want := range map[string]int{
		"/media/" + strings.Repeat("0", 64): 404,
		"/media/../guardcast.db":            400,
		"/media/" + sha[:10]:                400,
		"/api/media":                        404, // the office API is not on the agents' listener
	} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		// The mux cleans "/media/../x" into a redirect; anything but 200 with
		// content is fine for a path trick, as long as no file leaks.
		if resp.StatusCode != want && !(want == 400 && resp.StatusCode >= 300 && resp.StatusCode < 500) {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	for path, want := range map[string]int{
		"/api/media":                 200,
		"/api/devices":               200,
		"/api/findings":              200,
		"/api/proofs?since=nonsense": 400,
		"/api/proofs?device=../x":    400,
	} {
		if got := apiDo(t, c, "GET", path, nil, nil); got != want {
			t.Errorf("GET %s: %d, want %d", path, got, want)
		}
	}
	req, _ = http.NewRequest("GET", "http://"+c.ep.HTTPAddr+"/api/media", nil)
	req.Header.Set("Authorization", "Bearer "+c.adminToken(t))
	resp, _ = client.Do(req)
	var list []map[string]any
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list) != 1 || list[0]["sha256"] != sha {
		t.Fatalf("api/media = %v", list)
	}
}
