package clocksync_test

import (
	"fmt"

	"github.com/guardcast/guardcast/agent/internal/clocksync"
	"github.com/guardcast/guardcast/agent/internal/clocksync/clocksynctest"
)

// A Pi that has booted without NTP: the agent plays the safe loop until
// the kernel says otherwise (Run re-reads it every minute).
func Example() {
	m := clocksync.New(clocksync.Opts{Kernel: clocksynctest.New(false)})
	st := m.State()
	fmt.Println(st.Synced, st.Source)

	// --clock-trusted: an RTC or GPS clock the kernel does not vouch for.
	forced := clocksync.New(clocksync.Opts{Forced: true})
	fmt.Println(forced.Synced(), forced.State().Source)
	// Output:
	// false kernel
	// true forced
}
