package profile_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	firmwareprofiles "github.com/guardcast/guardcast/firmware-profiles"
	"github.com/guardcast/guardcast/internal/profile"
)

// shipped lists every embedded file with a check of what matters in it.
var shipped = []struct {
	id    string
	check func(t *testing.T, p *profile.Profile)
}{
	{"alpha-sign-serial", func(t *testing.T, p *profile.Profile) {
		want := profile.Transport{Type: profile.TransportSerial, Device: "/dev/ttyUSB0", Baud: 9600, DataBits: 7, Parity: profile.ParityEven, StopBits: 1}
		diff(t, &want, p.Transport)
		diff(t, &profile.Alpha{SignAddress: "00", FileLabel: "A", ReadBack: true}, p.Alpha)
		is(t, "code page", p.Text.CodePage, profile.CodePageASCII)
	}},
	{"alpha-sign-tcp", func(t *testing.T, p *profile.Profile) {
		diff(t, &profile.Transport{Type: profile.TransportTCP, Address: "192.168.1.60:10001"}, p.Transport)
	}},
	{"max7219-4x8x8", func(t *testing.T, p *profile.Profile) {
		diff(t, &profile.Geometry{Columns: 4, Rows: 1, PixelsX: 32, PixelsY: 8, Modules: 4}, p.Geometry)
		is(t, "spi port", p.Transport.SPIPort, "SPI0.0")
		is(t, "font", p.Text.Font, profile.FontBuiltin)
	}},
	{"max7219-cjk-2row", func(t *testing.T, p *profile.Profile) {
		diff(t, &profile.Geometry{Columns: 4, Rows: 1, PixelsX: 32, PixelsY: 16, Modules: 8}, p.Geometry)
		is(t, "font", p.Text.Font, profile.FontUnifont)
		is(t, "scroll", p.Text.ScrollStep(), 40*time.Millisecond)
	}},
	{"hdmi-tv-mpv", func(t *testing.T, p *profile.Profile) {
		diff(t, &profile.Player{VO: "drm", CEC: true, CECDevice: "/dev/cec0"}, p.Player)
		diff(t, []string{"mpv"}, p.Transport.Command)
		is(t, "output", p.Output, "tv")
		is(t, "play margin", p.PlayMargin(), 20*time.Second)
	}},
	{"atm-speaker-alsa", func(t *testing.T, p *profile.Profile) {
		diff(t, &profile.Limits{MaxVolume: 100, DefaultVolume: 80, QuietHours: "22:00-07:00"}, p.Limits)
		is(t, "alsa device", p.Transport.ALSADevice, "default")
		is(t, "quiet at 23:30", p.Limits.Quiet(time.Date(2025, 1, 1, 23, 30, 0, 0, time.Local)), true)
		is(t, "quiet at 12:00", p.Limits.Quiet(time.Date(2025, 1, 1, 12, 0, 0, 0, time.Local)), false)
	}},
	{"escpos-80mm-gb18030", func(t *testing.T, p *profile.Profile) {
		diff(t, &profile.Paper{WidthMM: 80, DotsPerMM: 8, PrintableDots: 576, Cut: profile.CutFull}, p.Paper)
		is(t, "code page", p.Text.CodePage, profile.CodePageGB18030)
		is(t, "device", p.Transport.Device, "/dev/usb/lp0")
		is(t, "realtime", p.Status.Realtime, true)
		is(t, "confirm", p.Status.Confirm, profile.ConfirmDLEEOT)
		is(t, "play margin", p.PlayMargin(), 90*time.Second)
	}},
	{"escpos-58mm", func(t *testing.T, p *profile.Profile) {
		is(t, "printable dots", p.Paper.PrintableDots, 384)
		is(t, "code page", p.Text.CodePage, profile.CodePageCP437)
		is(t, "confirm", p.Status.Confirm, profile.ConfirmDLEEOT)
	}},
	{"escpos-epson-tm-80mm", func(t *testing.T, p *profile.Profile) {
		is(t, "confirm", p.Status.Confirm, profile.ConfirmGSR)
		is(t, "realtime", p.Status.Realtime, true)
		is(t, "printable dots", p.Paper.PrintableDots, 576)
	}},
	{"tspl-label-60x40", func(t *testing.T, p *profile.Profile) {
		diff(t, &profile.Paper{WidthMM: 60, DotsPerMM: 8, PrintableDots: 480, Cut: profile.CutNone,
			LabelWidthMM: 60, LabelHeightMM: 40, GapMM: 2}, p.Paper)
		is(t, "address", p.Transport.Address, "192.168.1.80:9100")
	}},
	{"cups-keycard", func(t *testing.T, p *profile.Profile) {
		is(t, "queue", p.Transport.Queue, "keycard")
		is(t, "realtime", p.Status.Realtime, false)
	}},
	{"gpio-button", func(t *testing.T, p *profile.Profile) {
		diff(t, &profile.Transport{Type: profile.TransportGPIO, Pin: "GPIO17", Pull: profile.PullUp, Edge: profile.EdgeFalling, DebounceMS: 50}, p.Transport)
		is(t, "output", p.Output, "")
	}},
	{"gpio-pir", func(t *testing.T, p *profile.Profile) {
		diff(t, &profile.Transport{Type: profile.TransportGPIO, Pin: "GPIO27", Pull: profile.PullDown, Edge: profile.EdgeRising, DebounceMS: 500}, p.Transport)
		is(t, "debounce", p.Transport.Debounce(), 500*time.Millisecond)
	}},
	{"virtual-led", virtual("led")},
	{"virtual-tv", virtual("tv")},
	{"virtual-audio", virtual("audio")},
	{"virtual-printer", virtual("printer")},
	{"virtual", virtual("")},
}

