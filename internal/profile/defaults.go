package profile

import "math"

// ApplyDefaults fills the optional fields of a profile built in Go that
// are left at their zero value, and creates the sections its kind uses, as
// Parse does for a file. Zero means "not set" here; to have an explicit
// zero (brightness 0, read_back false…) set it after ApplyDefaults. Parse
// tells omitted from zero by looking at the file, so there an explicit 0 or
// false stays.
func (p *Profile) ApplyDefaults() { p.applyDefaults(func(string) bool { return false }) }

// applyDefaults fills every field of p's kind that is not set in the file
// (set reports whether a YAML path was present) and still zero.
func (p *Profile) applyDefaults(set func(path string) bool) {
	k := p.Kind
	if _, known := kindSections[k]; !known {
		return // Validate reports the kind
	}
	// def sets *v to d when the file left path out and *v is still zero.
	defInt := func(path string, v *int, d int) {
		if !set(path) && *v == 0 {
			*v = d
		}
	}
	defFloat := func(path string, v *float64, d float64) {
		if !set(path) && *v == 0 {
			*v = d
		}
	}
	defBool := func(path string, v *bool, d bool) {
		if !set(path) && !*v {
			*v = d
		}
	}
	defStr := func(path string, v *string, d string) {
		if !set(path) && *v == "" {
			*v = d
		}
	}

	if k != KindGPIOInput {
		defInt("play_margin_ms", &p.PlayMarginMS, defaultMargins[k])
	}
	if p.Output == "" && !set("output") {
		p.Output = k.Output()
	}
	if k.uses("transport") && p.Transport == nil {
		p.Transport = &Transport{}
	}
	if t := p.Transport; t != nil && k.uses("transport") {
		if ts := k.Transports(); len(ts) == 1 && t.Type == "" && !set("transport.type") {
			t.Type = ts[0]
		}
		switch t.Type {
		case TransportSerial:
			defInt("transport.baud", &t.Baud, 9600)
			if k == KindLEDAlpha { // Alpha's classic 9600 7E1
				defInt("transport.data_bits", &t.DataBits, 7)
				defStr("transport.parity", (*string)(&t.Parity), string(ParityEven))
			} else {
				defInt("transport.data_bits", &t.DataBits, 8)
				defStr("transport.parity", (*string)(&t.Parity), string(ParityNone))
			}
			defInt("transport.stop_bits", &t.StopBits, 1)
		case TransportUSBLP:
			defStr("transport.device", &t.Device, "/dev/usb/lp0")
		case TransportSPI:
			defStr("transport.spi_port", &t.SPIPort, "SPI0.0")
			defInt("transport.spi_hz", &t.SPIHz, 10_000_000)
		case TransportALSA:
			defStr("transport.alsa_device", &t.ALSADevice, "default")
		case TransportCommand:
			if !set("transport.command") && len(t.Command) == 0 {
				t.Command = []string{"mpv"}
			}
		case TransportGPIO:
			defInt("transport.debounce_ms", &t.DebounceMS, 50)
		}
	}

	if k.uses("geometry") && p.Geometry == nil {
		p.Geometry = &Geometry{}
	}
	if k.uses("text") && p.Text == nil {
		p.Text = &Text{}
	}
	if g := p.Geometry; g != nil && k == KindLEDMAX7219 {
		switch {
		case g.Modules == 0 && g.PixelsX > 0 && g.PixelsY > 0 && !set("geometry.modules"):
			g.Modules = g.PixelsX * g.PixelsY / 64
		case g.Modules > 0 && g.PixelsX == 0 && g.PixelsY == 0 && !set("geometry.pixels_x") && !set("geometry.pixels_y"):
			g.PixelsX, g.PixelsY = g.Modules*8, 8
		}
	}
	if t := p.Text; t != nil && k.uses("text") {
		font := FontUnifont
		if k == KindLEDMAX7219 && p.Geometry != nil && p.Geometry.PixelsY < 16 {
			font = FontBuiltin
		}
		defStr("text.font", (*string)(&t.Font), string(font))
		switch k {
		case KindLEDAlpha:
			defStr("text.code_page", &t.CodePage, CodePageASCII)
		case KindPrinterESCPOS, KindPrinterTSPL:
			defStr("text.code_page", &t.CodePage, CodePageCP437)
		case KindLEDMAX7219:
			defInt("text.scroll_ms", &t.ScrollMS, 40)
		}
	}
	if g := p.Geometry; g != nil && k.uses("geometry") {
		cell := 16
		if p.Text != nil && p.Text.Font == FontBuiltin {
			cell = 8
		}
		defInt("geometry.columns", &g.Columns, g.PixelsX/8)
		defInt("geometry.rows", &g.Rows, max(1, g.PixelsY/cell))
	}

	if k.uses("paper") && p.Paper == nil {
		p.Paper = &Paper{}
	}
	if pp := p.Paper; pp != nil && k.uses("paper") {
		switch k {
		case KindPrinterESCPOS:
			defInt("paper.dots_per_mm", &pp.DotsPerMM, 8)
			defStr("paper.cut", (*string)(&pp.Cut), string(CutFull))
		case KindPrinterTSPL:
			defInt("paper.dots_per_mm", &pp.DotsPerMM, 8)
			defStr("paper.cut", (*string)(&pp.Cut), string(CutNone))
			defFloat("paper.gap_mm", &pp.GapMM, 2)
		case KindPrinterCUPS:
			defInt("paper.dots_per_mm", &pp.DotsPerMM, 12)
			defStr("paper.cut", (*string)(&pp.Cut), string(CutNone))
			defFloat("paper.label_width_mm", &pp.LabelWidthMM, 85.6) // ISO/IEC 7810 ID-1
			defFloat("paper.label_height_mm", &pp.LabelHeightMM, 54)
		}
		if k != KindPrinterESCPOS {
			defFloat("paper.width_mm", &pp.WidthMM, pp.LabelWidthMM)
			if w := pp.LabelWidthMM * float64(pp.DotsPerMM); w > 0 && w < math.MaxInt32 {
				defInt("paper.printable_dots", &pp.PrintableDots, int(w)/8*8)
			}
		}
	}

	if k.uses("status") && p.Status == nil {
		p.Status = &Status{}
	}
	if s := p.Status; s != nil && k.uses("status") {
		defInt("status.poll_ms", &s.PollMS, 30_000)
		if k == KindPrinterESCPOS || k == KindPrinterTSPL {
			defBool("status.realtime", &s.Realtime, true)
		}
		if k == KindPrinterESCPOS {
			confirm := ConfirmNone
			if s.Realtime {
				confirm = ConfirmGSR
			}
			defStr("status.confirm", (*string)(&s.Confirm), string(confirm))
		}
	}

	if k.uses("limits") && p.Limits == nil {
		p.Limits = &Limits{}
	}
	if l := p.Limits; l != nil && k.uses("limits") {
		switch k {
		case KindLEDAlpha:
			defInt("limits.max_brightness", &l.MaxBrightness, 15)
			defInt("limits.default_brightness", &l.DefaultBrightness, min(15, l.MaxBrightness))
		case KindLEDMAX7219:
			defInt("limits.max_brightness", &l.MaxBrightness, 15)
			defInt("limits.default_brightness", &l.DefaultBrightness, min(8, l.MaxBrightness))
		case KindAudioALSA:
			defInt("limits.max_volume", &l.MaxVolume, 100)
			defInt("limits.default_volume", &l.DefaultVolume, min(80, l.MaxVolume))
		case KindTVMPV:
			defInt("limits.max_volume", &l.MaxVolume, 100)
			defInt("limits.default_volume", &l.DefaultVolume, min(100, l.MaxVolume))
		}
	}

	if k.uses("alpha") && p.Alpha == nil {
		p.Alpha = &Alpha{}
	}
	if a := p.Alpha; a != nil && k.uses("alpha") {
		defStr("alpha.sign_address", &a.SignAddress, "00")
		defStr("alpha.file_label", &a.FileLabel, "A")
		defBool("alpha.read_back", &a.ReadBack, true)
	}

	if k.uses("player") && p.Player == nil {
		p.Player = &Player{}
	}
	if pl := p.Player; pl != nil && k.uses("player") {
		defStr("player.vo", &pl.VO, "drm")
		defStr("player.cec_device", &pl.CECDevice, "/dev/cec0")
	}
}

// defaultMargins is how long past its duration a play may run, by kind:
// what the driver may spend besides showing the item (mpv loading a file,
// a printer confirming a job, a sign reading its file back).
var defaultMargins = map[Kind]int{
	KindLEDAlpha:      30_000,
	KindLEDMAX7219:    5_000,
	KindTVMPV:         20_000,
	KindAudioALSA:     5_000,
	KindPrinterESCPOS: 90_000,
	KindPrinterTSPL:   90_000,
	KindPrinterCUPS:   150_000,
	KindVirtual:       5_000,
}
