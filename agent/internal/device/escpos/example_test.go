package escpos_test

import (
	"context"
	"fmt"

	"github.com/guardcast/guardcast/agent/internal/device/escpos"
	"github.com/guardcast/guardcast/agent/internal/device/escpos/escpostest"
	"github.com/guardcast/guardcast/internal/protocol"
)

func ExampleEncoder() {
	e, err := escpos.NewEncoder(escpos.DefaultOpts) // 80 mm, GB18030
	if err != nil {
		fmt.Println(err)
		return
	}
	e.Init()
	_ = e.Line("反诈 96110")
	e.Cut(escpos.CutPartial)
	fmt.Printf("% x\n", e.Bytes())
	// Output:
	// 1b 40 1c 26 b7 b4 d5 a9 20 39 36 31 31 30 0a 1b 64 04 1d 56 01
}

func ExampleDecodeStatus() {
	// A printer out of paper answers DLE EOT 1, 2, 3, 4 like this.
	s, err := escpos.DecodeStatus([4]byte{0x1A, 0x32, 0x12, 0x7E})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Problem())
	fmt.Println(s)
	// Output:
	// paper end
	// offline, stopped at paper end, paper near end, paper end
}

func ExampleDialTCP() {
	printer, err := escpostest.Listen() // a real one: "192.168.1.50:9100"
	if err != nil {
		fmt.Println(err)
		return
	}
	defer printer.Close()

	o := escpos.DefaultOpts
	o.Site = "Riverside branch"
	d, err := escpos.DialTCP(printer.Addr(), o)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	res, err := d.Play(context.Background(), protocol.Item{Kind: "print"}, "testdata/reminder.tpl")
	fmt.Println(res.Played, err, printer.Record().Lines[0])

	printer.SetState(escpostest.State{CoverOpen: true})
	res, _ = d.Play(context.Background(), protocol.Item{Kind: "print"}, "testdata/reminder.tpl")
	fmt.Println(res.Played, res.Reason, d.Health().OK)
	// Output:
	// true <nil> 防范电信诈骗 温馨提示
	// false cover open false
}
