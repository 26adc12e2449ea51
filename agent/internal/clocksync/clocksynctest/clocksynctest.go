// Package clocksynctest is a fake kernel sync state for tests.
package clocksynctest

import (
	"sync"

	"github.com/guardcast/guardcast/agent/internal/clocksync"
)

// Kernel is a clocksync.Kernel whose answer a test sets; it counts reads.
type Kernel struct {
	mu     sync.Mutex
	synced bool
	err    error
	reads  int
}

var _ clocksync.Kernel = (*Kernel)(nil)

// New returns a kernel that reports synced.
func New(synced bool) *Kernel { return &Kernel{synced: synced} }

// Set changes what the next read reports.
func (k *Kernel) Set(synced bool, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.synced, k.err = synced, err
}

// Synced implements clocksync.Kernel.
func (k *Kernel) Synced() (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reads++
	return k.synced, k.err
}

// Reads is how many times the kernel was read.
func (k *Kernel) Reads() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.reads
}
