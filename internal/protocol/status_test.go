package protocol

import (
	"encoding/json"
	"testing"
)

// TestStatusClockSource: the clock source is optional (a will and an
// older agent have none) and, when present, one of the known sources.
func TestStatusClockSource(t *testing.T) {
	for _, tt := range []struct {
		name   string
		in     string
		ok     bool
		source string
		synced bool
	}{
		{"absent: unknown", `{"v":1,"device":"a","online":false,"version":0,"cache":{"items":0,"bytes":0,"missing":0},"clock_synced":false,"next_seq":0,"unreceipted":0,"time":0}`, true, "", false},
		{"kernel, unsynchronised", `{"v":1,"device":"a","online":true,"version":7,"cache":{"items":0,"bytes":0,"missing":0},"clock_synced":false,"clock_source":"kernel","next_seq":1,"unreceipted":0,"time":0}`, true, ClockKernel, false},
		{"kernel, synchronised", `{"v":1,"device":"a","online":true,"version":7,"cache":{"items":0,"bytes":0,"missing":0},"clock_synced":true,"clock_source":"kernel","next_seq":1,"unreceipted":0,"time":0}`, true, ClockKernel, true},
		{"forced", `{"v":1,"device":"a","online":true,"version":7,"cache":{"items":0,"bytes":0,"missing":0},"clock_synced":true,"clock_source":"forced","next_seq":1,"unreceipted":0,"time":0}`, true, ClockForced, true},
		{"unknown source", `{"v":1,"device":"a","online":true,"version":7,"cache":{"items":0,"bytes":0,"missing":0},"clock_synced":true,"clock_source":"gps","next_seq":1,"unreceipted":0,"time":0}`, false, "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var s Status
			err := Decode([]byte(tt.in), &s)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v", err)
			}
			if err == nil && (s.ClockSource != tt.source || s.ClockSynced != tt.synced) {
				t.Fatalf("decoded %q synced %v, want %q %v", s.ClockSource, s.ClockSynced, tt.source, tt.synced)
			}
		})
	}
	// Omitted when empty: a will is the same bytes as before the field.
	b, _ := json.Marshal(Status{V: Version, Device: "a"})
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["clock_source"]; ok {
		t.Fatalf("empty clock source encoded: %s", b)
	}
}
