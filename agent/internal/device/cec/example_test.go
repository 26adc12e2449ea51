package cec_test

import (
	"context"
	"fmt"

	"github.com/guardcast/guardcast/agent/internal/device/cec"
)

// Wake the hall TV before showing content, and read back its power state.
func Example() {
	tv := cec.New(cec.DefaultOpts) // cec-ctl on /dev/cec0
	ctx := context.Background()
	if err := tv.On(ctx); err != nil {
		fmt.Println("TV off:", err)
		return
	}
	state, err := tv.Status(ctx)
	fmt.Println(state, err)
}
