//go:build !linux

package clocksync

// Synced cannot ask the kernel here; it claims nothing.
func (Adjtimex) Synced() (bool, error) { return false, ErrUnsupported }
