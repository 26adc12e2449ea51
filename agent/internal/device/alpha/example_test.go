package alpha_test

import (
	"fmt"

	"github.com/guardcast/guardcast/agent/internal/device/alpha"
)

// The frame for one message: sync NULs, SOH, type 'Z' (all signs),
// address "00", STX, Write TEXT 'A' to file 'A', ESC, fill position '0',
// hold mode 'b', the text, ETX, checksum of STX…ETX (0x0371, worked by
// hand) in four hex digits, EOT.
func ExampleEncode() {
	frame := alpha.Encode(alpha.Packet{
		Sync:     5,
		Type:     alpha.TypeAll,
		Address:  "00",
		Commands: []alpha.Command{alpha.TextFile('A', alpha.PosFill, alpha.ModeHold, []byte("CALL 96110"))},
	})
	fmt.Printf("% X\n", frame)
	// Output:
	// 00 00 00 00 00 01 5A 30 30 02 41 41 1B 30 62 43 41 4C 4C 20 39 36 31 31 30 03 30 33 37 31 04
}
