package mpv_test

import (
	"context"
	"fmt"

	"github.com/guardcast/guardcast/agent/internal/device/cec"
	"github.com/guardcast/guardcast/agent/internal/device/mpv"
	"github.com/guardcast/guardcast/internal/protocol"
)

// A hall TV on a Pi: mpv on the console through DRM, the TV woken by CEC
// before each item.
func ExampleOpen() {
	o := mpv.DefaultOpts // --vo=drm
	o.Power = cec.New(cec.DefaultOpts)
	tv, err := mpv.Open(o)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tv.Close()
	res, _ := tv.Play(context.Background(), protocol.Item{Kind: "video", DurationMS: 3000}, "/var/cache/guardcast/…")
	fmt.Println(res.Played, res.Reason, tv.Last().Loaded, tv.PowerState(), tv.Health().OK)
}

func ExampleArgs() {
	o := mpv.DefaultOpts
	o.ExtraArgs = []string{"--drm-connector=HDMI-A-1"}
	fmt.Println(mpv.Args(o, "/run/guardcast/mpv.sock"))
	// Output: [--idle=yes --input-ipc-server=/run/guardcast/mpv.sock --no-terminal --force-window=immediate --vo=drm --keep-open=no --drm-connector=HDMI-A-1]
}
