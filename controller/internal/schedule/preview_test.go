package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/plan"
	"github.com/guardcast/guardcast/internal/protocol"
)

// loopState is a device whose LED sign loops one 2-second message and whose
// TV loops a 30-second clip: 30 days of it is 1.3 million plays.
func loopState() *protocol.DesiredState {
	return &protocol.DesiredState{V: protocol.Version, Device: "loop-1", Version: 3, Playlists: []protocol.Playlist{
		{Name: "hotline", Output: "led", Items: []protocol.Item{{SHA256: fmt.Sprintf("%064x", 1), Kind: "text", Title: "hotline", DurationMS: 2000}}},
		{Name: "clip", Output: "tv", Items: []protocol.Item{{SHA256: fmt.Sprintf("%064x", 2), Kind: "video", Title: "clip", DurationMS: 30000}}},
	}}
}

// previewMemory runs a 30-day preview of loopState and reports the bytes
// allocated and the heap still in use while the result is held.
func previewMemory(t testing.TB) (total, live uint64, res *PreviewResult) {
	from := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	res, err := PreviewState(loopState(), "", from, from.Add(30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	total = after.TotalAlloc - before.TotalAlloc
	runtime.GC()
	runtime.ReadMemStats(&after)
	live = after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)
	runtime.KeepAlive(res)
	return total, live, res
}

func TestPreviewMemoryBounded(t *testing.T) {
	total, live, res := previewMemory(t)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	enc := json.NewEncoder(io.Discard)
	enc.SetIndent("", "  ") // as the API writes it
	if err := enc.Encode(res); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	encoded := after.TotalAlloc - before.TotalAlloc
	t.Logf("30-day preview of a 2 s loop: %d of %d plays listed, allocated %.1f MB in all, %.1f MB held by the result, %.1f MB to encode",
		len(res.Plays), res.PlayCount, float64(total)/1e6, float64(live)/1e6, float64(encoded)/1e6)
	// Garbage from 1.4 million evaluator steps is most of the total; what
	// is held at once is the capped result.
	if total > 64<<20 || live > 8<<20 || encoded > 32<<20 {
		t.Errorf("want under 64 MB allocated, 8 MB held and 32 MB to encode")
	}
}

func TestPreviewCapsAndSummarises(t *testing.T) {
	_, live, res := previewMemory(t)
	if live > 8<<20 {
		t.Errorf("result holds %d bytes, want under 8 MB", live)
	}
	const led, tv = 30 * 24 * 3600 / 2, 30 * 24 * 3600 / 30
	if res.PlayCount != led+tv {
		t.Errorf("PlayCount = %d, want %d", res.PlayCount, led+tv)
	}
	if !res.Truncated || res.ListedUntil == nil || len(res.Plays) > MaxPreviewPlays || len(res.Plays) < MaxPreviewPlays-10 {
		t.Fatalf("Truncated %v, ListedUntil %v, %d plays listed", res.Truncated, res.ListedUntil, len(res.Plays))
	}
	// The listing has no holes: every play before ListedUntil is in it.
	want := map[string]int{}
	span := res.ListedUntil.Sub(res.From)
	want["led"] = int((span + 2*time.Second - 1) / (2 * time.Second))
	want["tv"] = int((span + 30*time.Second - 1) / (30 * time.Second))
	got := map[string]int{}
	for _, p := range res.Plays {
		if !p.Start.Before(*res.ListedUntil) {
			t.Fatalf("play at %v is not before ListedUntil %v", p.Start, res.ListedUntil)
		}
		got[p.Output]++
	}
	if got["led"] != want["led"] || got["tv"] != want["tv"] {
		t.Errorf("listed %v before %v, want %v", got, res.ListedUntil, want)
	}
	sum := 0
	for _, d := range res.Daily {
		sum += d.Plays
		if d.Output == "led" && d.Plays != 43200 || d.Output == "tv" && d.Plays != 2880 {
			t.Errorf("daily %+v", d)
		}
	}
	if sum != res.PlayCount || len(res.Daily) != 60 {
		t.Errorf("daily sums to %d over %d rows, want %d over 60", sum, len(res.Daily), res.PlayCount)
	}
}

// TestPreviewAgreesWithPlan: under the caps, the streamed preview lists
// exactly what plan.Preview (the agent's evaluator) does.
func TestPreviewAgreesWithPlan(t *testing.T) {
	ds := loopState()
	from := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	to := from.Add(time.Hour)
	res, err := PreviewState(ds, "", from, to)
	if err != nil {
		t.Fatal(err)
	}
	if res.Truncated || res.PlayCount != len(res.Plays) {
		t.Fatalf("an hour was truncated: %d of %d", len(res.Plays), res.PlayCount)
	}
	n := 0
	for _, o := range []string{"led", "tv"} {
		plays, _, err := plan.Preview(ds.Schedule, o, ds.Playlists, from, to)
		if err != nil {
			t.Fatal(err)
		}
		i := 0
		for _, p := range res.Plays {
			if p.Output != o {
				continue
			}
			if i >= len(plays) || !p.Start.Equal(plays[i].Start) || p.SHA256 != plays[i].Item.SHA256 || p.Entry != plays[i].EntryID {
				t.Fatalf("%s play %d: %+v, plan says %+v", o, i, p, plays[min(i, len(plays)-1)])
			}
			i++
		}
		if i != len(plays) {
			t.Errorf("%s: listed %d plays, plan.Preview %d", o, i, len(plays))
		}
		n += i
	}
	if n != len(res.Plays) {
		t.Errorf("%d plays listed, %d accounted for", len(res.Plays), n)
	}
}

func TestPreviewRefusesLongSpansAndStopsOnCancel(t *testing.T) {
	from := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if _, err := PreviewState(loopState(), "", from, from.Add(MaxPreviewSpan+time.Second)); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("32-day preview: %v, want ErrInvalid", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := previewState(ctx, loopState(), "", from, from.Add(24*time.Hour)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled preview: %v, want context.Canceled", err)
	}
}

// BenchmarkPreview30DayLoop: a 31-day-class preview of a 2-second loop.
// Before the caps it allocated 934 MB and failed (too many plays); 23
// days allocated 1.9 GB, held 188 MB and took 2.5 GB more to encode.
func BenchmarkPreview30DayLoop(b *testing.B) {
	b.ReportAllocs()
	from := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		res, err := PreviewState(loopState(), "", from, from.Add(30*24*time.Hour))
		if err != nil || !res.Truncated {
			b.Fatal(err)
		}
	}
}
