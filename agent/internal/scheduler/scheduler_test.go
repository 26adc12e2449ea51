package scheduler

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/guardcast/guardcast/internal/protocol"
)

func sha(c string) string { return strings.Repeat(c, 64) }

func item(c string) protocol.Item { return protocol.Item{SHA256: sha(c), Size: 1, DurationMS: 1000} }

func TestNext(t *testing.T) {
	doc := &protocol.DesiredState{Playlists: []protocol.Playlist{
		{Name: "door", Output: protocol.OutputLED, Items: []protocol.Item{item("a"), item("b"), item("c")}},
		{Name: "hall", Output: protocol.OutputTV, Items: []protocol.Item{item("d")}},
	}}
	all := func(string) bool { return true }
	only := func(cs ...string) func(string) bool {
		return func(s string) bool {
			for _, c := range cs {
				if s == sha(c) {
					return true
				}
			}
			return false
		}
	}
	led := func(i int, c string) Pick {
		return Pick{Output: protocol.OutputLED, Playlist: "door", Index: i, Item: item(c)}
	}
	tv := Pick{Output: protocol.OutputTV, Playlist: "hall", Index: 0, Item: item("d")}
	tests := []struct {
		name   string
		doc    *protocol.DesiredState
		cached func(string) bool
		pos    map[string]int
		want   map[string]Pick
	}{
		{"no document", nil, all, nil, map[string]Pick{}},
		{"start", doc, all, nil, map[string]Pick{"led": led(0, "a"), "tv": tv}},
		{"advance", doc, all, map[string]int{"led": 0, "tv": 0}, map[string]Pick{"led": led(1, "b"), "tv": tv}},
		{"loop", doc, all, map[string]int{"led": 2}, map[string]Pick{"led": led(0, "a"), "tv": tv}},
		{"skip uncached", doc, only("a", "c"), map[string]int{"led": 0}, map[string]Pick{"led": led(2, "c")}},
		{"only one cached repeats", doc, only("b"), map[string]int{"led": 1}, map[string]Pick{"led": led(1, "b")}},
		{"nothing cached", doc, only(), nil, map[string]Pick{}},
		{"position past a shorter playlist", doc, all, map[string]int{"led": 7}, map[string]Pick{"led": led(0, "a"), "tv": tv}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Next(tt.doc, tt.cached, tt.pos)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Fatalf("(-want +got):\n%s", d)
			}
		})
	}
}
