package tspl_test

import (
	"context"
	"fmt"

	"github.com/guardcast/guardcast/agent/internal/device/tspl"
	"github.com/guardcast/guardcast/agent/internal/device/tspl/tspltest"
	"github.com/guardcast/guardcast/internal/protocol"
)

func ExampleEncoder() {
	e, err := tspl.NewEncoder(tspl.DefaultOpts)
	if err != nil {
		fmt.Println(err)
		return
	}
	e.Setup()
	_ = e.Text(16, 16, 1, 1, "ABC 96110")
	e.Print()
	fmt.Printf("%q\n", e.Bytes())
	// Output:
	// "SIZE 60 mm,40 mm\r\nGAP 2 mm,0 mm\r\nDIRECTION 1\r\nCLS\r\nTEXT 16,16,\"TSS24.BF2\",0,1,1,\"ABC 96110\"\r\nPRINT 1,1\r\n"
}

func ExampleDialTCP() {
	printer, err := tspltest.Listen() // a real one: "192.168.1.60:9100"
	if err != nil {
		fmt.Println(err)
		return
	}
	defer printer.Close()
	d, err := tspl.DialTCP(printer.Addr(), tspl.DefaultOpts)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	printer.SetStatus(tspltest.PaperOut)
	res, err := d.Play(context.Background(), protocol.Item{Kind: "print"}, "testdata/label.tpl")
	fmt.Println(res.Played, res.Reason, err)
	// Output:
	// false paper out <nil>
}
