package profile

import (
	"fmt"
	"net"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/guardcast/guardcast/internal/protocol"
)

var (
	idRE       = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$`)
	spiPortRE  = regexp.MustCompile(`^SPI[0-9]+\.[0-9]+$`)
	gpioPinRE  = regexp.MustCompile(`^GPIO[0-9]{1,3}$`)
	signAddrRE = regexp.MustCompile(`^[0-9A-F?]{2}$`)
	voRE       = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
)

// Standard serial rates; anything else is a typo.
var bauds = []int{300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400}

// transportFields says which transport fields each type uses (YAML names).
var transportFields = map[TransportType][]string{
	TransportSerial:  {"device", "baud", "data_bits", "parity", "stop_bits"},
	TransportTCP:     {"address"},
	TransportUSBLP:   {"device"},
	TransportSPI:     {"spi_port", "spi_hz"},
	TransportALSA:    {"alsa_device"},
	TransportCUPS:    {"queue"},
	TransportCommand: {"command"},
	TransportGPIO:    {"pin", "pull", "edge", "debounce_ms"},
}

// Validate checks every field of a complete profile (after ApplyDefaults,
// or as returned by Parse). Each problem is a *FieldError; several are
// joined with errors.Join.
func (p *Profile) Validate() error { return joinErrs(p.validate()) }

type checker struct{ errs []*FieldError }

func (c *checker) bad(field, format string, args ...any) {
	c.errs = append(c.errs, &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
}

func (c *checker) intRange(field string, v, lo, hi int, what string) {
	if v < lo || v > hi {
		c.bad(field, "%d is out of range: want %d to %d (%s)", v, lo, hi, what)
	}
}

func (c *checker) absPath(field, v, what string) {
	switch {
	case v == "":
		c.bad(field, "required: %s", what)
	case !strings.HasPrefix(v, "/"):
		c.bad(field, "%q is not an absolute path: want %s", v, what)
	}
}

// mm checks a length in millimetres: 0 < v <= hi (and not NaN).
func (c *checker) mm(field string, v, hi float64, what string) {
	if !(v > 0 && v <= hi) {
		if v == 0 {
			c.bad(field, "required, and must be more than 0 mm (%s)", what)
		} else {
			c.bad(field, "%v mm is impossible: want more than 0 and at most %v (%s)", v, hi, what)
		}
	}
}

func (p *Profile) validate() []*FieldError {
	c := &checker{}
	if p.ID == "" {
		c.bad("id", "required: the name agent configs use, e.g. alpha-sign-serial")
	} else if !idRE.MatchString(p.ID) {
		c.bad("id", "%q: use lower-case letters, digits and dashes (at most 64), e.g. escpos-80mm", p.ID)
	}
	if strings.TrimSpace(p.Description) == "" {
		c.bad("description", "required: say which hardware this is, for the people who maintain it")
	}
	k := p.Kind
	if k == "" {
		c.bad("kind", "required: one of %s", kindList())
		return c.errs
	}
	if _, ok := kindSections[k]; !ok {
		c.bad("kind", "unknown kind %q: want one of %s", k, kindList())
		return c.errs
	}
	switch {
	case k == KindVirtual && p.Output == "":
		// Every output virtual: the demo and tests on a machine with no hardware.
	case k == KindVirtual && !protocol.ValidOutput(p.Output):
		c.bad("output", "unknown output %q: want one of led, tv, audio, printer", p.Output)
	case k == KindGPIOInput && p.Output != "":
		c.bad("output", "must be empty: a gpio-input raises triggers and plays nothing")
	case k != KindVirtual && k != KindGPIOInput && p.Output != k.Output():
		c.bad("output", "%q does not match kind %s, which serves %q", p.Output, k, k.Output())
	}

	switch {
	case k == KindGPIOInput && p.PlayMarginMS != 0:
		c.bad("play_margin_ms", "must be empty: a gpio-input plays nothing")
	case k != KindGPIOInput:
		c.intRange("play_margin_ms", p.PlayMarginMS, 100, 600_000, "milliseconds a play may run past its duration")
	}

	sections := []struct {
		name    string
		present bool
	}{
		{"transport", p.Transport != nil}, {"geometry", p.Geometry != nil}, {"text", p.Text != nil},
		{"paper", p.Paper != nil}, {"status", p.Status != nil}, {"limits", p.Limits != nil},
		{"alpha", p.Alpha != nil}, {"player", p.Player != nil},
	}
	for _, s := range sections {
		switch {
		case s.present && !k.uses(s.name):
			uses := strings.Join(kindSections[k], ", ")
			if uses == "" {
				uses = "none"
			}
			c.bad(s.name, "not used by kind %s (its sections: %s)", k, uses)
		case !s.present && k.uses(s.name):
			c.bad(s.name, "required for kind %s", k)
		}
	}
	if p.Transport != nil && k.uses("transport") {
		p.validateTransport(c)
	}
	if p.Geometry != nil && k.uses("geometry") {
		p.validateGeometry(c)
	}
	if p.Text != nil && k.uses("text") {
		p.validateText(c)
	}
	if p.Paper != nil && k.uses("paper") {
		p.validatePaper(c)
	}
	if p.Status != nil && k.uses("status") {
		s := p.Status
		if s.PollMS != 0 {
			c.intRange("status.poll_ms", s.PollMS, 500, 3_600_000, "milliseconds between health checks, or 0 for none")
		}
		if s.Realtime && k != KindPrinterESCPOS && k != KindPrinterTSPL {
			c.bad("status.realtime", "only printer-escpos (DLE EOT) and printer-tspl (ESC !?) have real-time status")
		}
		switch {
		case s.Confirm != "" && k != KindPrinterESCPOS:
			c.bad("status.confirm", "only printer-escpos has a job confirmation method")
		case k != KindPrinterESCPOS:
		case s.Confirm != ConfirmGSR && s.Confirm != ConfirmDLEEOT && s.Confirm != ConfirmNone:
			c.bad("status.confirm", "%q: want gs_r (GS r 1, Epson), dle_eot (real-time status only, printers without GS r) or none", s.Confirm)
		case s.Confirm != ConfirmNone && !s.Realtime:
			c.bad("status.confirm", "%s needs status.realtime: true (set confirm: none for a link that cannot read back)", s.Confirm)
		}
	}
	if p.Limits != nil && k.uses("limits") {
		p.validateLimits(c)
	}
	if a := p.Alpha; a != nil && k.uses("alpha") {
		if !signAddrRE.MatchString(a.SignAddress) {
			c.bad("alpha.sign_address", "%q: want two upper-case hex digits, \"00\" for every sign, \"?\" as a wildcard digit", a.SignAddress)
		}
		if len(a.FileLabel) != 1 || a.FileLabel[0] < 0x20 || a.FileLabel[0] > 0x75 || a.FileLabel == "0" {
			c.bad("alpha.file_label", "%q: want one character from space (0x20) to \"u\" (0x75), not \"0\" (the priority file)", a.FileLabel)
		}
	}
	if pl := p.Player; pl != nil && k.uses("player") {
		if !voRE.MatchString(pl.VO) {
			c.bad("player.vo", "%q: want an mpv video output name such as drm, gpu or null", pl.VO)
		}
		c.absPath("player.cec_device", pl.CECDevice, "the CEC adapter, e.g. /dev/cec0")
	}
	return c.errs
}

func kindList() string {
	s := make([]string, len(Kinds))
	for i, k := range Kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

func (p *Profile) validateTransport(c *checker) {
	t, k := p.Transport, p.Kind
	allowed := k.Transports()
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	switch {
	case t.Type == "":
		c.bad("transport.type", "required for kind %s: one of %s", k, strings.Join(names, ", "))
		return
	case !slices.Contains(allowed, t.Type):
		if _, known := transportFields[t.Type]; !known {
			c.bad("transport.type", "unknown transport %q: kind %s takes %s", t.Type, k, strings.Join(names, ", "))
		} else {
			c.bad("transport.type", "kind %s cannot use transport %s: it takes %s", k, t.Type, strings.Join(names, ", "))
		}
		return
	}
	// Fields of other transport types must stay empty: a baud rate on a
	// TCP printer is a mistake someone should hear about.
	used := transportFields[t.Type]
	v := reflect.ValueOf(t).Elem()
	for i := range v.NumField() {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
		f := v.Field(i)
		if name == "type" || slices.Contains(used, name) || f.IsZero() || (f.Kind() == reflect.Slice && f.Len() == 0) {
			continue
		}
		c.bad("transport."+name, "not used by transport type %s (it uses: %s)", t.Type, strings.Join(used, ", "))
	}

	switch t.Type {
	case TransportSerial:
		c.absPath("transport.device", t.Device, "the serial port, e.g. /dev/ttyUSB0")
		if !slices.Contains(bauds, t.Baud) {
			c.bad("transport.baud", "%d is not a standard baud rate: want one of %s", t.Baud, intList(bauds))
		}
		if t.DataBits != 7 && t.DataBits != 8 {
			c.bad("transport.data_bits", "%d: want 7 or 8", t.DataBits)
		}
		switch t.Parity {
		case ParityNone, ParityEven, ParityOdd:
		default:
			c.bad("transport.parity", "%q: want none, even or odd", t.Parity)
		}
		if t.StopBits != 1 && t.StopBits != 2 {
			c.bad("transport.stop_bits", "%d: want 1 or 2", t.StopBits)
		}
	case TransportTCP:
		checkAddress(c, t.Address)
	case TransportUSBLP:
		c.absPath("transport.device", t.Device, "the usblp device, e.g. /dev/usb/lp0")
	case TransportSPI:
		if !spiPortRE.MatchString(t.SPIPort) {
			c.bad("transport.spi_port", "%q: want a periph SPI port name such as SPI0.0 (bus 0, chip select CE0)", t.SPIPort)
		}
		c.intRange("transport.spi_hz", t.SPIHz, 10_000, 10_000_000, "SPI clock in Hz; a MAX7219 takes at most 10 MHz")
	case TransportALSA:
		if t.ALSADevice == "" || strings.ContainsAny(t.ALSADevice, " \t\n") {
			c.bad("transport.alsa_device", "%q: want an ALSA PCM name such as default or plughw:1,0 (see aplay -L)", t.ALSADevice)
		}
	case TransportCUPS:
		q := t.Queue
		if q == "" || len(q) > 127 || strings.HasPrefix(q, "-") || strings.ContainsFunc(q, func(r rune) bool {
			return r <= ' ' || r == 0x7f || r == '/' || r == '#' || r == '\\' || r == '\'' || r == '"'
		}) {
			c.bad("transport.queue", "%q: want a CUPS queue name as lpstat -p shows it (no spaces, /, # or quotes; not starting with -)", q)
		}
	case TransportCommand:
		switch {
		case len(t.Command) == 0 || t.Command[0] == "":
			c.bad("transport.command", "required: the player program and its extra arguments, e.g. [mpv]")
		case len(t.Command) > 64:
			c.bad("transport.command", "%d elements: at most 64", len(t.Command))
		case strings.HasPrefix(t.Command[0], "-"):
			c.bad("transport.command[0]", "%q: the first element is the program, not an option", t.Command[0])
		}
	case TransportGPIO:
		if !gpioPinRE.MatchString(t.Pin) {
			if t.Pin == "" {
				c.bad("transport.pin", "required: the Broadcom GPIO name, e.g. GPIO17 (header pin 11)")
			} else {
				c.bad("transport.pin", "%q: want a Broadcom GPIO name such as GPIO17 (header pin 11), not a header pin number", t.Pin)
			}
		}
		switch t.Pull {
		case PullUp, PullDown, PullNone:
		case "":
			c.bad("transport.pull", "required: up, down or none (how the input is wired)")
		default:
			c.bad("transport.pull", "%q: want up, down or none", t.Pull)
		}
		switch t.Edge {
		case EdgeRising, EdgeFalling, EdgeBoth:
		case "":
			c.bad("transport.edge", "required: rising, falling or both (which change fires the trigger)")
		default:
			c.bad("transport.edge", "%q: want rising, falling or both", t.Edge)
		}
		c.intRange("transport.debounce_ms", t.DebounceMS, 0, 10_000, "milliseconds")
	}
}

func checkAddress(c *checker, addr string) {
	if addr == "" {
		c.bad("transport.address", "required: host:port, e.g. 192.168.1.50:9100")
		return
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		c.bad("transport.address", "%q: want host:port, e.g. 192.168.1.50:9100", addr)
		return
	}
	n, err := strconv.Atoi(port)
	switch {
	case host == "" || strings.ContainsAny(host, " \t/"):
		c.bad("transport.address", "%q: no host name: want host:port, e.g. 192.168.1.50:9100", addr)
	case err != nil || n < 1 || n > 65535:
		c.bad("transport.address", "%q: port must be a number from 1 to 65535", addr)
	}
}

func intList(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

func (p *Profile) validateGeometry(c *checker) {
	g := p.Geometry
	if g.PixelsX == 0 {
		c.bad("geometry.pixels_x", "required: the display's width in dots")
	} else {
		c.intRange("geometry.pixels_x", g.PixelsX, 1, 4096, "the display's width in dots")
	}
	if g.PixelsY == 0 {
		c.bad("geometry.pixels_y", "required: the display's height in dots")
	} else {
		c.intRange("geometry.pixels_y", g.PixelsY, 1, 4096, "the display's height in dots")
	}
	c.intRange("geometry.columns", g.Columns, 1, 4096, "half-width characters visible at once")
	c.intRange("geometry.rows", g.Rows, 1, 256, "lines of text")
	switch p.Kind {
	case KindLEDMAX7219:
		c.intRange("geometry.modules", g.Modules, 1, 64, "cascaded 8×8 modules")
		if g.PixelsX%8 != 0 || g.PixelsY%8 != 0 {
			c.bad("geometry", "%d×%d pixels is not a whole number of 8×8 modules", g.PixelsX, g.PixelsY)
		} else if g.Modules > 0 && g.Modules*64 != g.PixelsX*g.PixelsY {
			c.bad("geometry.modules", "%d modules make %d pixels, but %d×%d is %d", g.Modules, g.Modules*64, g.PixelsX, g.PixelsY, g.PixelsX*g.PixelsY)
		}
		if g.Rotate != 0 && g.Rotate != 90 && g.Rotate != 180 && g.Rotate != 270 {
			c.bad("geometry.rotate", "%d: want 0, 90, 180 or 270 degrees", g.Rotate)
		}
	default:
		if g.Modules != 0 {
			c.bad("geometry.modules", "only for led-max7219")
		}
		if g.Rotate != 0 {
			c.bad("geometry.rotate", "only for led-max7219 (a sign orients itself)")
		}
	}
}

func (p *Profile) validateText(c *checker) {
	t, k := p.Text, p.Kind
	switch t.Font {
	case FontUnifont:
		if g := p.Geometry; g != nil && g.PixelsY > 0 && g.PixelsY < 16 {
			c.bad("text.font", "unifont glyphs are 16 dots high but this display has %d rows: use builtin", g.PixelsY)
		}
	case FontBuiltin:
	case "":
		c.bad("text.font", "required: unifont or builtin")
	default:
		c.bad("text.font", "%q: want unifont (GNU Unifont from the system, has Chinese) or builtin", t.Font)
	}
	switch k {
	case KindLEDAlpha:
		if t.CodePage != CodePageASCII {
			c.bad("text.code_page", "%q: an Alpha sign takes ascii only; other text goes as DOTS pictures", t.CodePage)
		}
	case KindPrinterESCPOS, KindPrinterTSPL:
		switch t.CodePage {
		case CodePageASCII, CodePageCP437, CodePageGB18030:
		default:
			c.bad("text.code_page", "%q: want ascii, cp437 or gb18030", t.CodePage)
		}
	default:
		if t.CodePage != "" {
			c.bad("text.code_page", "not used by kind %s: it is always sent pictures", k)
		}
	}
	if k == KindLEDMAX7219 {
		c.intRange("text.scroll_ms", t.ScrollMS, 10, 1000, "milliseconds per one-dot scroll step")
	} else if t.ScrollMS != 0 {
		c.bad("text.scroll_ms", "only for led-max7219 (other devices scroll by themselves)")
	}
}

func (p *Profile) validatePaper(c *checker) {
	pp, k := p.Paper, p.Kind
	c.mm("paper.width_mm", pp.WidthMM, 300, "the paper width")
	c.intRange("paper.dots_per_mm", pp.DotsPerMM, 1, 48, "8 for 203 dpi, 12 for 300 dpi")
	switch {
	case pp.PrintableDots <= 0:
		c.bad("paper.printable_dots", "required, and must be more than 0: the printable width in dots (576 on 80 mm, 384 on 58 mm)")
	case pp.PrintableDots%8 != 0:
		c.bad("paper.printable_dots", "%d is not a multiple of 8 (raster lines are whole bytes)", pp.PrintableDots)
	case pp.WidthMM > 0 && pp.DotsPerMM > 0 && float64(pp.PrintableDots) > pp.WidthMM*float64(pp.DotsPerMM):
		c.bad("paper.printable_dots", "%d dots do not fit on %v mm at %d dots/mm", pp.PrintableDots, pp.WidthMM, pp.DotsPerMM)
	}
	switch pp.Cut {
	case CutFull, CutPartial, CutNone:
		if k == KindPrinterCUPS && pp.Cut != CutNone {
			c.bad("paper.cut", "must be none for printer-cups: the CUPS driver handles the media")
		}
	default:
		c.bad("paper.cut", "%q: want full, partial or none", pp.Cut)
	}
	if k == KindPrinterESCPOS {
		if pp.LabelWidthMM != 0 || pp.LabelHeightMM != 0 {
			c.bad("paper.label_width_mm", "only for label and card printers (printer-tspl, printer-cups)")
		}
	} else {
		c.mm("paper.label_width_mm", pp.LabelWidthMM, 1000, "one label's or card's width")
		c.mm("paper.label_height_mm", pp.LabelHeightMM, 1000, "one label's or card's height")
	}
	if k == KindPrinterTSPL {
		if !(pp.GapMM >= 0 && pp.GapMM <= 50) {
			c.bad("paper.gap_mm", "%v mm: want 0 (continuous) to 50", pp.GapMM)
		}
	} else if pp.GapMM != 0 {
		c.bad("paper.gap_mm", "only for printer-tspl")
	}
}

func (p *Profile) validateLimits(c *checker) {
	l, k := p.Limits, p.Kind
	led := k == KindLEDAlpha || k == KindLEDMAX7219
	if led {
		c.intRange("limits.max_brightness", l.MaxBrightness, 0, 15, "brightness steps")
		c.intRange("limits.default_brightness", l.DefaultBrightness, 0, l.MaxBrightness, "at most max_brightness")
	} else {
		if l.MaxBrightness != 0 {
			c.bad("limits.max_brightness", "only for LED kinds")
		}
		if l.DefaultBrightness != 0 {
			c.bad("limits.default_brightness", "only for LED kinds")
		}
	}
	if !led {
		c.intRange("limits.max_volume", l.MaxVolume, 0, 100, "percent")
		c.intRange("limits.default_volume", l.DefaultVolume, 0, l.MaxVolume, "percent, at most max_volume")
		if l.QuietHours != "" {
			if _, err := ParseQuietHours(l.QuietHours); err != nil {
				c.bad("limits.quiet_hours", "%v", err)
			}
		}
		return
	}
	if l.MaxVolume != 0 {
		c.bad("limits.max_volume", "only for audio-alsa and tv-mpv")
	}
	if l.DefaultVolume != 0 {
		c.bad("limits.default_volume", "only for audio-alsa and tv-mpv")
	}
	if l.QuietHours != "" {
		c.bad("limits.quiet_hours", "only for audio-alsa and tv-mpv (they make sound)")
	}
}
