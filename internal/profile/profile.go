// Package profile reads firmware profiles: one YAML file per hardware model
// (an LED sign, a printer, an audio output, a TV/player set-up, a GPIO
// input) that tells an agent which driver to run and how to talk to the
// device.
//
// Profiles ship embedded (package firmwareprofiles) and a directory may add
// or override them by ID. Decoding is strict: an unknown field, a missing
// required field or an impossible value is an error that names the file,
// the YAML path of the field, the line and the reason, and Load checks every
// file at start-up so that nothing fails half-way through a run.
//
// The agent picks its driver with one switch on Profile.Kind; the sections a
// kind uses (see Kind) are never nil in a profile returned by Parse or
// Set.Get, and sections it does not use are always nil.
package profile

import (
	"slices"
	"time"

	"github.com/guardcast/guardcast/internal/protocol"
)

// Kind names a driver family. Each kind serves one protocol output and uses
// a fixed set of sections:
//
//	kind            output   transport types       sections
//	led-alpha       led      serial, tcp           geometry text status limits alpha
//	led-max7219     led      spi                   geometry text limits
//	tv-mpv          tv       command               player status limits
//	audio-alsa      audio    alsa                  limits
//	printer-escpos  printer  usblp, serial, tcp    paper text status
//	printer-tspl    printer  usblp, serial, tcp    paper text status
//	printer-cups    printer  cups                  paper text status
//	gpio-input      (none)   gpio                  -
//	virtual         any      (none)                -
type Kind string

// The kinds of hardware GuardCast drives.
const (
	// KindLEDAlpha is a text LED sign speaking the Alpha Sign
	// Communications Protocol; Chinese goes as DOTS pictures.
	KindLEDAlpha Kind = "led-alpha"
	// KindLEDMAX7219 is a chain of 8×8 MAX7219 dot-matrix modules on SPI.
	KindLEDMAX7219 Kind = "led-max7219"
	// KindTVMPV is a screen driven by one long-lived mpv over its JSON IPC
	// socket, optionally powered on through HDMI-CEC.
	KindTVMPV Kind = "tv-mpv"
	// KindAudioALSA is a speaker on an ALSA PCM (through oto, or aplay).
	KindAudioALSA Kind = "audio-alsa"
	// KindPrinterESCPOS is a receipt printer speaking ESC/POS.
	KindPrinterESCPOS Kind = "printer-escpos"
	// KindPrinterTSPL is a label printer speaking TSPL.
	KindPrinterTSPL Kind = "printer-tspl"
	// KindPrinterCUPS is any printer behind a CUPS queue (keycard printers).
	KindPrinterCUPS Kind = "printer-cups"
	// KindGPIOInput is a button or sensor on a GPIO pin that raises a local
	// trigger; it plays nothing itself.
	KindGPIOInput Kind = "gpio-input"
	// KindVirtual shows nothing and records what it "played" (the demo).
	// With an Output it serves that one output; without, every output.
	KindVirtual Kind = "virtual"
)

// Kinds lists every kind, in the order of the table above.
var Kinds = []Kind{KindLEDAlpha, KindLEDMAX7219, KindTVMPV, KindAudioALSA,
	KindPrinterESCPOS, KindPrinterTSPL, KindPrinterCUPS, KindGPIOInput, KindVirtual}

// Output is the protocol output a kind serves ("" for gpio-input and for
// virtual, whose profile names it).
func (k Kind) Output() string {
	switch k {
	case KindLEDAlpha, KindLEDMAX7219:
		return protocol.OutputLED
	case KindTVMPV:
		return protocol.OutputTV
	case KindAudioALSA:
		return protocol.OutputAudio
	case KindPrinterESCPOS, KindPrinterTSPL, KindPrinterCUPS:
		return protocol.OutputPrinter
	}
	return ""
}

// Transports lists the transport types a kind accepts; the first is the
// default when a file leaves transport.type out and the kind has only one.
func (k Kind) Transports() []TransportType {
	switch k {
	case KindLEDAlpha:
		return []TransportType{TransportSerial, TransportTCP}
	case KindLEDMAX7219:
		return []TransportType{TransportSPI}
	case KindTVMPV:
		return []TransportType{TransportCommand}
	case KindAudioALSA:
		return []TransportType{TransportALSA}
	case KindPrinterESCPOS, KindPrinterTSPL:
		return []TransportType{TransportUSBLP, TransportSerial, TransportTCP}
	case KindPrinterCUPS:
		return []TransportType{TransportCUPS}
	case KindGPIOInput:
		return []TransportType{TransportGPIO}
	}
	return nil
}

