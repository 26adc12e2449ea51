package tspl

import "strings"

// Status is the answer to <ESC>!? as the TSPL/TSPL2 programming manual
// defines it: one byte, one condition per bit, 0 when ready.
type Status struct {
	Raw       byte
	HeadOpen  bool // bit 0
	PaperJam  bool // bit 1
	PaperOut  bool // bit 2
	RibbonOut bool // bit 3
	Paused    bool // bit 4
	Printing  bool // bit 5
	CoverOpen bool // bit 6 (optional hardware)
	OverTemp  bool // bit 7: environment temperature out of range (optional)
}

// DecodeStatus decodes the <ESC>!? answer. Every value is defined.
func DecodeStatus(b byte) Status {
	return Status{
		Raw:       b,
		HeadOpen:  b&0x01 != 0,
		PaperJam:  b&0x02 != 0,
		PaperOut:  b&0x04 != 0,
		RibbonOut: b&0x08 != 0,
		Paused:    b&0x10 != 0,
		Printing:  b&0x20 != 0,
		CoverOpen: b&0x40 != 0,
		OverTemp:  b&0x80 != 0,
	}
}

// Problem is why the printer cannot print, "" if it can (printing is not
// a problem): "head open", "cover open", "paper jam", "paper out",
// "ribbon out", "paused", "temperature out of range".
func (s Status) Problem() string {
	switch {
	case s.HeadOpen:
		return "head open"
	case s.CoverOpen:
		return "cover open"
	case s.PaperJam:
		return "paper jam"
	case s.PaperOut:
		return "paper out"
	case s.RibbonOut:
		return "ribbon out"
	case s.Paused:
		return "paused"
	case s.OverTemp:
		return "temperature out of range"
	}
	return ""
}

// String lists the conditions set, or "ready".
func (s Status) String() string {
	var c []string
	for _, f := range []struct {
		on   bool
		name string
	}{
		{s.HeadOpen, "head open"}, {s.PaperJam, "paper jam"}, {s.PaperOut, "paper out"},
		{s.RibbonOut, "ribbon out"}, {s.Paused, "paused"}, {s.Printing, "printing"},
		{s.CoverOpen, "cover open"}, {s.OverTemp, "temperature out of range"},
	} {
		if f.on {
			c = append(c, f.name)
		}
	}
	if len(c) == 0 {
		return "ready"
	}
	return strings.Join(c, ", ")
}
