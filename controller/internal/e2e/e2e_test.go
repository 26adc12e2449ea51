package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/guardcast/guardcast/controller/internal/report"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/protocol"
)

var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "guardcast-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	cmd := exec.Command("go", "build", "-o", dir+"/", "github.com/guardcast/guardcast/controller/cmd/guardcast-controller",
		"github.com/guardcast/guardcast/agent/cmd/guardcast-agent")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build binaries:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proc is a started binary whose output goes to a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

func start(t *testing.T, logPath, bin string, args ...string) *proc {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, bin), args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{name: bin, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() { p.kill(syscall.SIGKILL) })
	return p
}

func (p *proc) kill(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// stack is one controller data directory with its agents.
type stack struct {
	t        *testing.T
	dir      string
	mqtt     string
	http     string
	media    string
	ctl      *proc
	agents   map[string]*proc
	snapshot *store.Store
}

func (s *stack) cli(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(binDir, "guardcast-controller"), append(args, "--data", s.dir)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (s *stack) mustCLI(args ...string) string {
	s.t.Helper()
	out, err := s.cli(args...)
	if err != nil {
		s.t.Fatalf("guardcast-controller %v: %v\n%s", args, err, out)
	}
	return out
}

func (s *stack) startController() {
	s.t.Helper()
	os.Remove(filepath.Join(s.dir, "endpoints.json"))
	if s.media == "" {
		s.media = freePort(s.t)
	}
	s.ctl = start(s.t, filepath.Join(s.dir, "controller.log"), "guardcast-controller", "serve", "--data", s.dir,
		"--mqtt", s.mqtt, "--media-http", s.media, "--http", s.http, "--poll", "100ms")
	waitFor(s.t, 20*time.Second, "controller endpoints", func() bool {
		_, err := os.Stat(filepath.Join(s.dir, "endpoints.json"))
		return err == nil
	})
}

func (s *stack) startAgent(id string) {
	s.t.Helper()
	s.agents[id] = start(s.t, filepath.Join(s.dir, "agent-"+id+".log"), "guardcast-agent", "run",
		"--config", filepath.Join(s.dir, "agents", id+".json"),
		"--state", filepath.Join(s.dir, "state-"+id), "--cache", filepath.Join(s.dir, "cache-"+id),
		"--resend", "1s", "--status-every", "1s", "--trigger-addr", "")
}

func (s *stack) store() *store.Store {
	if s.snapshot == nil {
		st, err := store.Open(context.Background(), s.dir)
		if err != nil {
			s.t.Fatal(err)
		}
		s.snapshot = st
		s.t.Cleanup(func() { st.Close() })
	}
	return s.snapshot
}

func (s *stack) device(id string) store.Device {
	s.t.Helper()
	d, err := s.store().Device(context.Background(), id)
	if err != nil {
		s.t.Fatal(err)
	}
	return d
}

func (s *stack) rows(id string) []store.ProofRow {
	s.t.Helper()
	var rows []store.ProofRow
	if err := s.store().Proofs(context.Background(), store.ProofFilter{Device: id}, func(r store.ProofRow) error {
		rows = append(rows, r)
		return nil
	}); err != nil {
		s.t.Fatal(err)
	}
	return rows
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func repoFile(name string) string { return filepath.Join("..", "..", "..", "media", name) }

func newStack(t *testing.T, devices ...string) *stack {
	s := &stack{t: t, dir: t.TempDir(), mqtt: freePort(t), http: freePort(t), agents: map[string]*proc{}}
	s.startController()
	s.mustCLI("media", "add", repoFile("hotline-zh.txt"), repoFile("hotline-en.txt"), repoFile("atm-voice-zh.wav"))
	s.mustCLI("playlist", "create", "fast-door", "--output", "led", "--item", "hotline-zh.txt:0.03", "--item", "hotline-en.txt:0.02")
	s.mustCLI("playlist", "create", "fast-voice", "--output", "audio", "--item", "atm-voice-zh.wav:0.04")
	for _, id := range devices {
		s.mustCLI("device", "add", "--id", id, "--site", "e2e", "--profile", "virtual")
		s.mustCLI("playlist", "assign", "fast-door", "--device", id)
		s.mustCLI("playlist", "assign", "fast-voice", "--device", id)
	}
	approveAllAsChecker(t, s)
	return s
}

// checkChain asserts a device's stored log is 1..n, gap-free, unflagged,
// and verifies.
func (s *stack) checkChain(id string) int {
	s.t.Helper()
	rows := s.rows(id)
	for i, r := range rows {
		if r.Seq != uint64(i+1) {
			s.t.Fatalf("%s: row %d has seq %d (lost or duplicated records)", id, i, r.Seq)
		}
		if r.Flag != "" {
			s.t.Fatalf("%s: seq %d flagged %q", id, r.Seq, r.Flag)
		}
	}
	res, err := report.Verify(context.Background(), s.store(), id)
	if err != nil {
		s.t.Fatal(err)
	}
	if len(res) != 1 || !res[0].OK() {
		s.t.Fatalf("%s: verify: %+v", id, res)
	}
	fs, _ := s.store().Findings(context.Background(), id)
	if len(fs) > 0 {
		s.t.Fatalf("%s: unexpected findings %+v", id, fs)
	}
	return len(rows)
}

// TestKillAndRestart: agents killed with SIGKILL mid-stream and the
// controller killed mid-stream lose no committed record and duplicate none.
func TestKillAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binaries")
	}
	s := newStack(t, "bank-a", "bank-b")
	s.startAgent("bank-a")
	s.startAgent("bank-b")
	waitFor(t, 30*time.Second, "50 proofs from bank-a", func() bool { return s.device("bank-a").LastSeq >= 50 })

	// The agent dies at an arbitrary moment: SIGKILL, no shutdown code runs.
	s.agents["bank-a"].kill(syscall.SIGKILL)
	before := s.device("bank-a").LastSeq
	s.startAgent("bank-a")
	waitFor(t, 30*time.Second, "bank-a to continue after SIGKILL", func() bool { return s.device("bank-a").LastSeq >= before+50 })

	// The controller dies mid-stream; agents keep playing into their outbox.
	s.ctl.kill(syscall.SIGKILL)
	time.Sleep(500 * time.Millisecond)
	s.startController()
	mark := s.device("bank-b").LastSeq
	waitFor(t, 60*time.Second, "bank-b to resume after the controller restart", func() bool { return s.device("bank-b").LastSeq >= mark+50 })
	waitFor(t, 60*time.Second, "bank-a to resume after the controller restart", func() bool { return s.device("bank-a").LastSeq >= before+100 })

	// Stop the agents cleanly, let them drain, then check every chain.
	for _, id := range []string{"bank-a", "bank-b"} {
		s.agents[id].kill(syscall.SIGTERM)
	}
	for _, id := range []string{"bank-a", "bank-b"} {
		n := s.checkChain(id)
		t.Logf("%s: %d records, gap-free, verified", id, n)
	}
	out, err := s.cli("proofs", "verify")
	if err != nil {
		t.Fatalf("proofs verify: %v\n%s", err, out)
	}
}

// TestRefusalsAndACL: what a device must not be able to do with its own
// credentials, and what an agent must not accept even from a credentialed
// broker client; then a tampered database row caught by `proofs verify`.
func TestRefusalsAndACL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binaries")
	}
	s := newStack(t, "bank-a", "bank-b")
	s.startAgent("bank-a")
	waitFor(t, 30*time.Second, "proofs from bank-a", func() bool { return s.device("bank-a").LastSeq >= 10 })
	cfgA := readConfig(t, filepath.Join(s.dir, "agents", "bank-a.json"))
	broker := "tcp://" + s.mqtt

	t.Run("device credentials", func(t *testing.T) {
		// A's password with B's client ID / username: refused.
		if c, err := connect(broker, "bank-b", "bank-b", cfgA.Password); err == nil {
			c.Disconnect(0)
			t.Error("bank-a's password logged in as bank-b")
		}
		if c, err := connect(broker, "bank-b", "bank-a", cfgA.Password); err == nil {
			c.Disconnect(0)
			t.Error("bank-a connected with client ID bank-b")
		}
		if c, err := connect(broker, "", "", ""); err == nil {
			c.Disconnect(0)
			t.Error("anonymous client connected")
		}
		c, err := connect(broker, "bank-a-probe", "bank-a", cfgA.Password)
		if err == nil {
			c.Disconnect(0)
			t.Error("client ID other than the username accepted")
		}
		// The agent is connected as bank-a; stop it so the probe can use the ID.
		s.agents["bank-a"].kill(syscall.SIGTERM)
		c, err = connect(broker, "bank-a", "bank-a", cfgA.Password)
		if err != nil {
			t.Fatalf("bank-a's own credentials refused: %v", err)
		}
		defer c.Disconnect(0)
		for _, filter := range []string{"#", "gc/v1/dev/+/up/proofs", protocol.DownFilter("bank-b"), "$SYS/#"} {
			tok := c.Subscribe(filter, 1, nil)
			tok.WaitTimeout(5 * time.Second)
			if st, ok := tok.(*paho.SubscribeToken); ok {
				for _, code := range st.Result() {
					if code < 0x80 {
						t.Errorf("subscribe %q granted (code %d)", filter, code)
					}
				}
			}
		}
		// A forged batch (wrong key) on A's own topic reaches the controller
		// and becomes a finding: the positive control. The same on B's
		// topic must never arrive.
		_, wrong, _ := ed25519.GenerateKey(rand.Reader)
		pub := func(dev string) {
			r := protocol.ProofRecord{Device: dev, Seq: 1, Prev: protocol.GenesisHash, Output: protocol.OutputLED, Result: protocol.ResultPlayed}
			b, _ := json.Marshal(protocol.ProofBatch{V: 1, Device: dev, Records: []protocol.ProofRecord{r},
				HeadSig: protocol.SignHead(wrong, dev, 1, r.Hash())})
			c.Publish(protocol.UpTopic(dev, protocol.TopicProofs), 1, false, b).WaitTimeout(5 * time.Second)
		}
		pub("bank-a")
		waitFor(t, 10*time.Second, "the forged batch on bank-a's own topic to be flagged", func() bool {
			fs, _ := s.store().Findings(context.Background(), "bank-a")
			return len(fs) > 0
		})
		pub("bank-b")
		time.Sleep(time.Second)
		if fs, _ := s.store().Findings(context.Background(), "bank-b"); len(fs) > 0 {
			t.Errorf("bank-a's credentials reached bank-b's topic: %+v", fs)
		}
		if c.IsConnected() {
			// A publish on another device's topic may also cost the connection.
			c.Publish(protocol.DownTopic("bank-a", protocol.TopicDesired), 1, true, []byte("x")).WaitTimeout(2 * time.Second)
		}
	})
	// Clear the positive-control finding so the chain checks below are clean.
	s.store().Exec(context.Background(), `DELETE FROM findings`)

	t.Run("forged and stale desired state", func(t *testing.T) {
		s.startAgent("bank-a")
		waitFor(t, 30*time.Second, "bank-a back online", func() bool { return status(t, s, "bank-a").Online })
		held := s.device("bank-a").DesiredVersion
		pw := strings.TrimSpace(s.mustCLI("controller", "add", "--id", "office-probe"))
		c, err := connect(broker, "controller:probe", "office-probe", pw)
		if err != nil {
			t.Fatalf("controller credential refused: %v", err)
		}
		defer c.Disconnect(0)
		_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
		realKey := readContentKey(t, s.dir)
		doc := func(key ed25519.PrivateKey, version uint64) []byte {
			playlists := []protocol.Playlist{{Name: "scam", Output: protocol.OutputLED, Items: []protocol.Item{{
				SHA256: strings.Repeat("ee", 32), Size: 5, Kind: "text", DurationMS: 1000}}}}
			raw, err := protocol.SignDesired(key, &protocol.DesiredState{V: 1, Device: "bank-a", Version: version,
				IssuedAt: time.Now().Unix(), ExpiresAt: time.Now().Add(time.Hour).Unix(), Playlists: playlists})
			if err != nil {
				t.Fatal(err)
			}
			return raw
		}
		for _, tc := range []struct {
			name string
			raw  func() []byte
			want string
		}{
			{"signed by another key", func() []byte { return doc(otherKey, held+100) }, "unknown key"},
			{"older version, right key", func() []byte {
				// Make a newer real version first, then replay version 1.
				s.mustCLI("playlist", "edit", "fast-door", "--output", "led", "--item", "hotline-en.txt:0.03")
				approveChanges(t, s)
				waitFor(t, 20*time.Second, "bank-a to adopt a newer version", func() bool {
					return status(t, s, "bank-a").Version > held
				})
				held = status(t, s, "bank-a").Version
				return doc(realKey, 1)
			}, "older than held version"},
		} {
			raw := tc.raw()
			c.Publish(protocol.DownTopic("bank-a", protocol.TopicDesired), 1, false, raw).WaitTimeout(5 * time.Second)
			waitFor(t, 20*time.Second, tc.name+" to be refused", func() bool {
				return strings.Contains(status(t, s, "bank-a").Refused, tc.want)
			})
			mark := s.device("bank-a").LastSeq
			waitFor(t, 20*time.Second, "bank-a to keep playing", func() bool { return s.device("bank-a").LastSeq >= mark+5 })
			for _, r := range s.rows("bank-a")[mark:] {
				if r.Version != held || r.MediaSHA256 == strings.Repeat("ee", 32) {
					t.Fatalf("%s: bank-a played version %d media %s, want held version %d", tc.name, r.Version, r.MediaSHA256, held)
				}
			}
		}
	})

	t.Run("tampered row", func(t *testing.T) {
		s.agents["bank-a"].kill(syscall.SIGTERM)
		s.checkChain("bank-a")
		if err := s.store().Exec(context.Background(), `UPDATE proofs SET media_sha256 = ? WHERE device = 'bank-a' AND seq = 7`, strings.Repeat("ee", 32)); err != nil {
			t.Fatal(err)
		}
		out, err := s.cli("proofs", "verify")
		if err == nil {
			t.Fatalf("proofs verify passed a tampered row:\n%s", out)
		}
		if !strings.Contains(out, "FAIL bank-a seq 7:") {
			t.Fatalf("proofs verify did not name bank-a seq 7:\n%s", out)
		}
	})
}

func readConfig(t *testing.T, path string) *protocol.AgentConfig {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := protocol.ParseAgentConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readContentKey(t *testing.T, dir string) ed25519.PrivateKey {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "content.key"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(ed25519.PrivateKey)
}

var statusMu sync.Mutex

func status(t *testing.T, s *stack, id string) protocol.Status {
	t.Helper()
	statusMu.Lock()
	defer statusMu.Unlock()
	var st protocol.Status
	if raw := s.device(id).Status; raw != "" {
		json.Unmarshal([]byte(raw), &st)
	}
	return st
}

func connect(broker, clientID, user, password string) (paho.Client, error) {
	opts := paho.NewClientOptions().AddBroker(broker).SetClientID(clientID).SetUsername(user).SetPassword(password).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second)
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, fmt.Errorf("connect timed out")
	}
	if tok.Error() != nil {
		return nil, tok.Error()
	}
	return c, nil
}