func virtual(out string) func(t *testing.T, p *profile.Profile) {
	return func(t *testing.T, p *profile.Profile) {
		is(t, "kind", p.Kind, profile.KindVirtual)
		is(t, "output", p.Output, out)
		if p.Transport != nil || p.Limits != nil {
			t.Errorf("virtual profile has sections: %+v", p)
		}
	}
}

func is[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func diff(t *testing.T, want, got any) {
	t.Helper()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestShippedProfiles(t *testing.T) {
	files, err := fs.Glob(firmwareprofiles.FS, "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range files {
		ids = append(ids, strings.TrimSuffix(f, ".yaml"))
	}
	var want []string
	for _, s := range shipped {
		want = append(want, s.id)
	}
	slices.Sort(want)
	slices.Sort(ids)   // "virtual.yaml" sorts after "virtual-led.yaml", "virtual" before "virtual-led"
	diff(t, want, ids) // every file has a check, every check a file

	for _, s := range shipped {
		t.Run(s.id, func(t *testing.T) {
			b, err := fs.ReadFile(firmwareprofiles.FS, s.id+".yaml")
			if err != nil {
				t.Fatal(err)
			}
			p, err := profile.Parse(s.id+".yaml", b)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if err := p.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			is(t, "id", p.ID, s.id)
			is(t, "output", p.Output, outputOf(p))
			checkSections(t, p)
			s.check(t, p)
			roundTrip(t, p)
		})
	}

	set, err := profile.Load(firmwareprofiles.FS, "")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	diff(t, want, set.IDs())
	for _, id := range []string{"virtual", "virtual-led", "virtual-tv", "virtual-audio", "virtual-printer"} {
		if _, err := set.Get(id); err != nil {
			t.Errorf("the demo's profile %s: %v", id, err)
		}
	}
}

func outputOf(p *profile.Profile) string {
	if p.Kind == profile.KindVirtual {
		return p.Output
	}
	return p.Kind.Output()
}

// checkSections holds the promise drivers rely on: a section the kind uses
// is never nil, one it does not use always is.
func checkSections(t *testing.T, p *profile.Profile) {
	t.Helper()
	uses := map[profile.Kind]string{
		profile.KindLEDAlpha:      "transport geometry text status limits alpha",
		profile.KindLEDMAX7219:    "transport geometry text limits",
		profile.KindTVMPV:         "transport player status limits",
		profile.KindAudioALSA:     "transport limits",
		profile.KindPrinterESCPOS: "transport paper text status",
		profile.KindPrinterTSPL:   "transport paper text status",
		profile.KindPrinterCUPS:   "transport paper text status",
		profile.KindGPIOInput:     "transport",
		profile.KindVirtual:       "",
	}[p.Kind]
	have := map[string]bool{
		"transport": p.Transport != nil, "geometry": p.Geometry != nil, "text": p.Text != nil,
		"paper": p.Paper != nil, "status": p.Status != nil, "limits": p.Limits != nil,
		"alpha": p.Alpha != nil, "player": p.Player != nil,
	}
	for s, ok := range have {
		if want := slices.Contains(strings.Fields(uses), s); ok != want {
			t.Errorf("section %s present = %v, want %v", s, ok, want)
		}
	}
	if p.Transport != nil && !slices.Contains(p.Kind.Transports(), p.Transport.Type) {
		t.Errorf("transport %s not in %v", p.Transport.Type, p.Kind.Transports())
	}
}

// roundTrip checks that a parsed profile written out and parsed again is
// the same: defaults are a fixed point and explicit values survive.
func roundTrip(t *testing.T, p *profile.Profile) {
	t.Helper()
	b, err := yaml.Marshal(p)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	q, err := profile.Parse("again.yaml", b)
	if err != nil {
		t.Fatalf("parse of marshalled profile: %v\n%s", err, b)
	}
	q.Source = p.Source
	if d := cmp.Diff(p, q); d != "" {
		t.Errorf("round trip changed the profile (-first +second):\n%s", d)
	}
}

const goodLED = `id: bad
kind: led-max7219
description: a test display
geometry:
  modules: 4
`

const goodPrinter = `id: bad
kind: printer-escpos
description: a test printer
transport:
  type: tcp
  address: 127.0.0.1:9100
paper:
  width_mm: 80
  printable_dots: 576
`

// TestBadFiles: each broken file fails naming the file, the field and why,
// on the right line.
func TestBadFiles(t *testing.T) {
	tests := []struct {
		name   string
		yaml   string
		field  string // YAML path the first error must name
		line   int    // its line (0: do not check)
		reason string // substring of the reason
	}{
		{"unknown top-level field", goodLED + "colour: red\n", "colour", 6, "unknown field"},
		{"unknown nested field", "id: bad\nkind: led-alpha\ndescription: x\ntransport:\n  type: serial\n  device: /dev/ttyS0\n  baud_rate: 9600\ngeometry: {pixels_x: 80, pixels_y: 16}\n",
			"transport.baud_rate", 7, "transport has: type, device, baud"},
		{"missing kind", "id: bad\ndescription: x\n", "kind", 0, "required"},
		{"missing description", "id: bad\nkind: virtual\noutput: led\n", "description", 0, "required"},
		{"missing id", "kind: virtual\noutput: led\ndescription: x\n", "id", 0, "required"},
		{"missing serial device", "id: bad\nkind: led-alpha\ndescription: x\ntransport:\n  type: serial\ngeometry: {pixels_x: 80, pixels_y: 16}\n",
			"transport.device", 4, "required"},
		{"missing transport type", "id: bad\nkind: printer-escpos\ndescription: x\ntransport:\n  device: /dev/usb/lp0\npaper: {width_mm: 80, printable_dots: 576}\n",
			"transport.type", 4, "one of usblp, serial, tcp"},
		{"missing printable dots", "id: bad\nkind: printer-escpos\ndescription: x\ntransport: {type: usblp}\npaper:\n  width_mm: 80\n",
			"paper.printable_dots", 5, "required"},
		{"missing gpio pull", "id: bad\nkind: gpio-input\ndescription: x\ntransport:\n  pin: GPIO17\n  edge: falling\n",
			"transport.pull", 4, "required"},
		{"baud 12345", "id: bad\nkind: led-alpha\ndescription: x\ntransport:\n  type: serial\n  device: /dev/ttyS0\n  baud: 12345\ngeometry: {pixels_x: 80, pixels_y: 16}\n",
			"transport.baud", 7, "12345 is not a standard baud rate"},
		{"width 0", strings.Replace(goodPrinter, "width_mm: 80", "width_mm: 0", 1), "paper.width_mm", 8, "more than 0"},
		{"width NaN", strings.Replace(goodPrinter, "width_mm: 80", "width_mm: .nan", 1), "paper.width_mm", 8, "impossible"},
		{"brightness 16", goodLED + "limits:\n  max_brightness: 16\n", "limits.max_brightness", 7, "want 0 to 15"},
		{"default above max", goodLED + "limits:\n  max_brightness: 5\n  default_brightness: 9\n", "limits.default_brightness", 8, "at most max_brightness"},
		{"quiet hours unparsable", "id: bad\nkind: audio-alsa\ndescription: x\nlimits:\n  quiet_hours: after ten\n", "limits.quiet_hours", 5, "want HH:MM-HH:MM"},
		{"quiet hours 25:00", "id: bad\nkind: audio-alsa\ndescription: x\nlimits:\n  quiet_hours: 25:00-07:00\n", "limits.quiet_hours", 5, "not a time of day"},
		{"quiet hours empty window", "id: bad\nkind: audio-alsa\ndescription: x\nlimits:\n  quiet_hours: 07:00-07:00\n", "limits.quiet_hours", 5, "same time"},
		{"max7219 without spi", goodLED + "transport:\n  type: serial\n  device: /dev/ttyS0\n", "transport.type", 7, "cannot use transport serial: it takes spi"},
		{"unknown transport", goodLED + "transport:\n  type: i2c\n", "transport.type", 7, "unknown transport"},
		{"field of another transport", strings.Replace(goodPrinter, "  address:", "  baud: 9600\n  address:", 1), "transport.baud", 6, "not used by transport type tcp"},
		{"section the kind does not use", goodLED + "paper:\n  width_mm: 80\n", "paper", 6, "not used by kind led-max7219"},
		{"unknown kind", "id: bad\nkind: led-neon\ndescription: x\n", "kind", 2, "want one of led-alpha"},
		{"output mismatch", goodLED + "output: tv\n", "output", 6, "does not match kind"},
		{"output on gpio", "id: bad\nkind: gpio-input\noutput: led\ndescription: x\ntransport: {pin: GPIO4, pull: up, edge: both}\n", "output", 3, "must be empty"},
		{"wrong scalar type", goodLED + "transport:\n  spi_hz: fast\n", "transport.spi_hz", 7, `want a whole number, got the text "fast"`},
		{"quoted number", goodLED + "transport:\n  spi_hz: \"1000000\"\n", "transport.spi_hz", 7, "want a whole number"},
		{"yes is not a bool", "id: bad\nkind: tv-mpv\ndescription: x\nplayer:\n  cec: yes\n", "player.cec", 5, "want true or false"},
		{"list for a value", goodLED + "transport:\n  spi_port: [SPI0.0]\n", "transport.spi_port", 7, "want a single value"},
		{"value for a section", goodLED + "transport: spi\n", "transport", 6, "want a section"},
		{"set twice", goodLED + "description: again\n", "description", 6, "set twice (first on line 3)"},
		{"tcp without port", strings.Replace(goodPrinter, "127.0.0.1:9100", "127.0.0.1", 1), "transport.address", 6, "want host:port"},
		{"tcp port 0", strings.Replace(goodPrinter, "127.0.0.1:9100", "127.0.0.1:0", 1), "transport.address", 6, "port must be"},
		{"printable dots not a multiple of 8", strings.Replace(goodPrinter, "576", "570", 1), "paper.printable_dots", 9, "multiple of 8"},
		{"printable dots wider than paper", strings.Replace(goodPrinter, "576", "800", 1), "paper.printable_dots", 9, "do not fit"},
		{"bad cut", goodPrinter + "  cut: half\n", "paper.cut", 10, "want full, partial or none"},
		{"unifont on 8 rows", goodLED + "text:\n  font: unifont\n", "text.font", 7, "16 dots high"},
		{"modules do not match pixels", goodLED + "  pixels_x: 64\n  pixels_y: 8\n", "geometry.modules", 5, "4 modules make 256 pixels"},
		{"rotate 45", goodLED + "  rotate: 45\n", "geometry.rotate", 6, "want 0, 90, 180 or 270"},
		{"alpha code page", "id: bad\nkind: led-alpha\ndescription: x\ntransport: {type: tcp, address: 'sign:10001'}\ngeometry: {pixels_x: 80, pixels_y: 16}\ntext: {code_page: gb18030}\n",
			"text.code_page", 6, "ascii only"},
		{"alpha priority file", "id: bad\nkind: led-alpha\ndescription: x\ntransport: {type: tcp, address: 'sign:10001'}\ngeometry: {pixels_x: 80, pixels_y: 16}\nalpha: {file_label: '0'}\n",
			"alpha.file_label", 6, "priority file"},
		{"gpio header pin number", "id: bad\nkind: gpio-input\ndescription: x\ntransport: {pin: '11', pull: up, edge: falling}\n", "transport.pin", 4, "not a header pin number"},
		{"cups queue like an option", "id: bad\nkind: printer-cups\ndescription: x\ntransport: {queue: -oraw}\n", "transport.queue", 4, "not starting with -"},
		{"realtime on cups", "id: bad\nkind: printer-cups\ndescription: x\ntransport: {queue: keycard}\nstatus: {realtime: true}\n", "status.realtime", 5, "only printer-escpos"},
		{"confirm on tspl", "id: bad\nkind: printer-tspl\ndescription: x\ntransport: {type: tcp, address: '127.0.0.1:9100'}\npaper: {label_width_mm: 60, label_height_mm: 40}\nstatus: {confirm: gs_r}\n",
			"status.confirm", 0, "only printer-escpos"},
		{"unknown confirm", goodPrinter + "status:\n  confirm: gs_v\n", "status.confirm", 0, "want gs_r"},
		{"confirm without realtime", goodPrinter + "status:\n  realtime: false\n  confirm: dle_eot\n", "status.confirm", 0, "needs status.realtime"},
		{"play margin too small", goodLED + "play_margin_ms: 5\n", "play_margin_ms", 0, "want 100 to 600000"},
		{"play margin as a duration", goodLED + "play_margin_ms: 10s\n", "play_margin_ms", 6, "want a whole number"},
		{"play margin on gpio", "id: bad\nkind: gpio-input\ndescription: x\nplay_margin_ms: 1000\ntransport: {pin: GPIO4, pull: up, edge: both}\n", "play_margin_ms", 0, "plays nothing"},
		{"bad id", "id: Bank Sign\nkind: virtual\noutput: led\ndescription: x\n", "id", 1, "lower-case"},
		{"syntax error", "id: bad\nkind: virtual\n  description: x\n", "", 3, "YAML syntax: mapping values are not allowed"},
		{"two documents", "id: bad\nkind: virtual\noutput: led\ndescription: x\n---\nid: other\n", "", 5, "second YAML document"},
		{"empty file", "", "", 0, "empty file"},
		{"only a comment", "# nothing here\n", "", 0, "empty file"},
		{"not a mapping", "- id: bad\n", "", 1, "must be a YAML mapping"},
		{"too large", "description: " + strings.Repeat("x", profile.MaxFileSize), "", 0, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const file = "/etc/guardcast/profiles/bad.yaml"
			p, err := profile.Parse(file, []byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", p)
			}
			msg := err.Error()
			if !strings.Contains(msg, file) {
				t.Errorf("error does not name the file: %s", msg)
			}
			var fe *profile.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error is not a *FieldError: %T %v", err, err)
			}
			if fe.Field != tt.field || (tt.line != 0 && fe.Line != tt.line) || !strings.Contains(fe.Reason, tt.reason) {
				t.Errorf("first error = field %q line %d reason %q\nwant field %q line %d reason containing %q\nall: %s",
					fe.Field, fe.Line, fe.Reason, tt.field, tt.line, tt.reason, msg)
			}
			if tt.field != "" && !strings.Contains(msg, tt.field+": ") {
				t.Errorf("message does not name the field: %s", msg)
			}
		})
	}
}

