package alert

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/guardcast/guardcast/controller/internal/store"
)

func TestBuild(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	voice := strings.Repeat("ab", 32)
	st.PutMedia(ctx, store.Media{SHA256: voice, Kind: "audio", Name: "voice.wav", Title: "Voice", Size: 10, DurationMS: 5000})
	st.PutMedia(ctx, store.Media{SHA256: strings.Repeat("cd", 32), Kind: "text", Name: "hotline.txt", Size: 10})
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		req     Request
		errHas  string
		outputs string
		expires time.Duration
		hold    int64
	}{
		{"defaults", Request{To: []string{"town"}, Text: "x"}, "", "led,tv", DefaultExpiry, 15000},
		{"voice adds audio", Request{To: []string{"town"}, Text: "x", Audio: "voice.wav"}, "", "led,tv,audio", DefaultExpiry, 15000},
		{"voice only", Request{To: []string{"town"}, Audio: "voice.wav", Outputs: []string{"audio"}}, "", "audio", DefaultExpiry, 0},
		{"rfc3339 expiry and hold", Request{To: []string{"a", "a"}, Text: "x", Expires: "2026-11-27T20:00:00+08:00", Hold: "30s"}, "", "led,tv", 0, 30000},
		{"no targets", Request{Text: "x"}, "no targets", "", 0, 0},
		{"bad target", Request{To: []string{"../x"}, Text: "x"}, "target", "", 0, 0},
		{"no text for screens", Request{To: []string{"town"}, Audio: "voice.wav"}, "need --text", "", 0, 0},
		{"audio without clip", Request{To: []string{"town"}, Text: "x", Outputs: []string{"audio"}}, "voice clip", "", 0, 0},
		{"clip is not audio", Request{To: []string{"town"}, Text: "x", Audio: "hotline.txt"}, "not a voice clip", "", 0, 0},
		{"clip missing", Request{To: []string{"town"}, Text: "x", Audio: "ghost.wav"}, "not found", "", 0, 0},
		{"bad output", Request{To: []string{"town"}, Text: "x", Outputs: []string{"radio"}}, "output", "", 0, 0},
		{"expired already", Request{To: []string{"town"}, Text: "x", Expires: "2026-11-27T09:00:00Z"}, "future", "", 0, 0},
		{"expires too late", Request{To: []string{"town"}, Text: "x", Expires: "900h"}, "within", "", 0, 0},
		{"repeat too fast", Request{To: []string{"town"}, Text: "x", Repeat: "1s"}, "repeat", "", 0, 0},
		{"hold too long", Request{To: []string{"town"}, Text: "x", Hold: "2h"}, "hold", "", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Build(ctx, st, tt.req, now)
			if tt.errHas != "" {
				if err == nil || !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("Build: %v, want a bad request with %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(a.Outputs, ","); got != tt.outputs {
				t.Errorf("outputs %s, want %s", got, tt.outputs)
			}
			if tt.expires != 0 && a.ExpiresAt != now.Add(tt.expires).Unix() {
				t.Errorf("expires %d", a.ExpiresAt)
			}
			if a.HoldMS != tt.hold {
				t.Errorf("hold %d, want %d", a.HoldMS, tt.hold)
			}
			if a.ID != "" || a.IssuedAt != now.Unix() || len(a.Targets) != len(dedup(tt.req.To)) {
				t.Errorf("alert %+v", a)
			}
		})
	}
}

func dedup(s []string) map[string]bool {
	m := map[string]bool{}
	for _, x := range s {
		m[x] = true
	}
	return m
}
