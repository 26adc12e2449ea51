package clocksync

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Synced asks the kernel with a zero Timex (modes 0: read only). The
// clock is unsynchronised when STA_UNSYNC is set or the call returns
// TIME_ERROR (which the kernel also returns while STA_UNSYNC is set).
func (Adjtimex) Synced() (bool, error) {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return false, fmt.Errorf("adjtimex: %w", err)
	}
	return synced(state, tx.Status), nil
}

func synced(state int, status int32) bool {
	return status&unix.STA_UNSYNC == 0 && state != unix.TIME_ERROR
}
