package plan_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/guardcast/guardcast/internal/plan"
	"github.com/guardcast/guardcast/internal/protocol"
)

// An ATM speaker loops the bank's 3-minute ads, and must say the police
// voice prompt at least every 5 minutes while the branch is open.
func ExamplePreview() {
	item := func(hex string, ms int64) protocol.EntryItem {
		return protocol.EntryItem{Item: protocol.Item{SHA256: strings.Repeat(hex, 64), Size: 1, Kind: "audio", DurationMS: ms}}
	}
	s := &protocol.Schedule{TZ: "Asia/Shanghai", Outputs: []protocol.OutputPlan{{
		Output: protocol.OutputAudio,
		Entries: []protocol.Entry{
			{ID: "bank/ads", Priority: 5, Items: []protocol.EntryItem{item("a", 180_000)}},
			{ID: "police/atm-voice", MinEveryMS: 5 * 60_000,
				Dayparts: []protocol.Daypart{{Days: "daily", Start: "09:00", End: "17:00"}},
				Items:    []protocol.EntryItem{item("b", 20_000)}},
		},
	}}}
	sh, _ := time.LoadLocation("Asia/Shanghai")
	from := time.Date(2026, 3, 2, 8, 57, 0, 0, sh)
	plays, misses, err := plan.Preview(s, protocol.OutputAudio, nil, from, from.Add(12*time.Minute))
	if err != nil {
		panic(err)
	}
	for _, p := range plays {
		fmt.Println(p.Start.In(sh).Format("15:04:05"), p.EntryID)
	}
	fmt.Println(len(misses), "misses")
	// Output:
	// 08:57:00 bank/ads
	// 09:00:00 bank/ads
	// 09:03:00 police/atm-voice
	// 09:03:20 bank/ads
	// 09:06:20 police/atm-voice
	// 09:06:40 bank/ads
	// 0 misses
}
