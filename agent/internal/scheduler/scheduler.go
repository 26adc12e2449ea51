// Package scheduler decides what plays next. It is pure: the desired
// state, what the cache holds and where each output is in its playlist go
// in; picks come out. In protocol v1 a playlist simply loops, skipping
// items that are not cached yet.
package scheduler

import "github.com/guardcast/guardcast/internal/protocol"

// Pick is the next item for one output.
type Pick struct {
	Output   string
	Playlist string
	Index    int // position of Item in the playlist
	Item     protocol.Item
}

// NextOn returns the first cached item of pl after position after (-1:
// from the start), wrapping around. ok is false when nothing in pl is
// cached.
func NextOn(pl protocol.Playlist, cached func(sha string) bool, after int) (p Pick, ok bool) {
	n := len(pl.Items)
	if n == 0 {
		return Pick{}, false
	}
	if after < -1 || after >= n {
		after = -1
	}
	for k := 1; k <= n; k++ {
		i := (after + k) % n
		if cached(pl.Items[i].SHA256) {
			return Pick{Output: pl.Output, Playlist: pl.Name, Index: i, Item: pl.Items[i]}, true
		}
	}
	return Pick{}, false
}

// Next returns the next pick for every output of d that has something
// cached to play. pos maps an output to the index it last played; a
// missing output starts from the beginning.
func Next(d *protocol.DesiredState, cached func(sha string) bool, pos map[string]int) map[string]Pick {
	out := map[string]Pick{}
	if d == nil {
		return out
	}
	for _, pl := range d.Playlists {
		after, ok := pos[pl.Output]
		if !ok {
			after = -1
		}
		if p, ok := NextOn(pl, cached, after); ok {
			out[pl.Output] = p
		}
	}
	return out
}
