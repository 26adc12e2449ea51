package drivers

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guardcast/guardcast/agent/internal/device/alpha/alphatest"
	"github.com/guardcast/guardcast/internal/clock"
	"github.com/guardcast/guardcast/internal/protocol"
)

// logCount counts log records by message.
type logCount struct {
	mu  sync.Mutex
	msg map[string]int
}

func (l *logCount) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCount) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msg[r.Message]++
	return nil
}
func (l *logCount) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCount) WithGroup(string) slog.Handler      { return l }
func (l *logCount) count(m string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.msg[m]
}

func healthOf(s *Set, out string) protocol.OutputHealth {
	for _, h := range s.Health() {
		if h.Output == out {
			return h
		}
	}
	return protocol.OutputHealth{}
}

// TestSignAbsentAtStart: an agent whose serial sign is unplugged at start
// opens anyway; the sign's plays fail saying why, its health says so, the
// TV on the same agent plays; once the sign is plugged in, after the
// backoff, it plays.
func TestSignAbsentAtStart(t *testing.T) {
	dev := filepath.Join(t.TempDir(), "ttyUSB9") // not there yet
	set := profiles(t, map[string]string{"door-sign": `id: door-sign
kind: led-alpha
description: serial sign, unplugged at start
transport: {type: serial, device: "` + dev + `"}
geometry: {pixels_x: 96, pixels_y: 16}
`})
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	logs := &logCount{msg: map[string]int{}}
	cfg := &protocol.AgentConfig{Profile: "door-sign", Outputs: map[string]string{"tv": "virtual-tv"}}
	s, err := Open(context.Background(), set, cfg, Env{Clock: clk, Log: slog.New(logs)})
	if err != nil {
		t.Fatalf("an unplugged sign stopped the agent: %v", err)
	}
	defer s.Close()
	if h := healthOf(s, "led"); h.OK || !strings.Contains(h.LastError, "sign_silent: open sign "+dev) {
		t.Fatalf("led health %+v", h)
	}
	// DurationMS 0: the sign's hold ends at once on the fake clock.
	it, path := textItem(t, "CALL 96110")
	it.DurationMS = 0
	led, _ := s.Output("led")
	tv, _ := s.Output("tv")
	for i := 0; i < 3; i++ {
		res, err := led.Play(context.Background(), it, path)
		if err != nil || res.Played || !strings.HasPrefix(res.Reason, "sign_silent: open sign "+dev+": ") {
			t.Fatalf("play %d on the missing sign: %+v %v", i, res, err)
		}
		if res, err := tv.Play(context.Background(), it, path); err != nil || !res.Played {
			t.Fatalf("tv beside the missing sign: %+v %v", res, err)
		}
	}

	sign := alphatest.New(alphatest.Options{})
	defer func() { s.Close(); sign.Close() }() // the driver lets go of the pty first
	pty, err := sign.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(pty, dev); err != nil { // the sign is plugged in
		t.Fatal(err)
	}
	if res, _ := led.Play(context.Background(), it, path); res.Played {
		t.Fatal("reopened before the backoff passed")
	}
	clk.Advance(time.Second)
	res, err := led.Play(context.Background(), it, path)
	if err != nil || !res.Played {
		t.Fatalf("sign plugged in: %+v %v", res, err)
	}
	if got, _ := sign.Text('A'); !strings.Contains(string(got), "CALL 96110") {
		t.Fatalf("sign holds %q", got)
	}
	if h := healthOf(s, "led"); !h.OK {
		t.Fatalf("led health after recovery %+v", h)
	}
	if w, r := logs.count("output unavailable; retrying with backoff"), logs.count("output recovered"); w != 1 || r != 1 {
		t.Fatalf("logged %d failures, %d recoveries; want 1 and 1", w, r)
	}
}

// TestEveryDriverSurvivesMissingHardware: no driver's missing hardware
// stops Open; each such output is unhealthy and fails its plays.
func TestEveryDriverSurvivesMissingHardware(t *testing.T) {
	dir := t.TempDir()
	set := profiles(t, map[string]string{
		"sign-tcp": `id: sign-tcp
kind: led-alpha
description: nothing listens
transport: {type: tcp, address: "127.0.0.1:9"}
geometry: {pixels_x: 96, pixels_y: 16}
`,
		"matrix": `id: matrix
kind: led-max7219
description: no such SPI port
transport: {spi_port: "SPI9.9"}
geometry: {modules: 4}
`,
		"tv": `id: tv
kind: tv-mpv
description: no such player
transport: {command: ["` + filepath.Join(dir, "no-mpv") + `"]}
player: {vo: "null"}
`,
		"prn": `id: prn
kind: printer-escpos
description: nothing listens
transport: {type: tcp, address: "127.0.0.1:9"}
paper: {width_mm: 80, printable_dots: 576}
`,
	})
	it, path := textItem(t, "x")
	for _, tt := range []struct{ out, id, reason string }{
		{"led", "sign-tcp", "sign_silent: dial sign 127.0.0.1:9: "},
		{"led", "matrix", "sign_silent: "},
		{"tv", "tv", "tv_unavailable: mpv: "},
		{"printer", "prn", "printer not connected"},
	} {
		t.Run(tt.id, func(t *testing.T) {
			cfg := &protocol.AgentConfig{Profile: "virtual-audio", Outputs: map[string]string{tt.out: tt.id}}
			s, err := Open(context.Background(), set, cfg, Env{})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			o, _ := s.Output(tt.out)
			res, err := o.Play(context.Background(), it, path)
			if err != nil || res.Played || !strings.Contains(res.Reason, tt.reason) {
				t.Fatalf("play: %+v %v, want reason with %q", res, err, tt.reason)
			}
			if h := healthOf(s, tt.out); h.OK || h.LastError == "" {
				t.Fatalf("health %+v", h)
			}
			a, _ := s.Output("audio")
			if res, err := a.Play(context.Background(), it, path); err != nil || !res.Played {
				t.Fatalf("the other output: %+v %v", res, err)
			}
		})
	}
}
