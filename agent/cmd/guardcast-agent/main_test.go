package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/guardcast/guardcast/agent/internal/link/linktest"
	"github.com/guardcast/guardcast/internal/protocol"
)

// childEnv makes the test binary run the agent's own main (run) on the
// arguments after "--": the real command, signals and all.
const childEnv = "GUARDCAST_AGENT_MAIN_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		for i, a := range os.Args {
			if a == "--" {
				if err := run(os.Args[i+1:]); err != nil {
					fmt.Fprintln(os.Stderr, "guardcast-agent:", err)
					os.Exit(1)
				}
				os.Exit(0)
			}
		}
		os.Exit(2)
	}
	os.Exit(m.Run())
}

const dev = "bank-door-1"

// syncBuffer collects a child's stderr for the failure message.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSIGTERMStopsWithin5s runs the real agent and sends it SIGTERM
// while its broker connection is healthy, wedged after connecting (a
// proxy that keeps the socket open and forwards nothing), wedged before
// the CONNECT is answered, or refused. It must exit cleanly within 5 s
// every time; with a healthy link, the proof of the play cut short by the
// stop reaches the broker before it exits.
func TestSIGTERMStopsWithin5s(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the agent as a subprocess")
	}
	for _, tt := range []struct {
		name string
		path string // "up", "stalled", "stalled-connect", "refused"
	}{
		{"link up", "up"},
		{"stalled after connect", "stalled"},
		{"stalled connect", "stalled-connect"},
		{"refused", "refused"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := linktest.New(t)
			brokerAddr := strings.TrimPrefix(b.URL, "tcp://")
			proofs := b.Subscribe(t, protocol.UpTopic(dev, protocol.TopicProofs), 1000)
			statuses := b.Subscribe(t, protocol.UpTopic(dev, protocol.TopicStatus), 1000)

			text := []byte("Police never ask you to move money to a 'safe account'.")
			sum := sha256.Sum256(text)
			item := protocol.Item{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(text)), Kind: "text", Title: "safe account", DurationMS: 600_000}
			media := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.TrimPrefix(r.URL.Path, "/media/") != item.SHA256 {
					http.NotFound(w, r)
					return
				}
				w.Write(text)
			}))
			defer media.Close()
			pub, key, _ := ed25519.GenerateKey(rand.Reader)
			now := time.Now().Unix()
			raw, err := protocol.SignDesired(key, &protocol.DesiredState{
				V: protocol.Version, Device: dev, Version: 1, IssuedAt: now - 60, ExpiresAt: now + 86400,
				Playlists: []protocol.Playlist{{Name: "door", Output: protocol.OutputLED, Items: []protocol.Item{item}}},
			})
			if err != nil {
				t.Fatal(err)
			}
			b.Publish(t, protocol.DownTopic(dev, protocol.TopicDesired), raw, true)

			var brokerURL string
			var px *linktest.StallProxy
			switch tt.path {
			case "up":
				brokerURL = b.URL
			case "stalled":
				px = linktest.NewStallProxy(t, brokerAddr, false)
				brokerURL = "tcp://" + px.Addr
			case "stalled-connect":
				px = linktest.NewStallProxy(t, brokerAddr, true)
				brokerURL = "tcp://" + px.Addr
			case "refused":
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				brokerURL = "tcp://" + ln.Addr().String()
				ln.Close() // nothing listens there now
			}
			secret := make([]byte, 32)
			rand.Read(secret)
			dir := t.TempDir()
			cfg, _ := json.Marshal(protocol.AgentConfig{
				Device: dev, Profile: "virtual", BrokerURL: brokerURL, Password: "pw", MediaURL: media.URL + "/media/",
				ContentKeys: []string{protocol.EncodeKey(pub)}, EnrollSecret: protocol.EncodeKey(secret),
				StateDir: filepath.Join(dir, "state"), CacheDir: filepath.Join(dir, "cache"),
			})
			cfgPath := filepath.Join(dir, "agent.json")
			if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
				t.Fatal(err)
			}
			if tt.path != "up" {
				// Offline from the start: the schedule is held, not received.
				os.MkdirAll(filepath.Join(dir, "state"), 0o700)
				os.WriteFile(filepath.Join(dir, "state", "desired.json"), raw, 0o600)
			}

			cmd := exec.Command(os.Args[0], "-test.run=^$", "--", "run", "--config", cfgPath,
				"--trigger-addr", "", "--clock-trusted", "--log-level", "debug")
			cmd.Env = append(os.Environ(), childEnv+"=1")
			var stderr syncBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			waited := make(chan struct{})
			go func() { exited <- cmd.Wait(); close(waited) }()
			defer func() {
				select {
				case <-waited:
				default:
					cmd.Process.Kill()
					<-waited
				}
				if t.Failed() {
					t.Logf("agent log:\n%s", stderr.String())
				}
			}()

			// Get the agent into the state under test: playing, and (for
			// the wedged path) connected before the path wedges.
			waitLog := func(what string) {
				t.Helper()
				deadline := time.Now().Add(20 * time.Second)
				for !strings.Contains(stderr.String(), what) {
					select {
					case err := <-exited:
						t.Fatalf("agent exited early (%v) waiting for %q", err, what)
					case <-time.After(10 * time.Millisecond):
					}
					if time.Now().After(deadline) {
						t.Fatalf("agent never logged %q", what)
					}
				}
			}
			switch tt.path {
			case "up":
				waitStatus(t, statuses, func(s protocol.Status) bool { return len(s.Current) > 0 })
			case "stalled":
				waitStatus(t, statuses, func(s protocol.Status) bool { return len(s.Current) > 0 })
				px.Stall()
			case "stalled-connect":
				select {
				case <-px.Accepted:
				case <-time.After(20 * time.Second):
					t.Fatal("agent never dialled the broker")
				}
			case "refused":
				waitLog("connect failed")
			}

			sent := time.Now()
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				took := time.Since(sent)
				if err != nil {
					t.Fatalf("agent exited with %v after SIGTERM", err)
				}
				t.Logf("stopped %s after SIGTERM", took.Round(time.Millisecond))
				if took > 5*time.Second {
					t.Fatalf("agent took %s to stop", took)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("agent still running 5 s after SIGTERM")
			}
			if tt.path == "up" {
				// The broker took it (QoS 1) before the agent exited.
				deadline := time.After(2 * time.Second)
				for {
					select {
					case m := <-proofs:
						if bytes.Contains(m.Payload, []byte("interrupted: agent stopping")) {
							return
						}
					case <-deadline:
						t.Fatal("the proof of the play cut short by SIGTERM was not sent before exit")
					}
				}
			}
		})
	}
}

func waitStatus(t *testing.T, ch <-chan linktest.Message, cond func(protocol.Status) bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case m := <-ch:
			var s protocol.Status
			if err := protocol.Decode(m.Payload, &s); err != nil {
				t.Fatal(err)
			}
			if cond(s) {
				return
			}
		case <-deadline:
			t.Fatal("timed out waiting for a status")
		}
	}
}
