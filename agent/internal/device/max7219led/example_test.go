package max7219led_test

import (
	"fmt"

	"periph.io/x/conn/v3/spi/spitest"

	"github.com/guardcast/guardcast/agent/internal/device/max7219led"
)

// On a Pi: max7219led.OpenSPI("SPI0.0", &opts). Here the bus is periph's
// recorder, which shows what goes over the wire.
func ExampleNew() {
	bus := &spitest.Record{}
	opts := max7219led.DefaultOpts // 4 modules, 32×8
	opts.Intensity = 2
	d, err := max7219led.New(bus, &opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	for _, op := range bus.Ops[:5] {
		fmt.Printf("% X\n", op.W)
	}
	// Output:
	// 0F 00 0F 00 0F 00 0F 00
	// 0C 00 0C 00 0C 00 0C 00
	// 09 00 09 00 09 00 09 00
	// 0B 07 0B 07 0B 07 0B 07
	// 0A 02 0A 02 0A 02 0A 02
}