// uses reports whether kind k uses the named section.
func (k Kind) uses(section string) bool {
	return slices.Contains(kindSections[k], section)
}

var kindSections = map[Kind][]string{
	KindLEDAlpha:      {"transport", "geometry", "text", "status", "limits", "alpha"},
	KindLEDMAX7219:    {"transport", "geometry", "text", "limits"},
	KindTVMPV:         {"transport", "player", "status", "limits"},
	KindAudioALSA:     {"transport", "limits"},
	KindPrinterESCPOS: {"transport", "paper", "text", "status"},
	KindPrinterTSPL:   {"transport", "paper", "text", "status"},
	KindPrinterCUPS:   {"transport", "paper", "text", "status"},
	KindGPIOInput:     {"transport"},
	KindVirtual:       {},
}

// Profile is one hardware model. Field comments give the YAML name, the
// meaning, the unit and the default; "required" fields have no default.
type Profile struct {
	// ID names the profile (id); an agent config's "profile" is this. Lower
	// case letters, digits and dashes; in a directory the file must be
	// named ID.yaml. Required.
	ID string `yaml:"id"`
	// Kind chooses the driver (kind). Required.
	Kind Kind `yaml:"kind"`
	// Output is the protocol output (led, tv, audio, printer) this device
	// serves (output). Implied by the kind; required only for virtual;
	// must be empty for gpio-input.
	Output string `yaml:"output"`
	// Description says what hardware this is, for people (description).
	// Required.
	Description string `yaml:"description"`
	// PlayMarginMS bounds every play on this output (play_margin_ms): a
	// play may take the item's duration plus this margin (loading,
	// printing, reading back) before it is failed as "player stalled" and
	// the player restarted; 100 to 600000. Default by kind: led-alpha
	// 30000 (pictures written and read back at 9600 baud), led-max7219
	// 5000, tv-mpv 20000 (mpv's 15 s load limit), audio-alsa 5000,
	// printer-escpos and printer-tspl 90000 (a logo at 9600 baud and a
	// 30 s job confirmation), printer-cups 150000 (a 2 min CUPS job),
	// virtual 5000. Not used by gpio-input.
	PlayMarginMS int `yaml:"play_margin_ms"`

	Transport *Transport `yaml:"transport,omitempty"`
	Geometry  *Geometry  `yaml:"geometry,omitempty"`
	Text      *Text      `yaml:"text,omitempty"`
	Paper     *Paper     `yaml:"paper,omitempty"`
	Status    *Status    `yaml:"status,omitempty"`
	Limits    *Limits    `yaml:"limits,omitempty"`
	Alpha     *Alpha     `yaml:"alpha,omitempty"`
	Player    *Player    `yaml:"player,omitempty"`

	// Source is where the profile was read from: "embedded:NAME.yaml" or a
	// file path. Not part of the file.
	Source string `yaml:"-"`
}

// TransportType is how the agent reaches the device.
type TransportType string

// Transport types.
const (
	// TransportSerial is an RS-232/RS-485 port (USB adapter or Pi UART):
	// device, baud, data_bits, parity, stop_bits.
	TransportSerial TransportType = "serial"
	// TransportTCP is a raw TCP stream (printer port 9100, serial server):
	// address.
	TransportTCP TransportType = "tcp"
	// TransportUSBLP is the Linux usblp character device (/dev/usb/lp0):
	// device.
	TransportUSBLP TransportType = "usblp"
	// TransportSPI is a periph SPI port: spi_port, spi_hz.
	TransportSPI TransportType = "spi"
	// TransportALSA is an ALSA PCM: alsa_device.
	TransportALSA TransportType = "alsa"
	// TransportCUPS is a CUPS queue (printed with lp, tracked with lpstat):
	// queue.
	TransportCUPS TransportType = "cups"
	// TransportCommand is a program the agent runs and keeps running (the
	// mpv player): command.
	TransportCommand TransportType = "command"
	// TransportGPIO is a periph GPIO input pin: pin, pull, edge,
	// debounce_ms.
	TransportGPIO TransportType = "gpio"
)

// Parity of a serial line.
type Parity string

// Parities.
const (
	ParityNone Parity = "none"
	ParityEven Parity = "even"
	ParityOdd  Parity = "odd"
)

// Pull is a GPIO pin's internal resistor.
type Pull string

