package cec_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/guardcast/guardcast/agent/internal/device/cec"
	"github.com/guardcast/guardcast/agent/internal/device/cec/cectest"
)

func TestOnStatusStandby(t *testing.T) {
	ctx := context.Background()
	f := cectest.New(t, cectest.Standby)
	tv := cec.New(cec.Opts{Command: f.Command})
	if s, err := tv.Status(ctx); err != nil || s != "standby" {
		t.Fatalf("Status = %q, %v; want standby", s, err)
	}
	if err := tv.On(ctx); err != nil {
		t.Fatal(err)
	}
	if s, err := tv.Status(ctx); err != nil || s != "on" {
		t.Fatalf("after On: Status = %q, %v", s, err)
	}
	if err := tv.Standby(ctx); err != nil {
		t.Fatal(err)
	}
	if f.State(t) != cectest.Standby {
		t.Fatal("Standby did not reach the TV")
	}
	want := []string{
		"-d /dev/cec0 --playback --osd-name GuardCast",
		"-d /dev/cec0 --to 0 --give-device-power-status",
		"-d /dev/cec0 --to 0 --image-view-on",
		"-d /dev/cec0 --active-source phys-addr=1.0.0.0",
		"-d /dev/cec0 --to 0 --give-device-power-status",
		"-d /dev/cec0 --to 0 --standby",
	}
	if diff := cmp.Diff(want, f.Calls(t)); diff != "" {
		t.Fatalf("cec-ctl runs (-want +got):\n%s", diff)
	}
	if h := tv.Health(); !h.OK || h.Checked.IsZero() {
		t.Fatalf("health %+v", h)
	}
}

func TestFailures(t *testing.T) {
	for _, tt := range []struct {
		state   string
		noReply bool
		says    string
	}{
		{cectest.NoReply, true, "Not Acknowledged"},
		{cectest.Unplugged, true, "f.f.f.f"},
		{cectest.NoDevice, false, "Failed to open /dev/cec0"},
	} {
		t.Run(tt.state, func(t *testing.T) {
			f := cectest.New(t, tt.state)
			tv := cec.New(cec.Opts{Command: f.Command})
			err := tv.On(context.Background())
			if err == nil || errors.Is(err, cec.ErrNoReply) != tt.noReply || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("On: %v", err)
			}
			if h := tv.Health(); h.OK || !strings.Contains(h.LastError, tt.says) {
				t.Fatalf("health %+v", h)
			}
			// After a failure the adapter is configured again.
			f.Set(t, cectest.On)
			if s, err := tv.Status(context.Background()); err != nil || s != "on" {
				t.Fatalf("recovered Status = %q, %v", s, err)
			}
			if !strings.Contains(strings.Join(f.Calls(t), "\n"), "--playback") {
				t.Fatal("not reconfigured")
			}
		})
	}
}

func TestParsePowerStatus(t *testing.T) {
	for _, tt := range []struct{ out, want string }{
		{"\tReceived from TV (0 to 4): REPORT_POWER_STATUS (0x90):\n\t\tpwr-state: on (0x00)\n", "on"},
		{"\t\tpwr-state: standby (0x01)\n", "standby"},
		{"\t\tpwr-state: to-on (0x02)\n", "to-on"},
		{"\t\tpwr-state: to-standby (0x03)\n", "to-standby"},
	} {
		if got, err := cec.ParsePowerStatus(tt.out); err != nil || got != tt.want {
			t.Errorf("ParsePowerStatus(%q) = %q, %v", tt.out, got, err)
		}
	}
	for _, bad := range []string{"", "\tTx, Not Acknowledged (4), Max Retries\n", "pwr-state: sleepy (0x09)\n", "\tTimed out\n\t\tpwr-state: on\n"} {
		if got, err := cec.ParsePowerStatus(bad); err == nil {
			t.Errorf("ParsePowerStatus(%q) = %q, want an error", bad, got)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("\t\tpwr-state: on (0x00)\n")
	f.Add("\tPhysical Address           : 1.0.0.0\n")
	f.Add("\tPhysical Address           : f.f.f.f\n")
	f.Add("\tTx, Not Acknowledged (4), Max Retries\n")
	f.Fuzz(func(t *testing.T, out string) {
		if s, err := cec.ParsePowerStatus(out); err == nil {
			switch s {
			case "on", "standby", "to-on", "to-standby":
			default:
				t.Fatalf("state %q", s)
			}
		}
		if p, err := cec.ParsePhysAddr(out); err == nil && (len(p) != 7 || p == "f.f.f.f") {
			t.Fatalf("phys %q", p)
		}
		_ = cec.TxError(out)
	})
}
