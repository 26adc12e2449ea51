// Package health is the small status every device driver reports into the
// agent's status message: whether the device answers, the last error it
// gave, and when that was last checked.
package health

import "time"

// Health is one driver's view of its device.
type Health struct {
	OK        bool      // the device answered at the last check
	LastError string    // the last failure, kept after recovery until replaced ("" if none yet)
	Checked   time.Time // when OK was last established
}

// Reporter is implemented by drivers that can say how their device is.
type Reporter interface {
	Health() Health
}
