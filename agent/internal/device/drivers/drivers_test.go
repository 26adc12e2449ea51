package drivers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/guardcast/guardcast/agent/internal/device/alpha/alphatest"
	"github.com/guardcast/guardcast/agent/internal/device/escpos/escpostest"
	firmwareprofiles "github.com/guardcast/guardcast/firmware-profiles"
	"github.com/guardcast/guardcast/internal/profile"
	"github.com/guardcast/guardcast/internal/protocol"
)

func profiles(t *testing.T, extra map[string]string) *profile.Set {
	t.Helper()
	dir := t.TempDir()
	for name, body := range extra {
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set, err := profile.Load(firmwareprofiles.FS, dir)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func textItem(t *testing.T, text string) (protocol.Item, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "item")
	os.WriteFile(p, []byte(text), 0o644)
	sum := sha256.Sum256([]byte(text))
	return protocol.Item{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(text)), Kind: "text", DurationMS: 10}, p
}

func TestOpenResolvesProfiles(t *testing.T) {
	set := profiles(t, nil)
	cfg := &protocol.AgentConfig{Profile: "virtual-led", Outputs: map[string]string{"audio": "virtual-audio"}}
	s, err := Open(context.Background(), set, cfg, Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	led, _ := s.Output("led")
	it, path := textItem(t, "CALL 96110")
	if res, err := led.Play(context.Background(), it, path); err != nil || !res.Played {
		t.Fatalf("virtual led: %+v %v", res, err)
	}
	// An output with no profile fails every play, saying why.
	tv, _ := s.Output("tv")
	res, err := tv.Play(context.Background(), it, path)
	if err != nil || res.Played || !strings.Contains(res.Reason, "no driver configured") {
		t.Fatalf("unconfigured tv: %+v %v", res, err)
	}
	if h := s.Health(); len(h) != 2 || h[0].Output != "audio" || h[1].Profile != "virtual-led" {
		t.Fatalf("health %+v", h)
	}
}

func TestAllVirtual(t *testing.T) {
	s, err := Open(context.Background(), profiles(t, nil), &protocol.AgentConfig{Profile: "virtual"}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	it, path := textItem(t, "x")
	for _, kind := range []string{"led", "tv", "audio", "printer"} {
		o, _ := s.Output(kind)
		if res, err := o.Play(context.Background(), it, path); err != nil || !res.Played || o.Kind() != kind {
			t.Fatalf("%s: %+v %v", kind, res, err)
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	set := profiles(t, nil)
	for name, cfg := range map[string]*protocol.AgentConfig{
		"unknown profile":      {Profile: "no-such-sign"},
		"profile on wrong out": {Profile: "virtual-led", Outputs: map[string]string{"tv": "virtual-audio"}},
		"input as main":        {Profile: "gpio-button"},
		"output as input":      {Profile: "virtual-led", Inputs: map[string]string{"large-transfer": "virtual-audio"}},
		"two for one output":   {Profile: "virtual-led", Outputs: map[string]string{"led": "virtual-tv"}},
	} {
		t.Run(name, func(t *testing.T) {
			if s, err := Open(context.Background(), set, cfg, Env{}); err == nil {
				s.Close()
				t.Fatal("accepted")
			}
		})
	}
}

// TestRealDriversFromProfiles: a profile file is all it takes to move from
// the virtual output to a real protocol — here an Alpha sign and an ESC/POS
// printer on loopback TCP fakes of their wire.
func TestRealDriversFromProfiles(t *testing.T) {
	sign := alphatest.New(alphatest.Options{})
	signAddr, err := sign.Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer sign.Close()
	printer, err := escpostest.Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer printer.Close()
	set := profiles(t, map[string]string{
		"door-sign": `id: door-sign
kind: led-alpha
description: test sign on loopback
transport: {type: tcp, address: "` + signAddr + `"}
geometry: {pixels_x: 96, pixels_y: 16}
alpha: {sign_address: "00", file_label: A, read_back: true}
`,
		"counter-printer": `id: counter-printer
kind: printer-escpos
description: test printer on loopback
transport: {type: tcp, address: "` + printer.Addr() + `"}
paper: {width_mm: 80, dots_per_mm: 8, printable_dots: 576, cut: full}
text: {code_page: gb18030}
status: {realtime: true}
`,
	})
	cfg := &protocol.AgentConfig{Profile: "door-sign", Outputs: map[string]string{"printer": "counter-printer"}}
	s, err := Open(context.Background(), set, cfg, Env{Site: "Bank No.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	it, path := textItem(t, "CALL 96110")
	led, _ := s.Output("led")
	if res, err := led.Play(context.Background(), it, path); err != nil || !res.Played {
		t.Fatalf("sign: %+v %v", res, err)
	}
	if got, _ := sign.Text('A'); !strings.Contains(string(got), "CALL 96110") {
		t.Fatalf("sign holds %q", got)
	}
	prn, _ := s.Output("printer")
	zh, zpath := textItem(t, "警惕电信诈骗 96110")
	if res, err := prn.Play(context.Background(), zh, zpath); err != nil || !res.Played {
		t.Fatalf("printer: %+v %v", res, err)
	}
	if rec := printer.Record(); !strings.Contains(strings.Join(rec.Lines, "\n"), "警惕电信诈骗") || len(rec.Cuts) != 1 {
		t.Fatalf("printer got lines %q cuts %v", rec.Lines, rec.Cuts)
	}
	// Paper out: a failed play with that reason, and the health says so.
	printer.SetState(escpostest.State{PaperEnd: true})
	res, err := prn.Play(context.Background(), zh, zpath)
	if err != nil || res.Played || !strings.Contains(res.Reason, "paper") {
		t.Fatalf("paper out: %+v %v", res, err)
	}
	for _, h := range s.Health() {
		if h.Output == "printer" && h.OK {
			t.Fatalf("printer health OK after paper out: %+v", h)
		}
	}
}

func TestGPIOInputRaisesTrigger(t *testing.T) {
	pin := &gpiotest.Pin{N: "GPIO17", Num: 17, EdgesChan: make(chan gpio.Level, 16)}
	if err := gpioreg.Register(pin); err != nil {
		t.Fatal(err)
	}
	defer gpioreg.Unregister("GPIO17")
	set := profiles(t, nil)
	cfg := &protocol.AgentConfig{Profile: "virtual-audio", Inputs: map[string]string{"large-transfer": "gpio-button"}}
	s, err := Open(context.Background(), set, cfg, Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fired := make(chan string, 4)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.Run(ctx, func(name string) bool { fired <- name; return true })
	}()
	pin.EdgesChan <- gpio.Low // the counter's button pressed
	select {
	case name := <-fired:
		if name != "large-transfer" {
			t.Fatalf("fired %q", name)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("button press raised no trigger")
	}
	cancel()
	wg.Wait()
}

// TestPrinterConfirmFromProfile: a printer whose firmware has no GS r,
// profiled with confirm: dle_eot, prints each job at once instead of
// waiting out the job timeout.
func TestPrinterConfirmFromProfile(t *testing.T) {
	printer, err := escpostest.Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer printer.Close()
	printer.SetState(escpostest.State{NoGSR: true})
	set := profiles(t, map[string]string{"xprinter": `id: xprinter
kind: printer-escpos
description: Xprinter on loopback, no GS r
transport: {type: tcp, address: "` + printer.Addr() + `"}
paper: {width_mm: 80, printable_dots: 576}
status: {realtime: true, confirm: dle_eot}
`})
	s, err := Open(context.Background(), set, &protocol.AgentConfig{Profile: "xprinter"}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	prn, _ := s.Output("printer")
	it, path := textItem(t, "CALL 96110")
	for i := 0; i < 2; i++ {
		start := time.Now()
		res, err := prn.Play(context.Background(), it, path)
		if err != nil || !res.Played || res.Reason != "" {
			t.Fatalf("job %d: %+v %v", i, res, err)
		}
		t.Logf("job %d confirmed by DLE EOT in %v", i, time.Since(start))
		if took := time.Since(start); took > 10*time.Second { // GS r would wait 30 s
			t.Fatalf("job %d took %v", i, took)
		}
	}
	if r := printer.Record(); r.PaperQueries != 0 || len(r.Cuts) != 2 {
		t.Fatalf("%d GS r sent, %d cuts", r.PaperQueries, len(r.Cuts))
	}
}

// TestSpeakerQuietHoursReachThePlayer: the ATM speaker's profile window is
// known to the player before the sound card is ever opened, so the
// schedule can leave those hours empty rather than fail a play per clip.
func TestSpeakerQuietHoursReachThePlayer(t *testing.T) {
	set := profiles(t, map[string]string{
		"atm-speaker": `id: atm-speaker
kind: audio-alsa
description: test speaker with no card behind it
transport: {type: alsa, alsa_device: "hw:97,0"}
limits: {quiet_hours: "22:00-07:00"}
`,
		"door-sign": `id: door-sign
kind: led-alpha
description: a sign with nobody listening
transport: {type: tcp, address: "127.0.0.1:9"}
geometry: {pixels_x: 96, pixels_y: 16}
alpha: {sign_address: "00", file_label: A}
`,
	})
	cfg := &protocol.AgentConfig{Profile: "door-sign", Outputs: map[string]string{"audio": "atm-speaker"}}
	s, err := Open(context.Background(), set, cfg, Env{Site: "Bank No.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	type quiet interface {
		QuietHours() (string, *time.Location)
	}
	spk, _ := s.Output("audio")
	q, ok := spk.(quiet)
	if !ok {
		t.Fatalf("speaker output %T does not tell its quiet hours", spk)
	}
	if h, loc := q.QuietHours(); h != "22:00-07:00" || loc != time.Local {
		t.Fatalf("speaker quiet hours %q in %v", h, loc)
	}
	led, _ := s.Output("led")
	if h, _ := led.(quiet).QuietHours(); h != "" {
		t.Fatalf("the sign has quiet hours %q", h)
	}
}
