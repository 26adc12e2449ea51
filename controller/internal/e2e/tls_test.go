package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/guardcast/guardcast/controller/internal/pki"
	"github.com/guardcast/guardcast/controller/internal/serve"
)

// localhostAddr is a free loopback port addressed by the name
// "localhost", so that certificates name only that.
func localhostAddr(t *testing.T) string {
	_, port, _ := net.SplitHostPort(freePort(t))
	return "localhost:" + port
}

// TestTLSListeners runs the controller as a site would (--tls on, every
// listener TLS, a certificate for the name "localhost" only, no IP SANs)
// with agents that pin its private CA: they enroll, play and prove. An
// agent pinning another CA refuses the broker and nothing of it reaches
// the controller.
func TestTLSListeners(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binaries")
	}
	s := &stack{t: t, dir: t.TempDir(), agents: map[string]*proc{}}
	t.Cleanup(func() { dumpLogsIfFailed(t, s.dir) })
	mqttAddr, mediaAddr, officeAddr := localhostAddr(t), localhostAddr(t), localhostAddr(t)
	s.ctl = start(t, filepath.Join(s.dir, "controller.log"), "guardcast-controller", "serve", "--data", s.dir,
		"--mqtt", mqttAddr, "--media-http", mediaAddr, "--http", officeAddr, "--tls", "on", "--poll", "100ms")
	waitFor(t, 20*time.Second, "controller endpoints", func() bool {
		_, err := os.Stat(filepath.Join(s.dir, serve.EndpointsFile))
		return err == nil
	})
	ep, err := serve.ReadEndpoints(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(s.dir, pki.Dir, pki.CACertFile)
	if ep.BrokerURL != "mqtts://"+mqttAddr || ep.MediaURL != "https://"+mediaAddr+"/media/" ||
		ep.OfficeURL != "https://"+officeAddr || ep.CAFile != caFile {
		t.Fatalf("endpoints %+v", ep)
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := pki.ParseCertificate(mustReadFile(t, filepath.Join(s.dir, pki.Dir, pki.ServerCertFile)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(leaf.DNSNames, []string{"localhost"}) || len(leaf.IPAddresses) > 0 {
		t.Fatalf("server certificate names DNS %v IP %v, want only localhost", leaf.DNSNames, leaf.IPAddresses)
	}

	t.Run("doors", func(t *testing.T) {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(caPEM)
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		defer client.CloseIdleConnections()
		for _, tt := range []struct {
			url  string
			want int
		}{
			{ep.MediaURL[:len(ep.MediaURL)-len("/media/")] + "/healthz", 200},
			{ep.MediaURL + strings.Repeat("0", 64), 404},
			// The office API is not on the agents' door.
			{"https://" + mediaAddr + "/api/devices", 404},
			{"https://" + mediaAddr + "/api/media", 404},
		} {
			resp, err := client.Get(tt.url)
			if err != nil {
				t.Fatalf("GET %s: %v", tt.url, err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("GET %s: %d, want %d", tt.url, resp.StatusCode, tt.want)
			}
		}
		// Plaintext is refused on every listener.
		for _, u := range []string{"http://" + mediaAddr + "/healthz", "http://" + officeAddr + "/healthz"} {
			if resp, err := http.Get(u); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					t.Errorf("plaintext GET %s answered 200", u)
				}
			}
		}
		if c, err := connect("tcp://"+mqttAddr, "probe", "probe", "x"); err == nil {
			c.Disconnect(0)
			t.Error("plaintext MQTT connected")
		}
	})

	s.mustCLI("media", "add", repoFile("hotline-zh.txt"), repoFile("hotline-en.txt"), repoFile("atm-voice-zh.wav"))
	s.mustCLI("playlist", "create", "fast-door", "--output", "led", "--item", "hotline-zh.txt:0.03", "--item", "hotline-en.txt:0.02")
	s.mustCLI("playlist", "create", "fast-voice", "--output", "audio", "--item", "atm-voice-zh.wav:0.04")
	for _, id := range []string{"bank-a", "bank-b", "rogue-ca"} {
		s.mustCLI("device", "add", "--id", id, "--site", "e2e", "--profile", "virtual")
		s.mustCLI("playlist", "assign", "fast-door", "--device", id)
		s.mustCLI("playlist", "assign", "fast-voice", "--device", id)
	}
	// Playlists and assignments wait for a second person; the CLI reaches
	// the running controller over HTTPS, pinning the same CA.
	approveAllAsChecker(t, s)
	cfgA := readConfig(t, filepath.Join(s.dir, "agents", "bank-a.json"))
	if cfgA.CACert != string(caPEM) || cfgA.BrokerURL != ep.BrokerURL || cfgA.MediaURL != ep.MediaURL || cfgA.Insecure {
		t.Fatalf("agent config does not pin the controller CA over TLS: broker %s media %s insecure %v ca %d bytes",
			cfgA.BrokerURL, cfgA.MediaURL, cfgA.Insecure, len(cfgA.CACert))
	}

	// The rogue agent's config is right in every way but the CA it pins.
	other, err := pki.LoadOrCreateCA(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rogueFile := filepath.Join(s.dir, "agents", "rogue-ca.json")
	rogue := readConfig(t, rogueFile)
	rogue.CACert = string(other.PEM)
	b, _ := json.MarshalIndent(rogue, "", "  ")
	if err := os.WriteFile(rogueFile, b, 0o600); err != nil {
		t.Fatal(err)
	}

	for _, id := range []string{"bank-a", "bank-b", "rogue-ca"} {
		s.startAgent(id)
	}
	waitFor(t, 60*time.Second, "the rogue agent to refuse the broker's certificate", func() bool {
		log, _ := os.ReadFile(filepath.Join(s.dir, "agent-rogue-ca.log"))
		return strings.Contains(string(log), "not signed by the configured CA") && strings.Contains(string(log), "x509")
	})
	waitFor(t, 60*time.Second, "30 proofs each from bank-a and bank-b over TLS", func() bool {
		return s.device("bank-a").LastSeq >= 30 && s.device("bank-b").LastSeq >= 30
	})
	// Every play is of media the agents fetched from the https:// media URL.
	for _, id := range []string{"bank-a", "bank-b"} {
		if st := status(t, s, id); !st.Online {
			t.Errorf("%s status not online", id)
		}
	}

	for _, id := range []string{"bank-a", "bank-b", "rogue-ca"} {
		s.agents[id].kill(syscall.SIGTERM)
	}
	for _, id := range []string{"bank-a", "bank-b"} {
		t.Logf("%s: %d records over TLS, gap-free, verified", id, s.checkChain(id))
	}
	// Both good agents made their progress while the rogue kept retrying:
	// had it ever connected, its hello would have pinned its key.
	if d := s.device("rogue-ca"); d.PubKey != nil || d.LastSeq != 0 || d.Status != "" {
		t.Fatalf("the agent pinning another CA reached the controller: key %x, last seq %d, status %q", d.PubKey, d.LastSeq, d.Status)
	}
}

// TestTLSOffRefusedOffLoopback: --tls off is refused for a listener that
// is not on loopback, before anything is bound.
func TestTLSOffRefusedOffLoopback(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binaries")
	}
	_, port, _ := net.SplitHostPort(freePort(t))
	cmd := exec.Command(filepath.Join(binDir, "guardcast-controller"), "serve", "--data", t.TempDir(),
		"--mqtt", "0.0.0.0:"+port, "--media-http", "127.0.0.1:0", "--http", "127.0.0.1:0", "--tls", "off")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not on loopback") {
		t.Fatalf("serve --tls off on 0.0.0.0: err %v\n%s", err, out)
	}
}

// approveAllAsChecker approves every pending change as a second user
// with the approver role.
func approveAllAsChecker(t *testing.T, s *stack) {
	t.Helper()
	runCLI := func(env []string, stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(binDir, "guardcast-controller"), append(args, "--data", s.dir)...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdin = strings.NewReader(stdin)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("guardcast-controller %v: %v\n%s%s", args, err, out, stderr.String())
		}
		return string(out)
	}
	runCLI(nil, "checker-password-1\n", "user", "add", "checker", "--role", "approver")
	tok := strings.TrimSpace(runCLI(nil, "", "user", "token", "add", "checker", "--label", "e2e"))
	checkerTokens.Store(s.dir, tok)
	runCLI([]string{"GUARDCAST_TOKEN=" + tok}, "", "change", "approve", "--all")
}

var checkerTokens sync.Map // data dir → the checker's token

// approveChanges approves what is pending as the checker made by
// approveAllAsChecker.
func approveChanges(t *testing.T, s *stack) {
	t.Helper()
	tok, ok := checkerTokens.Load(s.dir)
	if !ok {
		t.Fatal("approveChanges before approveAllAsChecker")
	}
	cmd := exec.Command(filepath.Join(binDir, "guardcast-controller"), "change", "approve", "--all", "--data", s.dir)
	cmd.Env = append(os.Environ(), "GUARDCAST_TOKEN="+tok.(string))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("change approve --all: %v\n%s", err, out)
	}
}

// dumpLogsIfFailed shows the end of every process log of a failed test
// (registered before the processes start, so it runs after they are killed).
func dumpLogsIfFailed(t *testing.T, dir string) {
	if !t.Failed() {
		return
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, p := range logs {
		b, _ := os.ReadFile(p)
		if len(b) > 4000 {
			b = b[len(b)-4000:]
		}
		t.Logf("--- %s (end):\n%s", filepath.Base(p), b)
	}
}

func mustReadFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
