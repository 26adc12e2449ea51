package output_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/guardcast/guardcast/agent/internal/output"
	"github.com/guardcast/guardcast/internal/clock"
	"github.com/guardcast/guardcast/internal/protocol"
)

// A sign that is unplugged at start-up: the agent runs on, each play fails
// at once saying why, and the sign is tried again after the backoff.
func ExampleNewLazy() {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	plugged := false
	sign := output.NewLazy(output.LazyOpts{
		Kind:   protocol.OutputLED,
		Absent: output.ReasonSignSilent,
		Margin: 10 * time.Second, // a play may run 10 s past its duration
		Clock:  clk,
		Open: func(ctx context.Context) (output.Opened, error) {
			if !plugged {
				return output.Opened{}, errors.New("open sign /dev/ttyUSB0: no such file or directory")
			}
			return output.Opened{Output: &fakeDriver{clk: clk}}, nil
		},
	})
	defer sign.Close()
	it := protocol.Item{Kind: "text", DurationMS: 5000}

	res, _ := sign.Play(context.Background(), it, "")
	fmt.Println(res.Played, res.Reason)
	fmt.Println("healthy:", sign.Health().OK)

	plugged = true
	clk.Advance(output.DefaultMinBackoff)
	res, _ = sign.Play(context.Background(), it, "")
	fmt.Println(res.Played, "healthy:", sign.Health().OK)
	// Output:
	// false sign_silent: open sign /dev/ttyUSB0: no such file or directory
	// healthy: false
	// true healthy: true
}
