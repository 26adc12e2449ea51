package drivers

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/guardcast/guardcast/agent/internal/device/alpha/alphatest"
	"github.com/guardcast/guardcast/agent/internal/device/escpos/escpostest"
	"github.com/guardcast/guardcast/agent/internal/device/tspl/tspltest"
	"github.com/guardcast/guardcast/agent/internal/output"
	"github.com/guardcast/guardcast/agent/internal/output/outputtest"
	"github.com/guardcast/guardcast/internal/protocol"
)

// wire is one driver of an output kind, reached through a profile file
// exactly as an agent would open it, against a fake of its wire.
type wire struct {
	name    string
	profile func(t *testing.T) (id, yaml string) // "" yaml: a built-in profile
	fail    func() string                        // make the wire fail; the reason to expect
}

// TestConformancePerKind runs the shared output conformance check over
// every driver of each kind that can run here without hardware: what one
// LED sign, printer or screen promises, all of them keep. (mpv, the ALSA
// speaker and the MAX7219 run the same check in their own packages, with
// the real player, the fake sound card and periph's spitest.)
func TestConformancePerKind(t *testing.T) {
	var sign *alphatest.Sign
	var receipt *escpostest.Printer
	var label *tspltest.Printer
	kinds := map[string][]wire{
		protocol.OutputLED: {
			{name: "virtual", profile: func(*testing.T) (string, string) { return "virtual-led", "" }},
			{name: "alpha", profile: func(t *testing.T) (string, string) {
				sign = alphatest.New(alphatest.Options{})
				addr, err := sign.Listen()
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { sign.Close() })
				return "sign", `id: sign
kind: led-alpha
description: conformance
transport: {type: tcp, address: "` + addr + `"}
geometry: {pixels_x: 96, pixels_y: 16}
alpha: {read_back: true}
`
			}, fail: func() string { sign.SetSilent(true); return "did not answer" }},
		},
		protocol.OutputPrinter: {
			{name: "virtual", profile: func(*testing.T) (string, string) { return "virtual-printer", "" }},
			{name: "escpos", profile: func(t *testing.T) (string, string) {
				var err error
				if receipt, err = escpostest.Listen(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { receipt.Close() })
				return "receipt", `id: receipt
kind: printer-escpos
description: conformance
transport: {type: tcp, address: "` + receipt.Addr() + `"}
paper: {width_mm: 80, dots_per_mm: 8, printable_dots: 576, cut: full}
text: {code_page: gb18030}
status: {realtime: true}
`
			}, fail: func() string { receipt.SetState(escpostest.State{PaperEnd: true}); return "paper" }},
			{name: "tspl", profile: func(t *testing.T) (string, string) {
				var err error
				if label, err = tspltest.Listen(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { label.Close() })
				return "label", `id: label
kind: printer-tspl
description: conformance
transport: {type: tcp, address: "` + label.Addr() + `"}
paper: {label_width_mm: 60, label_height_mm: 40, gap_mm: 2, dots_per_mm: 8}
text: {code_page: gb18030}
status: {realtime: true}
`
			}, fail: func() string { label.SetStatus(tspltest.PaperOut); return "paper" }},
		},
		protocol.OutputTV: {
			{name: "virtual", profile: func(*testing.T) (string, string) { return "virtual-tv", "" }},
			{name: "mpv", profile: func(t *testing.T) (string, string) {
				if _, err := exec.LookPath("mpv"); err != nil {
					if os.Getenv("CI") != "" {
						t.Fatal("mpv not installed (make test installs it)")
					}
					t.Skip("mpv not installed")
				}
				return "screen", `id: screen
kind: tv-mpv
description: conformance, the real player with no video or audio output
transport: {type: command, command: [mpv, --ao=null]}
player: {vo: "null", cec: false}
`
			}},
		},
		protocol.OutputAudio: {
			{name: "virtual", profile: func(*testing.T) (string, string) { return "virtual-audio", "" }},
		},
	}
	for kind, wires := range kinds {
		for _, w := range wires {
			t.Run(kind+"/"+w.name, func(t *testing.T) {
				var cur *Set
				var virt output.Output
				open := func(t *testing.T) output.Output {
					id, body := w.profile(t)
					extra := map[string]string{}
					if body != "" {
						extra[id] = body
					}
					s, err := Open(context.Background(), profiles(t, extra), &protocol.AgentConfig{Profile: id}, Env{Site: "Bank No.1"})
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { s.Close() })
					cur = s
					o, _ := s.Output(kind)
					virt = o
					return o
				}
				h := outputtest.Harness{
					Kind: kind,
					New:  open,
					Good: func(t *testing.T) outputtest.Case {
						it, p := textItem(t, "CALL 96110")
						return outputtest.Case{Item: it, Path: p}
					},
					Bad: func(t *testing.T) outputtest.Case {
						it, _ := textItem(t, "CALL 96110")
						return outputtest.Case{Item: it, Path: t.TempDir() + "/missing"}
					},
					Long: func(t *testing.T) outputtest.Case {
						it, p := textItem(t, "CALL 96110")
						it.DurationMS = 5000
						return outputtest.Case{Item: it, Path: p}
					},
					Checked: func(t *testing.T, c outputtest.Case) {
						for _, h := range cur.Health() {
							if !h.OK {
								t.Errorf("health after a good play: %+v", h)
							}
						}
					},
				}
				switch {
				case w.fail != nil:
					h.Fail = func(*testing.T) string { return w.fail() }
				case w.name == "virtual":
					h.Fail = func(*testing.T) string {
						type failer interface{ FailWith(string) }
						virt.(failer).FailWith("paper out")
						return "paper out"
					}
				}
				// mpv's failure paths (TV stuck in standby, player killed)
				// need its fake cec-ctl and run in package mpv.
				outputtest.Run(t, h)
			})
		}
	}
}
