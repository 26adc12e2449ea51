package audio_test

import (
	"context"
	"fmt"
	"time"

	"github.com/guardcast/guardcast/agent/internal/device/audio"
	"github.com/guardcast/guardcast/internal/protocol"
)

// An ATM speaker with a volume cap and quiet hours. At 23:00 a prompt is a
// failed play with a reason, never a silent success.
func ExampleNew() {
	o := audio.DefaultOpts
	o.Volume, o.MaxVolume = 90, 70
	o.QuietHours = "22:00-07:00"
	o.Location = time.UTC
	d, err := audio.New(o)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d.Kind(), o.Gain(), d.Quiet(time.Date(2026, 5, 1, 23, 0, 0, 0, time.UTC)))

	// The real clock decides in Play; here the check is shown directly.
	_ = func(ctx context.Context) {
		res, _ := d.Play(ctx, protocol.Item{Kind: "audio"}, "/var/cache/guardcast/…")
		fmt.Println(res.Played, res.Reason, d.Last().FramesWritten)
	}
	// Output: audio 0.7 true
}
