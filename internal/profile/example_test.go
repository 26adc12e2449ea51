package profile_test

import (
	"fmt"
	"os"
	"path/filepath"

	firmwareprofiles "github.com/guardcast/guardcast/firmware-profiles"
	"github.com/guardcast/guardcast/internal/profile"
)

// An agent loads the shipped profiles plus its override directory once at
// start-up, refuses to start on any error, and picks its driver from the
// profile its config names with one switch on the kind.
func ExampleLoad() {
	dir, _ := os.MkdirTemp("", "profiles")
	defer os.RemoveAll(dir)
	// A site's own model: only what differs from the defaults.
	os.WriteFile(filepath.Join(dir, "door-sign.yaml"), []byte(`
id: door-sign
kind: led-max7219
description: branch door, 8 modules in one row
geometry:
  modules: 8
`), 0o644)

	set, err := profile.Load(firmwareprofiles.FS, dir)
	if err != nil {
		fmt.Println("refusing to start:", err)
		return
	}
	p, err := set.Get("door-sign")
	if err != nil {
		fmt.Println(err)
		return
	}
	switch p.Kind {
	case profile.KindLEDMAX7219:
		fmt.Printf("max7219 on %s at %d Hz: %d modules, %dx%d dots, font %s, %v per dot\n",
			p.Transport.SPIPort, p.Transport.SPIHz, p.Geometry.Modules,
			p.Geometry.PixelsX, p.Geometry.PixelsY, p.Text.Font, p.Text.ScrollStep())
	case profile.KindVirtual:
		fmt.Println("virtual", p.Output)
	}
	// Output:
	// max7219 on SPI0.0 at 10000000 Hz: 8 modules, 64x8 dots, font builtin, 40ms per dot
}

// A bad file names the file, the line, the field and the reason.
func ExampleParse_error() {
	_, err := profile.Parse("/etc/guardcast/profiles/door.yaml", []byte(`id: door
kind: led-alpha
description: branch door sign
transport:
  type: serial
  device: /dev/ttyUSB0
  baud: 12345
geometry: {pixels_x: 160, pixels_y: 16}
`))
	fmt.Println(err)
	// Output:
	// /etc/guardcast/profiles/door.yaml:7: transport.baud: 12345 is not a standard baud rate: want one of 300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400
}

func ExampleParse() {
	p, err := profile.Parse("speaker.yaml", []byte(`id: lobby-speaker
kind: audio-alsa
description: lobby speaker on a USB sound card
transport:
  alsa_device: plughw:CARD=Device,DEV=0
limits:
  quiet_hours: "22:00-07:00"
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Output, p.Transport.Type, p.Transport.ALSADevice, p.Limits.DefaultVolume, p.Limits.QuietHours)
	// Output:
	// audio alsa plughw:CARD=Device,DEV=0 80 22:00-07:00
}
