// Package cectest is a fake cec-ctl: a shell script, put where the driver
// looks for cec-ctl, that records its arguments and answers like cec-ctl
// on a Raspberry Pi talking to a TV in a scripted state.
package cectest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// States of the fake TV.
const (
	On           = "on"            // answers on
	Standby      = "standby"       // answers standby; IMAGE_VIEW_ON wakes it
	StuckStandby = "stuck-standby" // acknowledges IMAGE_VIEW_ON but stays in standby
	NoReply      = "noreply"       // no TV on the bus: every message not acknowledged
	Unplugged    = "unplugged"     // HDMI hot-plug low: physical address f.f.f.f
	NoDevice     = "nodevice"      // no /dev/cec0
)

// Fake is one installed fake cec-ctl.
type Fake struct {
	Dir     string
	Command string // the script's path, for Opts.Command
}

// New installs a fake cec-ctl in a temp dir with the TV in state.
func New(t testing.TB, state string) *Fake {
	t.Helper()
	dir := t.TempDir()
	f := &Fake{Dir: dir, Command: filepath.Join(dir, "cec-ctl")}
	if err := os.WriteFile(f.Command, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	f.Set(t, state)
	return f
}

// Set puts the fake TV in state.
func (f *Fake) Set(t testing.TB, state string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.Dir, "state"), []byte(state+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// State is the fake TV's state now.
func (f *Fake) State(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.Dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// Calls returns the argument lists cec-ctl was run with, one per run.
func (f *Fake) Calls(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.Dir, "calls"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

// The script answers with cec-ctl's (v4l-utils 1.22) output format.
const script = `#!/bin/sh
dir=$(dirname "$0")
echo "$*" >> "$dir/calls"
state=$(cat "$dir/state")
if [ "$state" = nodevice ]; then
	echo "Failed to open /dev/cec0: No such file or directory" >&2
	exit 1
fi
phys=1.0.0.0
[ "$state" = unplugged ] && phys=f.f.f.f
tx() {
	echo "Transmit from Playback Device 1 to TV (4 to 0):"
	echo "$1"
	echo "	Sequence: 7 Tx Timestamp: 1234.567s"
	case "$state" in noreply|unplugged)
		echo "	Tx, Not Acknowledged (4), Max Retries"
		exit 0;;
	esac
}
case "$*" in
*--playback*)
	cat <<END
Driver Info:
	Driver Name                : vc4_hdmi
	Adapter Name               : vc4-hdmi-0
	Capabilities               : 0x0000010e
		Logical Addresses
		Transmit
		Passthrough
	Driver version             : 6.1.21
	Available Logical Addresses: 1
	DRM Connector Info         : card 1, connector 32
	Physical Address           : $phys
	Logical Address Mask       : 0x0010
	CEC Version                : 2.0
	Vendor ID                  : 0x000c03 (HDMI)
	OSD Name                   : 'GuardCast'
	Logical Addresses          : 1 (Allow RC Passthrough)

	  Logical Address          : 4 (Playback Device 1)
	    Primary Device Type    : Playback
	    Logical Address Type   : Playback
	    All Device Types       : Playback
	    RC TV Profile          : None
	    Device Features        :
		None
END
	;;
*--image-view-on*)
	tx "CEC_MSG_IMAGE_VIEW_ON (0x04)"
	[ "$state" = standby ] && echo on > "$dir/state"
	;;
*--active-source*)
	tx "CEC_MSG_ACTIVE_SOURCE (0x82):"
	echo "	phys-addr: $phys"
	;;
*--standby*)
	tx "CEC_MSG_STANDBY (0x36)"
	[ "$state" = on ] && echo standby > "$dir/state"
	;;
*--give-device-power-status*)
	tx "CEC_MSG_GIVE_DEVICE_POWER_STATUS (0x8f)"
	pwr=$state
	[ "$state" = stuck-standby ] && pwr=standby
	code=0x00
	[ "$pwr" = standby ] && code=0x01
	echo "	Received from TV (0 to 4): REPORT_POWER_STATUS (0x90):"
	echo "		pwr-state: $pwr ($code)"
	echo "		Sequence: 0 Rx Timestamp: 1234.600s"
	;;
*)
	echo "fake cec-ctl: unexpected arguments: $*" >&2
	exit 2
	;;
esac
exit 0
`