// Pulls.
const (
	PullUp   Pull = "up"
	PullDown Pull = "down"
	PullNone Pull = "none"
)

// Edge is the GPIO level change that fires a trigger.
type Edge string

// Edges.
const (
	EdgeRising  Edge = "rising"
	EdgeFalling Edge = "falling"
	EdgeBoth    Edge = "both"
)

// Transport says how to reach the device. Only the fields of its Type may
// be set; the others must stay empty.
type Transport struct {
	// Type is the transport (type). Required for led-alpha and printers
	// (which accept several); the kind's only type otherwise.
	Type TransportType `yaml:"type"`

	// Device is the character device (device): a serial port such as
	// /dev/ttyUSB0 (serial, required), or the usblp device (usblp,
	// default /dev/usb/lp0).
	Device string `yaml:"device"`
	// Baud is the serial line speed in bit/s (baud): a standard rate from
	// 300 to 230400. Default 9600.
	Baud int `yaml:"baud"`
	// DataBits per character, 7 or 8 (data_bits). Default 7 for led-alpha
	// (Alpha's 7E1), 8 otherwise.
	DataBits int `yaml:"data_bits"`
	// Parity: none, even or odd (parity). Default even for led-alpha,
	// none otherwise.
	Parity Parity `yaml:"parity"`
	// StopBits, 1 or 2 (stop_bits). Default 1.
	StopBits int `yaml:"stop_bits"`

	// Address is host:port for tcp (address), e.g. 192.168.1.50:9100.
	// Required for tcp.
	Address string `yaml:"address"`

	// SPIPort is the periph SPI port name, bus.chip-select (spi_port), e.g.
	// "SPI0.0" for CE0 on a Pi. Default SPI0.0.
	SPIPort string `yaml:"spi_port"`
	// SPIHz is the SPI clock in Hz (spi_hz), at most 10 MHz for MAX7219;
	// lower it for long wires. Default 10000000.
	SPIHz int `yaml:"spi_hz"`

	// ALSADevice is the ALSA PCM name (alsa_device): "default",
	// "plughw:1,0", "plughw:CARD=Device,DEV=0". Default "default".
	ALSADevice string `yaml:"alsa_device"`

	// Queue is the CUPS queue name (queue), as given to lp -d. Required for
	// cups.
	Queue string `yaml:"queue"`

	// Command is the player program and any extra arguments (command); the
	// driver adds its own IPC and output options. Default ["mpv"].
	Command []string `yaml:"command,omitempty"`

	// Pin is the GPIO line by its Broadcom name (pin), e.g. GPIO17 (header
	// pin 11). Required for gpio.
	Pin string `yaml:"pin"`
	// Pull is the pin's internal resistor: up, down or none (pull).
	// Required for gpio: it depends on the wiring.
	Pull Pull `yaml:"pull"`
	// Edge that fires the trigger: rising, falling or both (edge).
	// Required for gpio.
	Edge Edge `yaml:"edge"`
	// DebounceMS ignores further edges for this many milliseconds after
	// one fired (debounce_ms), 0 to 10000. Default 50.
	DebounceMS int `yaml:"debounce_ms"`
}

// Debounce is DebounceMS as a duration.
func (t *Transport) Debounce() time.Duration {
	return time.Duration(t.DebounceMS) * time.Millisecond
}

// Geometry is the shape of an LED display.
type Geometry struct {
	// Columns of text visible at once, counted in half-width characters (a
	// Chinese character takes two) (columns); the driver holds text that
	// fits and scrolls text that does not. Default: pixels_x / 8.
	Columns int `yaml:"columns"`
	// Rows of text (rows). Default: pixels_y / the font's height (8 for
	// builtin, 16 for unifont), at least 1.
	Rows int `yaml:"rows"`
	// PixelsX and PixelsY are the dot-matrix size (pixels_x, pixels_y), up
	// to 4096. Required for led-alpha (DOTS pictures are drawn at this
	// size). For led-max7219 both are multiples of 8 and default from
	// modules as one row (modules×8 by 8).
	PixelsX int `yaml:"pixels_x"`
	PixelsY int `yaml:"pixels_y"`
	// Modules is the number of cascaded 8×8 MAX7219 modules on one daisy
	// chain (modules), 1 to 64; pixels_x×pixels_y must be modules×64.
	// Module 0 is the one whose DIN is wired to the Pi; the chain fills the
	// display in reading order, pixels_x/8 modules per row, top row first.
	// Default pixels_x×pixels_y/64. led-max7219 only.
	Modules int `yaml:"modules"`
	// Rotate turns the picture clockwise by 0, 90, 180 or 270 degrees
	// (rotate), for modules mounted turned or upside down. Default 0;
	// led-max7219 only.
	Rotate int `yaml:"rotate"`
}

