package daemon

import "golang.org/x/sys/unix"

// kernelClockSynced asks the kernel (adjtimex, read-only) whether NTP
// considers the clock synchronised.
func kernelClockSynced() bool {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return false
	}
	return tx.Status&unix.STA_UNSYNC == 0 && state != unix.TIME_ERROR
}
