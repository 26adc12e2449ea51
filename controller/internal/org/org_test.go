package org

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/guardcast/guardcast/internal/protocol"
)

func town() []Node {
	return []Node{
		{ID: "town", Kind: KindTown, Name: "Town", TZ: "Asia/Shanghai", Quiet: []protocol.Daypart{{Days: "daily", Start: "22:00", End: "07:00"}}},
		{ID: "east", Kind: KindVillage, Name: "East village", Parent: "town"},
		{ID: "bank", Kind: KindUnit, Name: "Bank", Parent: "east"},
		{ID: "bank-br", Kind: KindUnit, Name: "Bank branch office", Parent: "bank"},
		{ID: "branch-1", Kind: KindSite, Name: "Branch 1", Parent: "bank-br"},
		{ID: "hotel", Kind: KindSite, Name: "Hotel Berlin", Parent: "east", TZ: "Europe/Berlin", Quiet: []protocol.Daypart{}},
	}
}

func TestBuildRules(t *testing.T) {
	tests := []struct {
		name   string
		edit   func([]Node) []Node
		errHas string
	}{
		{"ok", func(n []Node) []Node { return n }, ""},
		{"missing parent", func(n []Node) []Node { n[1].Parent = "nowhere"; return n }, "does not exist"},
		{"site under site", func(n []Node) []Node {
			return append(n, Node{ID: "kiosk", Kind: KindSite, Name: "K", Parent: "branch-1"})
		}, "cannot sit under"},
		{"town under village", func(n []Node) []Node { n[0].Parent = "east"; return n }, "cannot sit under"},
		{"unit cycle", func(n []Node) []Node { n[2].Parent = "bank-br"; return n }, "cycle"},
		{"site without zone", func(n []Node) []Node { n[0].TZ = ""; return n }, "no time zone"},
		{"bad zone", func(n []Node) []Node { n[5].TZ = "Mars/Olympus"; return n }, "time zone"},
		{"Local refused", func(n []Node) []Node { n[5].TZ = "Local"; return n }, "time zone"},
		{"bad kind", func(n []Node) []Node { n[1].Kind = "hamlet"; return n }, "kind"},
		{"bad id", func(n []Node) []Node { n[1].ID = "East"; return n }, "node id"},
		{"duplicate", func(n []Node) []Node { return append(n, n[1]) }, "twice"},
		{"bad quiet", func(n []Node) []Node {
			n[5].Quiet = []protocol.Daypart{{Days: "daily", Start: "09:00", End: "09:00"}}
			return n
		}, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(tt.edit(town()), nil)
			if (err == nil) != (tt.errHas == "") || (err != nil && !strings.Contains(err.Error(), tt.errHas)) {
				t.Fatalf("Build: %v, want error containing %q", err, tt.errHas)
			}
		})
	}
}

func TestTreeWalks(t *testing.T) {
	people := []Person{
		{Node: "bank", Role: RoleFirstResponsible, Name: "Wang", Phone: "138 0000 0001"},
		{Node: "hotel", Role: RoleLiaison, Name: "Li", Phone: "+49 30 1234"},
	}
	tr, err := Build(town(), people)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tr.Chain("branch-1"), []string{"branch-1", "bank-br", "bank", "east", "town"}; !cmp.Equal(got, want) {
		t.Errorf("Chain = %v, want %v", got, want)
	}
	if tr.Chain("nowhere") != nil || tr.Chain("") != nil {
		t.Error("Chain of an unknown node is not empty")
	}
	if tz := tr.TZ("branch-1"); tz != "Asia/Shanghai" {
		t.Errorf("inherited zone %q", tz)
	}
	if tz := tr.TZ("hotel"); tz != "Europe/Berlin" {
		t.Errorf("own zone %q", tz)
	}
	if q := tr.Quiet("branch-1"); len(q) != 1 || q[0].Start != "22:00" {
		t.Errorf("inherited quiet hours %v", q)
	}
	if q := tr.Quiet("hotel"); q == nil || len(q) != 0 {
		t.Errorf("hotel opted out of quiet hours, got %v", q)
	}
	holder, ps := tr.Responsible("branch-1")
	if holder != "bank" || len(ps) != 1 || ps[0].Name != "Wang" {
		t.Errorf("Responsible(branch-1) = %s %v", holder, ps)
	}
	if holder, _ := tr.Responsible("hotel"); holder != "hotel" {
		t.Errorf("Responsible(hotel) = %s", holder)
	}
	if !tr.Under("branch-1", "east") || tr.Under("hotel", "bank") {
		t.Error("Under")
	}
	var walk []string
	tr.Walk(func(n Node, depth int) { walk = append(walk, strings.Repeat(".", depth)+n.ID) })
	want := []string{"town", ".east", "..bank", "...bank-br", "....branch-1", "..hotel"}
	if !cmp.Equal(walk, want) {
		t.Errorf("Walk = %v, want %v", walk, want)
	}
	if _, err := Build(town(), []Person{{Node: "ghost", Role: RoleLiaison, Name: "x", Phone: "1"}}); err == nil {
		t.Error("person on a missing node accepted")
	}
}

func TestAddressed(t *testing.T) {
	chain := []string{"branch-1", "bank", "town"}
	for _, tt := range []struct {
		targets []string
		want    bool
	}{
		{[]string{"town"}, true},
		{[]string{"hotel", "bank"}, true},
		{[]string{"dev-1"}, true},
		{[]string{"hotel"}, false},
		{nil, false},
	} {
		if got := Addressed(tt.targets, "dev-1", chain); got != tt.want {
			t.Errorf("Addressed(%v) = %v", tt.targets, got)
		}
	}
}

func TestParseDaypart(t *testing.T) {
	for in, want := range map[string]protocol.Daypart{
		"mon-fri,09:00-17:00":   {Days: "mon-fri", Start: "09:00", End: "17:00"},
		"sat,sun,10:00-16:00":   {Days: "sat,sun", Start: "10:00", End: "16:00"},
		"daily,22:00-07:00":     {Days: "daily", Start: "22:00", End: "07:00"},
		"Fri-Mon,00:00-24:00":   {Days: "fri-mon", Start: "00:00", End: "24:00"},
		"mon,wed,fri,9:00-5:00": {}, // want HH:MM
	} {
		got, err := ParseDaypart(in)
		if want == (protocol.Daypart{}) {
			if err == nil {
				t.Errorf("ParseDaypart(%q) accepted", in)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("ParseDaypart(%q) = %+v, %v", in, got, err)
		}
		if FormatDaypart(got) != strings.ToLower(in) {
			t.Errorf("FormatDaypart(%+v) = %q", got, FormatDaypart(got))
		}
	}
	for _, bad := range []string{"09:00-17:00", "mon-fri,09:00", "weekdays,09:00-17:00", "mon-fri,09:00-09:00"} {
		if _, err := ParseDaypart(bad); err == nil {
			t.Errorf("ParseDaypart(%q) accepted", bad)
		}
	}
	q, err := ParseQuiet([]string{"none"})
	if err != nil || q == nil || len(q) != 0 {
		t.Errorf("ParseQuiet(none) = %v, %v", q, err)
	}
}

func TestPersonValidate(t *testing.T) {
	ok := Person{Node: "n", Role: RolePresenter, Name: "Zhao", Phone: "+86 (10) 1234-5678"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []Person{
		{Role: "boss", Name: "x", Phone: "1"},
		{Role: RoleLiaison, Name: " ", Phone: "1"},
		{Role: RoleLiaison, Name: "x", Phone: "call me"},
		{Role: RoleLiaison, Name: "x", Phone: "--"},
	} {
		if err := p.Validate(); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}