// Font is where glyphs come from.
type Font string

// Fonts.
const (
	// FontUnifont is GNU Unifont, read at run time from the system
	// (Debian package unifont, /usr/share/unifont/unifont.hex): 8×16
	// Latin, 16×16 CJK. Needs at least 16 pixel rows on an LED display.
	FontUnifont Font = "unifont"
	// FontBuiltin is the device's own font (an Alpha sign's, a printer's)
	// or, on MAX7219, the driver's 8×8 Latin font: no Chinese.
	FontBuiltin Font = "builtin"
)

// Code pages a device's firmware understands for text sent as characters.
const (
	CodePageASCII   = "ascii"
	CodePageCP437   = "cp437"
	CodePageGB18030 = "gb18030"
)

// Text is how text becomes glyphs.
type Text struct {
	// Font for text rendered by the agent (font): unifont or builtin.
	// Default unifont, except builtin on MAX7219 displays under 16 rows.
	Font Font `yaml:"font"`
	// CodePage is the character set the device's firmware prints
	// (code_page): ascii, cp437 or gb18030 (Chinese firmware; ESC/POS FS &
	// Chinese mode). Characters outside it are rendered with Font as a
	// picture. led-alpha: ascii (the default, and the only one). Printers:
	// default cp437. Must be empty for led-max7219 and printer-cups, which
	// always receive pictures.
	CodePage string `yaml:"code_page"`
	// ScrollMS is the time per one-pixel scroll step in milliseconds
	// (scroll_ms), 10 to 1000. Default 40. led-max7219 only: an Alpha sign
	// scrolls by itself.
	ScrollMS int `yaml:"scroll_ms"`
}

// ScrollStep is ScrollMS as a duration.
func (t *Text) ScrollStep() time.Duration { return time.Duration(t.ScrollMS) * time.Millisecond }

// Cut is what a printer does after a job.
type Cut string

// Cuts.
const (
	CutFull    Cut = "full"
	CutPartial Cut = "partial"
	CutNone    Cut = "none"
)

// Paper is the printer's media. Lengths are millimetres.
type Paper struct {
	// WidthMM is the paper roll width (width_mm), up to 300. Required for
	// printer-escpos (58, 80); defaults to label_width_mm for labels and
	// cards.
	WidthMM float64 `yaml:"width_mm"`
	// DotsPerMM is the print resolution (dots_per_mm): 8 for 203 dpi, 12
	// for 300 dpi. Default 8, or 12 for printer-cups.
	DotsPerMM int `yaml:"dots_per_mm"`
	// PrintableDots is the printable width in dots (printable_dots), a
	// multiple of 8 no wider than the paper: 576 on 80 mm, 384 on 58 mm.
	// Required for printer-escpos; defaults to the label or card width.
	PrintableDots int `yaml:"printable_dots"`
	// Cut after each job (cut): full, partial or none. Default full for
	// printer-escpos, none otherwise.
	Cut Cut `yaml:"cut"`
	// LabelWidthMM and LabelHeightMM are one label's (or card's) size
	// (label_width_mm, label_height_mm), up to 1000. Required for
	// printer-tspl; printer-cups defaults to an ID-1 card, 85.6 × 54.
	LabelWidthMM  float64 `yaml:"label_width_mm"`
	LabelHeightMM float64 `yaml:"label_height_mm"`
	// GapMM is the gap between labels (gap_mm), 0 for continuous media, up
	// to 50. Default 2. printer-tspl only.
	GapMM float64 `yaml:"gap_mm"`
}

// Status is how the agent checks that the device is answering.
type Status struct {
	// PollMS is how often health is checked between plays, in milliseconds
	// (poll_ms): 0 for never, else 500 to 3600000. Default 30000.
	PollMS int `yaml:"poll_ms"`
	// Realtime asks the printer for its real-time status before and after
	// every job (realtime): DLE EOT for ESC/POS, ESC !? for TSPL. Paper
	// out, cover open and cutter errors then fail the play. Needs a
	// transport that reads back. Default true for printer-escpos and
	// printer-tspl; must be false for other kinds.
	Realtime bool `yaml:"realtime"`
	// Confirm is how an ESC/POS printer confirms that a job has printed
	// (confirm): gs_r asks GS r 1, which the printer answers only once it
	// has processed the job (Epson TM series); dle_eot judges the job by
	// the real-time status alone, which is answered at once (Xprinter,
	// Gprinter and other firmware without GS r, which would otherwise
	// wait out the job timeout); none writes the job and reports it
	// played unconfirmed. gs_r and dle_eot need realtime. Default gs_r
	// with realtime, none without. printer-escpos only.
	Confirm Confirm `yaml:"confirm"`
}

