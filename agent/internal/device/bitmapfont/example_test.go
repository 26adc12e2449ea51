package bitmapfont_test

import (
	"fmt"

	"github.com/guardcast/guardcast/agent/internal/device/bitmapfont"
)

// A one-row 8×8 LED module shows the built-in 5×7 font.
func ExampleFont_Render() {
	f := bitmapfont.Builtin()
	fmt.Print(f.Render("110").String())
	// Output:
	// ..#.....#....###..
	// .##....##...#...#.
	// ..#.....#...#..##.
	// ..#.....#...#.#.#.
	// ..#.....#...##..#.
	// ..#.....#...#...#.
	// .###...###...###..
	// ..................
}

// Chinese needs Unifont's 16×16 glyphs; Missing says what a font lacks.
func ExampleFont_Missing() {
	f := bitmapfont.Builtin()
	fmt.Printf("%q\n", string(f.Missing("反诈 110")))
	// Output: "反诈"
}
