package protocol

import (
	"strings"
	"testing"
)

func TestParseDays(t *testing.T) {
	tests := []struct {
		in   string
		want uint8
		ok   bool
	}{
		{"daily", 0x7f, true},
		{"mon-fri", 0b0111110, true},
		{"sat,sun", 0b1000001, true},
		{"fri-mon", 0b1100011, true}, // wraps over the weekend
		{"Mon", 0b0000010, true},
		{"mon-funday", 0, false},
		{"weekdays", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseDays(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseDays(%q) = %07b, %v; want %07b ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseClock(t *testing.T) {
	for in, want := range map[string]int{"00:00": 0, "09:30": 570, "23:59": 1439, "24:00": 1440} {
		if got, err := ParseClock(in); err != nil || got != want {
			t.Errorf("ParseClock(%q) = %d, %v", in, got, err)
		}
	}
	for _, bad := range []string{"9:30", "25:00", "12:60", "noon", ""} {
		if _, err := ParseClock(bad); err == nil {
			t.Errorf("ParseClock(%q) accepted", bad)
		}
	}
}

func validSchedule() *Schedule {
	it := Item{SHA256: strings.Repeat("ab", 32), Size: 10, Kind: "audio", DurationMS: 5000}
	return &Schedule{TZ: "Asia/Shanghai", Outputs: []OutputPlan{{
		Output: OutputAudio,
		Quiet:  []Daypart{{Days: "daily", Start: "22:00", End: "07:00"}},
		Safe:   []Item{it},
		Entries: []Entry{{ID: "atm/voice", Campaign: "atm", Priority: 5, From: "2026-12-01", Until: "2027-01-01",
			Dayparts: []Daypart{{Days: "mon-fri", Start: "09:00", End: "17:00"}}, MinEveryMS: 600000,
			Items: []EntryItem{{Item: it, ValidUntil: "2026-12-24"}}}},
	}}}
}

func TestScheduleValidate(t *testing.T) {
	if err := validSchedule().Validate(); err != nil {
		t.Fatalf("valid schedule refused: %v", err)
	}
	tests := map[string]func(s *Schedule){
		"bad zone":        func(s *Schedule) { s.TZ = "Mars/Olympus" },
		"empty zone":      func(s *Schedule) { s.TZ = "" },
		"bad output":      func(s *Schedule) { s.Outputs[0].Output = "radio" },
		"until <= from":   func(s *Schedule) { s.Outputs[0].Entries[0].Until = "2026-12-01" },
		"bad date":        func(s *Schedule) { s.Outputs[0].Entries[0].From = "2026-13-01" },
		"empty daypart":   func(s *Schedule) { s.Outputs[0].Entries[0].Dayparts[0].End = "09:00" },
		"share > 1":       func(s *Schedule) { s.Outputs[0].Entries[0].MinShare = 1.5 },
		"no items":        func(s *Schedule) { s.Outputs[0].Entries[0].Items = nil },
		"dup entry":       func(s *Schedule) { s.Outputs[0].Entries = append(s.Outputs[0].Entries, s.Outputs[0].Entries[0]) },
		"bad quiet":       func(s *Schedule) { s.Outputs[0].Quiet[0].Days = "someday" },
		"zero duration":   func(s *Schedule) { s.Outputs[0].Entries[0].Items[0].DurationMS = 0 },
		"bad valid_until": func(s *Schedule) { s.Outputs[0].Entries[0].Items[0].ValidUntil = "soon" },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			s := validSchedule()
			mutate(s)
			if err := s.Validate(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestAlertAndAckValidate(t *testing.T) {
	a := Alert{ID: "a1", Targets: []string{"town"}, Outputs: []string{OutputLED}, Text: "警惕", IssuedAt: 1, ExpiresAt: 2}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(a *Alert){
		"expired":    func(a *Alert) { a.ExpiresAt = 1 },
		"no outputs": func(a *Alert) { a.Outputs = nil },
		"no content": func(a *Alert) { a.Text = "" },
		"bad output": func(a *Alert) { a.Outputs = []string{"fax"} },
		"no id":      func(a *Alert) { a.ID = "" },
	} {
		b := a
		mutate(&b)
		if err := b.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	ok := Ack{V: 1, Device: "d", Event: AckFirstPlay, Alert: "a1", Output: OutputLED}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Ack{{V: 1, Device: "d", Event: AckFirstPlay}, {V: 1, Device: "d", Event: "signed"}, {V: 1, Device: "D", Event: AckAdopted}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("ack %+v accepted", bad)
		}
	}
}