// Confirm is how an ESC/POS printer confirms a job.
type Confirm string

// Confirmation methods.
const (
	ConfirmGSR    Confirm = "gs_r"
	ConfirmDLEEOT Confirm = "dle_eot"
	ConfirmNone   Confirm = "none"
)

// PlayMargin is PlayMarginMS as a duration.
func (p *Profile) PlayMargin() time.Duration { return time.Duration(p.PlayMarginMS) * time.Millisecond }

// Poll is PollMS as a duration (0: never).
func (s *Status) Poll() time.Duration { return time.Duration(s.PollMS) * time.Millisecond }

// Limits caps what a schedule may ask for.
type Limits struct {
	// MaxBrightness caps LED brightness, 0 to 15 (max_brightness; the
	// MAX7219 intensity scale, mapped by other drivers). Default 15.
	MaxBrightness int `yaml:"max_brightness"`
	// DefaultBrightness is used when the schedule names none
	// (default_brightness), at most max_brightness. Default 15 for
	// led-alpha, 8 for led-max7219 (indoor modules are glaring at 15).
	DefaultBrightness int `yaml:"default_brightness"`
	// MaxVolume caps the volume in percent, 0 to 100 (max_volume).
	// Default 100.
	MaxVolume int `yaml:"max_volume"`
	// DefaultVolume is used when the schedule names none
	// (default_volume), at most max_volume. Default 80 for audio-alsa,
	// 100 for tv-mpv.
	DefaultVolume int `yaml:"default_volume"`
	// QuietHours is a local-time window "HH:MM-HH:MM" (quiet_hours), which
	// may wrap midnight ("22:00-07:00"), during which the output must stay
	// silent. Empty for none (the default). audio-alsa and tv-mpv only.
	QuietHours string `yaml:"quiet_hours"`
}

// Quiet reports whether local time t falls in the quiet hours.
func (l *Limits) Quiet(t time.Time) bool {
	q, err := ParseQuietHours(l.QuietHours)
	return err == nil && q.Contains(t)
}

// Alpha holds Alpha Sign Communications Protocol settings.
type Alpha struct {
	// SignAddress is the two-character sign address (sign_address): "00"
	// broadcasts to every sign on the line, "01"–"FF" is one sign, "?"
	// is a wildcard digit. Default "00".
	SignAddress string `yaml:"sign_address"`
	// FileLabel is the one-character TEXT file the agent writes
	// (file_label), 0x20–0x75 except "0" (the priority file). Default "A".
	FileLabel string `yaml:"file_label"`
	// ReadBack reads the TEXT file back after writing it and records in
	// the proof whether the sign answered with what was written
	// (read_back). Needs a line that carries replies (RS-232, or RS-485
	// with the adapter's echo handled). Default true.
	ReadBack bool `yaml:"read_back"`
}

// Player holds the TV player's settings.
type Player struct {
	// VO is mpv's video output (vo): "drm" on a Pi console, "gpu" under a
	// desktop, "null" for tests. Default drm.
	VO string `yaml:"vo"`
	// CEC powers the TV on over HDMI-CEC before content and reports its
	// power state, through cec-ctl (cec). Default false.
	CEC bool `yaml:"cec"`
	// CECDevice is the CEC adapter (cec_device). Default /dev/cec0.
	CECDevice string `yaml:"cec_device"`
}

// Clone returns a deep copy, so a caller may change it freely.
func (p *Profile) Clone() *Profile {
	c := *p
	if p.Transport != nil {
		t := *p.Transport
		t.Command = slices.Clone(t.Command)
		c.Transport = &t
	}
	c.Geometry = clonePtr(p.Geometry)
	c.Text = clonePtr(p.Text)
	c.Paper = clonePtr(p.Paper)
	c.Status = clonePtr(p.Status)
	c.Limits = clonePtr(p.Limits)
	c.Alpha = clonePtr(p.Alpha)
	c.Player = clonePtr(p.Player)
	return &c
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}
