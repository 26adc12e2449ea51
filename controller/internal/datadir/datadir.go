// Package datadir owns the controller's data directory lock: one process at
// a time works on a data directory — a running `serve`, or a CLI command
// while no controller runs. A second `serve` exits at once naming the
// holder; a CLI command that finds `serve` holding it goes through the
// running controller's API instead of opening the store.
package datadir

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// LockFile is the lock's name in the data directory.
const LockFile = "lock"

// Holder is what the lock holder writes into the lock file.
type Holder struct {
	PID     int    `json:"pid"`
	What    string `json:"what"` // "serve", or the CLI command
	Started string `json:"started"`
}

func (h Holder) String() string {
	return fmt.Sprintf("%s (pid %d, since %s)", h.What, h.PID, h.Started)
}

// ErrHeld is returned when another process holds the lock.
var ErrHeld = errors.New("data directory in use")

// HeldError names the holder.
type HeldError struct {
	Dir    string
	Holder Holder
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("%s is in use by guardcast-controller %s", e.Dir, e.Holder)
}

// Is makes errors.Is(err, ErrHeld) true.
func (e *HeldError) Is(target error) bool { return target == ErrHeld }

// Lock is a held data directory lock.
type Lock struct {
	f *os.File
}

// Acquire takes the data directory's lock without waiting; what says who
// holds it ("serve", "device add").
func Acquire(dir, what string) (*Lock, error) {
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			h, _ := readHolder(f)
			return nil, &HeldError{Dir: dir, Holder: h}
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	b, _ := json.Marshal(Holder{PID: os.Getpid(), What: what, Started: time.Now().UTC().Format(time.RFC3339)})
	if err := f.Truncate(0); err == nil {
		f.WriteAt(append(b, '\n'), 0)
	}
	return &Lock{f: f}, nil
}

func readHolder(f *os.File) (Holder, error) {
	var h Holder
	b := make([]byte, 4096)
	n, _ := f.ReadAt(b, 0)
	err := json.Unmarshal(b[:n], &h)
	return h, err
}

// Release gives the lock up.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	l.f.Truncate(0)
	err := l.f.Close() // closing the file releases the flock
	l.f = nil
	return err
}

// Probe reports whether a process holds the lock, and who, without
// keeping it.
func Probe(dir string) (Holder, bool, error) {
	l, err := Acquire(dir, "probe")
	var he *HeldError
	switch {
	case errors.As(err, &he):
		return he.Holder, true, nil
	case err != nil:
		return Holder{}, false, err
	}
	return Holder{}, false, l.Release()
}
