package clocksync

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestSyncedBits(t *testing.T) {
	for _, tt := range []struct {
		name   string
		state  int
		status int32
		want   bool
	}{
		{"synchronised", unix.TIME_OK, unix.STA_PLL, true},
		{"leap second pending", unix.TIME_INS, unix.STA_PLL | unix.STA_INS, true},
		{"STA_UNSYNC", unix.TIME_OK, unix.STA_UNSYNC, false},
		{"TIME_ERROR", unix.TIME_ERROR, 0, false},
		{"both", unix.TIME_ERROR, unix.STA_UNSYNC | unix.STA_PLL, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := synced(tt.state, tt.status); got != tt.want {
				t.Fatalf("synced(%d, %#x) = %v", tt.state, tt.status, got)
			}
		})
	}
}

// TestAdjtimexReads: reading is allowed to an unprivileged process and
// changes nothing (modes 0).
func TestAdjtimexReads(t *testing.T) {
	ok, err := Adjtimex{}.Synced()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("this host's clock synchronised: %v", ok)
}
