package escpos

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBadStatus is returned for a byte that cannot be a status answer.
var ErrBadStatus = errors.New("not an ESC/POS status byte")

// Status is the printer's answers to DLE EOT 1..4 and what they mean, per
// the Epson ESC/POS reference (and the many printers that copy it). Every
// answer has bit 1 and bit 4 set and bits 0 and 7 clear; that is how a
// status byte is told apart from anything else on the line.
type Status struct {
	Raw [4]byte // answers to DLE EOT 1, 2, 3, 4

	// n = 1, printer status
	Offline         bool // bit 3
	WaitingRecovery bool // bit 5: waiting for online recovery
	FeedButton      bool // bit 6: paper feed button held down

	// n = 2, offline cause
	CoverOpen     bool // bit 2
	FeedingByHand bool // bit 3: paper being fed by the feed button
	PaperStop     bool // bit 5: printing stopped at paper end
	ErrorOccurred bool // bit 6

	// n = 3, error cause
	CutterError     bool // bit 3: autocutter error (jam); recoverable with DLE ENQ
	Unrecoverable   bool // bit 5: circuit failure; needs service
	AutoRecoverable bool // bit 6: head overheated, or cover opened while printing

	// n = 4, roll paper sensor
	PaperNearEnd bool // bits 2-3: near-end sensor sees no paper
	PaperEnd     bool // bits 5-6: paper-end sensor sees no paper
}

// statusFixed and statusMask are the bits every DLE EOT answer carries.
const (
	statusMask  = 0x93
	statusFixed = 0x12
)

// IsStatusByte reports whether b has the fixed bits of a DLE EOT answer.
func IsStatusByte(b byte) bool { return b&statusMask == statusFixed }

// isPaperByte reports whether b can be a GS r 1 answer: bits 4 and 7 are 0
// there, which no DLE EOT answer allows.
func isPaperByte(b byte) bool { return b&0x90 == 0 }

// DecodeStatus decodes the answers to DLE EOT 1..4.
func DecodeStatus(raw [4]byte) (Status, error) {
	for i, b := range raw {
		if !IsStatusByte(b) {
			return Status{Raw: raw}, fmt.Errorf("escpos: DLE EOT %d answered 0x%02x: %w", i+1, b, ErrBadStatus)
		}
	}
	p, o, e, r := raw[0], raw[1], raw[2], raw[3]
	return Status{
		Raw:             raw,
		Offline:         p&0x08 != 0,
		WaitingRecovery: p&0x20 != 0,
		FeedButton:      p&0x40 != 0,
		CoverOpen:       o&0x04 != 0,
		FeedingByHand:   o&0x08 != 0,
		PaperStop:       o&0x20 != 0,
		ErrorOccurred:   o&0x40 != 0,
		CutterError:     e&0x08 != 0,
		Unrecoverable:   e&0x20 != 0,
		AutoRecoverable: e&0x40 != 0,
		PaperNearEnd:    r&0x0C != 0,
		PaperEnd:        r&0x60 != 0,
	}, nil
}

// Problem is why the printer cannot print now, "" if it can. The most
// specific cause comes first: "cover open", "paper end", "cutter error",
// "unrecoverable error", "recoverable error (head hot or cover opened
// while printing)", "error", "offline".
func (s Status) Problem() string {
	switch {
	case s.CoverOpen:
		return "cover open"
	case s.PaperEnd || s.PaperStop:
		return "paper end"
	case s.CutterError:
		return "cutter error"
	case s.Unrecoverable:
		return "unrecoverable error"
	case s.AutoRecoverable:
		return "recoverable error (head hot or cover opened while printing)"
	case s.ErrorOccurred:
		return "error"
	case s.Offline || s.WaitingRecovery:
		return "offline"
	}
	return ""
}

// Warning is a condition worth reporting that does not stop printing:
// "paper near end", or "".
func (s Status) Warning() string {
	if s.PaperNearEnd {
		return "paper near end"
	}
	return ""
}

// String lists every condition set, or "ok".
func (s Status) String() string {
	var c []string
	add := func(on bool, what string) {
		if on {
			c = append(c, what)
		}
	}
	add(s.Offline, "offline")
	add(s.WaitingRecovery, "waiting for recovery")
	add(s.FeedButton, "feed button")
	add(s.CoverOpen, "cover open")
	add(s.FeedingByHand, "feeding by hand")
	add(s.PaperStop, "stopped at paper end")
	add(s.ErrorOccurred, "error")
	add(s.CutterError, "cutter error")
	add(s.Unrecoverable, "unrecoverable error")
	add(s.AutoRecoverable, "recoverable error")
	add(s.PaperNearEnd, "paper near end")
	add(s.PaperEnd, "paper end")
	if len(c) == 0 {
		return "ok"
	}
	return strings.Join(c, ", ")
}