func TestAllProblemsReported(t *testing.T) {
	y := goodLED + "transport:\n  spi_hz: 20000000\nlimits:\n  max_brightness: 16\n  colour: red\n"
	_, err := profile.Parse("x.yaml", []byte(y))
	if err == nil {
		t.Fatal("no error")
	}
	// Structure problems are reported before values are checked.
	if !strings.Contains(err.Error(), "limits.colour: unknown field") {
		t.Errorf("got %v", err)
	}
	_, err = profile.Parse("x.yaml", []byte(strings.Replace(y, "  colour: red\n", "", 1)))
	for _, want := range []string{"x.yaml:7: transport.spi_hz: 20000000 is out of range", "x.yaml:9: limits.max_brightness: 16"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\ndoes not contain %q", err, want)
		}
	}
}

func TestExplicitZeroKept(t *testing.T) {
	y := goodLED + "limits:\n  max_brightness: 0\n" +
		"transport:\n  spi_hz: 100000\n"
	p, err := profile.Parse("x.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	diff(t, &profile.Limits{}, p.Limits) // max 0 keeps default_brightness at 0 too

	a := "id: a\nkind: led-alpha\ndescription: x\ntransport: {type: tcp, address: 'sign:10001'}\ngeometry: {pixels_x: 80, pixels_y: 16}\nalpha: {read_back: false}\n"
	p, err = profile.Parse("a.yaml", []byte(a))
	if err != nil {
		t.Fatal(err)
	}
	is(t, "read_back", p.Alpha.ReadBack, false)
	is(t, "sign address default", p.Alpha.SignAddress, "00")

	g := "id: g\nkind: gpio-input\ndescription: x\ntransport: {pin: GPIO4, pull: none, edge: both, debounce_ms: 0}\n"
	p, err = profile.Parse("g.yaml", []byte(g))
	if err != nil {
		t.Fatal(err)
	}
	is(t, "debounce", p.Transport.DebounceMS, 0)
	g = strings.Replace(g, ", debounce_ms: 0", "", 1)
	if p, err = profile.Parse("g.yaml", []byte(g)); err != nil {
		t.Fatal(err)
	}
	is(t, "default debounce", p.Transport.DebounceMS, 50)
}

// TestApplyDefaults: a profile built in Go and completed by ApplyDefaults
// equals the same profile parsed from YAML.
func TestApplyDefaults(t *testing.T) {
	p := &profile.Profile{ID: "tspl", Kind: profile.KindPrinterTSPL, Description: "label printer",
		Transport: &profile.Transport{Type: profile.TransportUSBLP},
		Paper:     &profile.Paper{LabelWidthMM: 100, LabelHeightMM: 150}}
	p.ApplyDefaults()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	q, err := profile.Parse("tspl.yaml", []byte("id: tspl\nkind: printer-tspl\ndescription: label printer\n"+
		"transport: {type: usblp}\npaper: {label_width_mm: 100, label_height_mm: 150}\n"))
	if err != nil {
		t.Fatal(err)
	}
	q.Source = ""
	diff(t, q, p)
	is(t, "printable dots", p.Paper.PrintableDots, 800)
	is(t, "device", p.Transport.Device, "/dev/usb/lp0")

	// Validate without defaults names what is missing.
	bare := &profile.Profile{ID: "x", Kind: profile.KindAudioALSA, Description: "x"}
	err = bare.Validate()
	var fe *profile.FieldError
	if !errors.As(err, &fe) || fe.File != "" || !strings.Contains(err.Error(), "\ntransport: required for kind audio-alsa") {
		t.Errorf("Validate of a bare profile: %v", err)
	}
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadOverride(t *testing.T) {
	dir := t.TempDir()
	b, err := fs.ReadFile(firmwareprofiles.FS, "alpha-sign-serial.yaml")
	if err != nil {
		t.Fatal(err)
	}
	over := writeFile(t, dir, "alpha-sign-serial.yaml", strings.Replace(string(b), "device: /dev/ttyUSB0", "device: /dev/ttyAMA0", 1))
	added := writeFile(t, dir, "bank-door-max7219.yml", "id: bank-door-max7219\nkind: led-max7219\ndescription: door\ngeometry: {modules: 8}\n")
	writeFile(t, dir, "README.txt", "not a profile")
	writeFile(t, dir, ".alpha-sign-serial.yaml.swp", "editor junk")
	if err := os.Mkdir(filepath.Join(dir, "old.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}

	set, err := profile.Load(firmwareprofiles.FS, dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := set.Get("alpha-sign-serial")
	if err != nil {
		t.Fatal(err)
	}
	is(t, "overridden device", p.Transport.Device, "/dev/ttyAMA0")
	is(t, "source", p.Source, over)
	p, err = set.Get("bank-door-max7219")
	if err != nil {
		t.Fatal(err)
	}
	is(t, "added source", p.Source, added)
	is(t, "added pixels", p.Geometry.PixelsX, 64)
	p, err = set.Get("alpha-sign-tcp")
	if err != nil {
		t.Fatal(err)
	}
	is(t, "embedded source", p.Source, "embedded:alpha-sign-tcp.yaml")
	is(t, "count", len(set.IDs()), len(shipped)+1)

	// Get hands out copies.
	p.Transport.Address = "changed:1"
	p.Transport.Command = append(p.Transport.Command, "x")
	again, _ := set.Get("alpha-sign-tcp")
	is(t, "address after caller's change", again.Transport.Address, "192.168.1.60:10001")
}

func TestLoadErrors(t *testing.T) {
	t.Run("duplicate id within a directory", func(t *testing.T) {
		dir := t.TempDir()
		body := "id: twin\nkind: virtual\noutput: led\ndescription: x\n"
		writeFile(t, dir, "twin.yaml", body)
		writeFile(t, dir, "twin.yml", body)
		_, err := profile.Load(nil, dir)
		if err == nil || !strings.Contains(err.Error(), "twin.yml:1: id: duplicate id \"twin\": "+filepath.Join(dir, "twin.yaml")) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("duplicate id within embedded files", func(t *testing.T) {
		body := []byte("id: twin\nkind: virtual\noutput: led\ndescription: x\n")
		_, err := profile.Load(fstest.MapFS{"twin.yaml": {Data: body}, "twin2.yaml": {Data: body}}, "")
		if err == nil || !strings.Contains(err.Error(), "embedded:twin2.yaml:1: id:") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("id does not match file name", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "my-sign.yaml", "# copied\nid: alpha-sign-serial\nkind: virtual\noutput: led\ndescription: x\n")
		_, err := profile.Load(firmwareprofiles.FS, dir)
		want := filepath.Join(dir, "my-sign.yaml") + `:2: id: "alpha-sign-serial" does not match the file name`
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v\nwant %s", err, want)
		}
	})
	t.Run("every bad file reported", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "a.yaml", "id: a\nkind: virtual\noutput: led\ndescription: x\nbaud: 1\n")
		writeFile(t, dir, "b.yaml", "id: b\nkind: audio-alsa\ndescription: x\nlimits: {max_volume: 101}\n")
		_, err := profile.Load(firmwareprofiles.FS, dir)
		for _, want := range []string{filepath.Join(dir, "a.yaml") + ":5: baud: unknown field", filepath.Join(dir, "b.yaml") + ":4: limits.max_volume: 101"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v\ndoes not contain %q", err, want)
			}
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		_, err := profile.Load(firmwareprofiles.FS, filepath.Join(t.TempDir(), "nope"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("unknown id lists known ones", func(t *testing.T) {
		set, err := profile.Load(firmwareprofiles.FS, "")
		if err != nil {
			t.Fatal(err)
		}
		_, err = set.Get("alpha-sign")
		if err == nil || !strings.Contains(err.Error(), `unknown profile "alpha-sign": known profiles are alpha-sign-serial, alpha-sign-tcp, atm-speaker-alsa`) {
			t.Errorf("got %v", err)
		}
	})
}

func TestQuietHours(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2025, 6, 1, h, m, 0, 0, time.Local) }
	tests := []struct {
		spec   string
		t      time.Time
		inside bool
	}{
		{"22:00-07:00", at(22, 0), true},
		{"22:00-07:00", at(3, 15), true},
		{"22:00-07:00", at(6, 59), true},
		{"22:00-07:00", at(7, 0), false},
		{"22:00-07:00", at(21, 59), false},
		{"12:00-13:30", at(13, 29), true},
		{"12:00-13:30", at(13, 30), false},
		{"9:00-17:00", at(9, 0), true},
		{" 00:00 - 06:00 ", at(0, 0), true},
	}
	for _, tt := range tests {
		q, err := profile.ParseQuietHours(tt.spec)
		if err != nil {
			t.Fatalf("%q: %v", tt.spec, err)
		}
		if got := q.Contains(tt.t); got != tt.inside {
			t.Errorf("%q contains %s = %v, want %v", tt.spec, tt.t.Format("15:04"), got, tt.inside)
		}
	}
	for _, bad := range []string{"", "22:00", "22-07", "24:00-07:00", "22:60-07:00", "22:00-7", "+1:00-02:00", "aa:bb-cc:dd", "07:00-07:00", "22:00-07:00-08:00"} {
		if _, err := profile.ParseQuietHours(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	q, _ := profile.ParseQuietHours("9:05-17:00")
	is(t, "String", q.String(), "09:05-17:00")
	is(t, "no quiet hours", (&profile.Limits{}).Quiet(at(3, 0)), false)
}

// FuzzParse: Parse never panics, and whatever it accepts is valid and
// survives being written out and read again.
func FuzzParse(f *testing.F) {
	files, _ := fs.Glob(firmwareprofiles.FS, "*.yaml")
	for _, n := range files {
		b, _ := fs.ReadFile(firmwareprofiles.FS, n)
		f.Add(b)
	}
	f.Add([]byte(goodLED + "limits:\n  max_brightness: 16\n"))
	f.Add([]byte(goodPrinter))
	f.Add([]byte("a: &x {b: *x}\n"))
	f.Add([]byte("id: &i x\nkind: virtual\noutput: *i\ndescription: *i\n"))
	f.Add([]byte("transport: &t {type: spi}\ngeometry: *t\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := profile.Parse("fuzz.yaml", data)
		if err != nil {
			if p != nil {
				t.Fatal("profile and error")
			}
			var fe *profile.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error is not a *FieldError: %T %v", err, err)
			}
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not start with the file name: %v", err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("Parse accepted a profile Validate rejects: %v", err)
		}
		checkSections(t, p)
		roundTrip(t, p)
	})
}

// TestPlayMarginAndConfirmDefaults: every output kind has a play margin,
// an explicit one is kept, and an ESC/POS printer without real-time status
// defaults to no confirmation.
func TestPlayMarginAndConfirmDefaults(t *testing.T) {
	p, err := profile.Parse("x.yaml", []byte(goodLED+"play_margin_ms: 2500\n"))
	if err != nil {
		t.Fatal(err)
	}
	is(t, "explicit margin", p.PlayMargin(), 2500*time.Millisecond)
	p, err = profile.Parse("x.yaml", []byte(goodLED))
	if err != nil {
		t.Fatal(err)
	}
	is(t, "max7219 margin", p.PlayMargin(), 5*time.Second)

	p, err = profile.Parse("p.yaml", []byte(goodPrinter+"status:\n  realtime: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	is(t, "confirm without realtime", p.Status.Confirm, profile.ConfirmNone)
	p, err = profile.Parse("p.yaml", []byte(goodPrinter))
	if err != nil {
		t.Fatal(err)
	}
	is(t, "confirm default", p.Status.Confirm, profile.ConfirmGSR)

	set, err := profile.Load(firmwareprofiles.FS, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range set.IDs() {
		p, err := set.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		if p.Kind != profile.KindGPIOInput && p.PlayMargin() <= 0 {
			t.Errorf("%s: no play margin", p.ID)
		}
	}
}
