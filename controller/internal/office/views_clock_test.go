package office_test

import (
	"encoding/json"
	"testing"

	"github.com/guardcast/guardcast/controller/internal/office"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/protocol"
)

// TestViewDeviceClock: the clock state comes from the last status, and a
// device on an untrusted clock is not said to play its schedule.
func TestViewDeviceClock(t *testing.T) {
	status := func(synced bool, source string) string {
		b, _ := json.Marshal(protocol.Status{V: protocol.Version, Device: "d1", Online: true, Version: 7,
			ClockSynced: synced, ClockSource: source})
		return string(b)
	}
	for _, tt := range []struct {
		name               string
		published, adopted uint64
		status             string
		clock, state       string
	}{
		{"no status", 7, 7, "", office.ClockUnknown, "version 7 verified and playing"},
		{"a will says nothing of the clock", 7, 7, status(false, ""), office.ClockUnknown, "version 7 verified and playing"},
		{"synchronised", 7, 7, status(true, protocol.ClockKernel), office.ClockTrusted, "version 7 verified and playing"},
		{"RTC, forced", 7, 7, status(true, protocol.ClockForced), office.ClockTrusted, "version 7 verified and playing"},
		{"unsynchronised", 7, 7, status(false, protocol.ClockKernel), office.ClockUntrusted,
			"version 7 verified, playing the safe loop (clock not synchronised)"},
		{"unsynchronised, behind", 8, 7, status(false, protocol.ClockKernel), office.ClockUntrusted,
			"version 7 verified, 8 published, playing the safe loop (clock not synchronised)"},
		{"unsynchronised, nothing verified", 8, 0, status(false, protocol.ClockKernel), office.ClockUntrusted,
			"version 8 published, not acknowledged (clock not synchronised)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := office.ViewDevice(store.Device{ID: "d1", DesiredVersion: tt.published, AdoptedVersion: tt.adopted, Status: tt.status}, nil)
			if v.Clock != tt.clock || v.State != tt.state {
				t.Fatalf("clock %q state %q, want %q %q", v.Clock, v.State, tt.clock, tt.state)
			}
		})
	}
}
