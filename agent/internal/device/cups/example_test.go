package cups_test

import (
	"fmt"

	"github.com/guardcast/guardcast/agent/internal/device/cups"
)

func ExampleParseRequestID() {
	id, err := cups.ParseRequestID("request id is keycard-42 (1 file(s))\n")
	fmt.Println(id, err)
	// Output: keycard-42 <nil>
}

func ExampleParseJobs() {
	out := "keycard-42              root              2048   Fri 14 Mar 2025 09:30:00 AM UTC\n" +
		"\tStatus: Ribbon empty\n\tAlerts: aborted-by-system\n\tqueued for keycard\n"
	for _, j := range cups.ParseJobs(out) {
		fmt.Println(j.ID, j.Status, j.Has("job-completed-successfully"))
	}
	// Output: keycard-42 Ribbon empty false
}
