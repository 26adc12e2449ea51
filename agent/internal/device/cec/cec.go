// Package cec switches a TV on and off and reads its power state over
// HDMI-CEC, through cec-ctl from v4l-utils (the kernel's CEC framework:
// /dev/cec0 on a Raspberry Pi).
//
// The Pi registers as a playback device, then sends IMAGE_VIEW_ON to the
// TV (logical address 0) and ACTIVE_SOURCE with its physical address, so
// the TV wakes and switches to the Pi's input; GIVE_DEVICE_POWER_STATUS
// reads "on", "standby", "to-on" or "to-standby" back.
package cec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/guardcast/guardcast/agent/internal/device/health"
)

// Opts configures a TV.
type Opts struct {
	Command string        // cec-ctl
	Device  string        // /dev/cec0
	OSDName string        // the name the TV shows for this source
	Timeout time.Duration // per cec-ctl run
}

// DefaultOpts are for a Raspberry Pi's HDMI port.
var DefaultOpts = Opts{
	Command: "cec-ctl",
	Device:  "/dev/cec0",
	OSDName: "GuardCast",
	Timeout: 5 * time.Second,
}

// ErrNoReply is returned when the TV did not answer (not connected, CEC
// off in its menu, or powered from the wall).
var ErrNoReply = errors.New("TV did not answer on HDMI-CEC")

// TV is the TV on one CEC adapter.
type TV struct {
	o Opts

	mu       sync.Mutex
	phys     string // our physical address, once configured
	state    string
	lastErr  string
	ok       bool
	checked  time.Time
	lastArgs []string
}

var _ health.Reporter = (*TV)(nil)

// New returns the TV behind o's adapter. It runs nothing yet.
func New(o Opts) *TV {
	d := DefaultOpts
	if o.Command != "" {
		d.Command = o.Command
	}
	if o.Device != "" {
		d.Device = o.Device
	}
	if o.OSDName != "" {
		d.OSDName = o.OSDName
	}
	if o.Timeout > 0 {
		d.Timeout = o.Timeout
	}
	return &TV{o: d}
}

// run runs cec-ctl with args and returns its output.
func (t *TV) run(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, t.o.Timeout)
	defer cancel()
	args = append([]string{"-d", t.o.Device}, args...)
	cmd := exec.CommandContext(ctx, t.o.Command, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	t.mu.Lock()
	t.lastArgs = args
	t.mu.Unlock()
	s := out.String()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return s, fmt.Errorf("cec-ctl %s: %v: %s", strings.Join(args, " "), err, firstLine(s))
		}
		return s, fmt.Errorf("cec-ctl: %w", err)
	}
	if err := TxError(s); err != nil {
		return s, err
	}
	return s, nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// configure registers the adapter as a playback device and learns its
// physical address. It runs once, and again after a failure.
func (t *TV) configure(ctx context.Context) (string, error) {
	t.mu.Lock()
	phys := t.phys
	t.mu.Unlock()
	if phys != "" {
		return phys, nil
	}
	out, err := t.run(ctx, "--playback", "--osd-name", t.o.OSDName)
	if err != nil {
		return "", err
	}
	phys, err = ParsePhysAddr(out)
	if err != nil {
		return "", err
	}
	t.mu.Lock()
	t.phys = phys
	t.mu.Unlock()
	return phys, nil
}

// On wakes the TV and makes this device its active source.
func (t *TV) On(ctx context.Context) error {
	err := t.on(ctx)
	t.note("", err)
	return err
}

func (t *TV) on(ctx context.Context) error {
	phys, err := t.configure(ctx)
	if err != nil {
		return err
	}
	if _, err := t.run(ctx, "--to", "0", "--image-view-on"); err != nil {
		t.forget()
		return err
	}
	if _, err := t.run(ctx, "--active-source", "phys-addr="+phys); err != nil {
		t.forget()
		return err
	}
	return nil
}

// Standby puts the TV in standby.
func (t *TV) Standby(ctx context.Context) error {
	_, err := t.configure(ctx)
	if err == nil {
		_, err = t.run(ctx, "--to", "0", "--standby")
	}
	if err != nil {
		t.forget()
	}
	t.note("", err)
	return err
}

// Status asks the TV for its power state: "on", "standby", "to-on",
// "to-standby".
func (t *TV) Status(ctx context.Context) (string, error) {
	_, err := t.configure(ctx)
	var out string
	if err == nil {
		out, err = t.run(ctx, "--to", "0", "--give-device-power-status")
	}
	var state string
	if err == nil {
		state, err = ParsePowerStatus(out)
	}
	if err != nil {
		t.forget()
	}
	t.note(state, err)
	return state, err
}

func (t *TV) forget() {
	t.mu.Lock()
	t.phys = "" // reconfigure next time: the cable or the adapter may have changed
	t.mu.Unlock()
}

func (t *TV) note(state string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.checked = time.Now()
	t.ok = err == nil
	if err != nil {
		t.lastErr = err.Error()
	}
	if state != "" {
		t.state = state
	}
}

// State is the last power state read ("" before the first Status).
func (t *TV) State() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state
}

// Health is OK when the last CEC exchange succeeded.
func (t *TV) Health() health.Health {
	t.mu.Lock()
	defer t.mu.Unlock()
	return health.Health{OK: t.ok, LastError: t.lastErr, Checked: t.checked}
}

var (
	pwrRe  = regexp.MustCompile(`(?m)^\s*pwr-state:\s*([a-z-]+)`)
	physRe = regexp.MustCompile(`(?m)^\s*Physical Address\s*:\s*([0-9a-fA-F]\.[0-9a-fA-F]\.[0-9a-fA-F]\.[0-9a-fA-F])\s*$`)
)

// ParsePowerStatus reads the TV's REPORT_POWER_STATUS from cec-ctl's
// output ("pwr-state: on (0x00)").
func ParsePowerStatus(out string) (string, error) {
	if err := TxError(out); err != nil {
		return "", err
	}
	m := pwrRe.FindStringSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("%w: no power status in cec-ctl output: %q", ErrNoReply, firstLine(out))
	}
	switch m[1] {
	case "on", "standby", "to-on", "to-standby":
		return m[1], nil
	}
	return "", fmt.Errorf("unknown CEC power state %q", m[1])
}

// ParsePhysAddr reads the adapter's physical address from cec-ctl's
// driver info. f.f.f.f means no HDMI sink is connected (or it is off at
// the wall): the TV cannot be reached.
func ParsePhysAddr(out string) (string, error) {
	m := physRe.FindStringSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("no physical address in cec-ctl output: %q", firstLine(out))
	}
	if strings.EqualFold(m[1], "f.f.f.f") {
		return "", fmt.Errorf("%w: physical address f.f.f.f (HDMI not connected, or the TV has no power)", ErrNoReply)
	}
	return strings.ToLower(m[1]), nil
}

// TxError recognises cec-ctl's report of a message the TV did not take:
// "Tx, Not Acknowledged", "Timed out", "Max Retries".
func TxError(out string) error {
	for _, s := range []string{"Not Acknowledged", "Timed out", "Max Retries", "Aborted"} {
		if i := strings.Index(out, s); i >= 0 {
			line := out[strings.LastIndexByte(out[:i], '\n')+1:]
			if j := strings.IndexByte(line, '\n'); j >= 0 {
				line = line[:j]
			}
			return fmt.Errorf("%w: %s", ErrNoReply, strings.TrimSpace(line))
		}
	}
	return nil
}
