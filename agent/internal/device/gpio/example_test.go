package gpio_test

import (
	"context"
	"fmt"
	"time"

	"periph.io/x/conn/v3/gpio"

	guardgpio "github.com/guardcast/guardcast/agent/internal/device/gpio"
)

// A PIR presence sensor at an ATM: its output goes high when someone
// stands there; each activation starts the voice prompt.
func ExampleOpen() {
	in, err := guardgpio.Open(guardgpio.Opts{
		Name: "atm-presence", Pin: "GPIO27",
		Pull: gpio.PullDown, Active: gpio.High, Debounce: 50 * time.Millisecond,
	})
	if err != nil {
		fmt.Println(err) // on a PC: GPIO27 not found: is this a Raspberry Pi, …
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_ = in.Run(ctx, func(tr guardgpio.Trigger) {
		go fmt.Println("play the prompt: triggered by", tr.Name, "at", tr.At) // never block Run
	})
}
