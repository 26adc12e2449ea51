package cups

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRequestID(t *testing.T) {
	for _, tt := range []struct{ out, want string }{
		{"request id is keycard-42 (1 file(s))\n", "keycard-42"},
		{"request id is front-desk-keycard-7 (1 file(s))", "front-desk-keycard-7"},
		{"lp: error", ""},
		{"request id is keycard- (1 file(s))", ""},
		{"request id is keycard-99999999999 (1 file(s))", ""},
	} {
		got, err := ParseRequestID(tt.out)
		if got != tt.want || (err == nil) != (tt.want != "") {
			t.Errorf("ParseRequestID(%q) = %q, %v; want %q", tt.out, got, err, tt.want)
		}
	}
}

const jobsOut = `keycard-41              root              1024   Fri 14 Mar 2025 09:29:00 AM UTC
	Alerts: job-completed-successfully
	queued for keycard
keycard-42              root              2048   Fri 14 Mar 2025 09:30:00 AM UTC
	Status: Ribbon empty
	Alerts: aborted-by-system job-completed-with-errors
	queued for keycard
keycard-43              root              1024   Fri 14 Mar 2025 09:31:00 AM UTC
`

func TestParseJobs(t *testing.T) {
	got := ParseJobs(jobsOut)
	want := []Job{
		{ID: "keycard-41", Alerts: []string{"job-completed-successfully"}},
		{ID: "keycard-42", Status: "Ribbon empty", Alerts: []string{"aborted-by-system", "job-completed-with-errors"}},
		{ID: "keycard-43"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("ParseJobs (-want +got):\n%s", d)
	}
	if j, ok := FindJob(got, "keycard-42"); !ok || !j.Has("aborted-by-system") || j.Has("job-completed-successfully") {
		t.Fatalf("FindJob = %+v, %v", j, ok)
	}
}

func TestParsePrinter(t *testing.T) {
	for _, tt := range []struct {
		out  string
		want Printer
		err  bool
	}{
		{out: "printer keycard is idle.  enabled since Fri 14 Mar 2025 09:00:00 AM UTC\n", want: Printer{Enabled: true, State: "idle"}},
		{out: "printer keycard now printing keycard-42.  enabled since Fri 14 Mar 2025\n\tPrinting card 1 of 1\n", want: Printer{Enabled: true, State: "printing", Message: "Printing card 1 of 1"}},
		{out: "printer keycard disabled since Fri 14 Mar 2025 09:30:00 AM UTC -\n\treason unknown\n", want: Printer{State: "disabled", Message: "reason unknown"}},
		{out: "printer other is idle.  enabled since x\n", err: true},
		{out: "lpstat: Invalid destination name in list \"keycard\".\n", err: true},
		{out: "printer keycard is on fire\n", err: true},
	} {
		got, err := ParsePrinter(tt.out, "keycard")
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParsePrinter(%q) = %+v, %v; want %+v, err %v", tt.out, got, err, tt.want, tt.err)
		}
	}
}

func FuzzParseLPStat(f *testing.F) {
	f.Add(jobsOut, "request id is keycard-42 (1 file(s))")
	f.Add("printer keycard disabled since x -\n\tRibbon out\n", "")
	f.Fuzz(func(t *testing.T, out, lp string) {
		for _, j := range ParseJobs(out) {
			if j.ID == "" {
				t.Fatal("job without id")
			}
		}
		if p, err := ParsePrinter(out, "keycard"); err == nil && p.State == "" {
			t.Fatal("printer without state")
		}
		if id, err := ParseRequestID(lp); err == nil && id == "" {
			t.Fatal("empty request id")
		}
	})
}
