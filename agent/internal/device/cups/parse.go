package cups

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// ErrNoRequestID means lp's output did not name the job it created.
var ErrNoRequestID = errors.New("lp printed no request id")

var requestRE = regexp.MustCompile(`request id is (\S+)-([0-9]+) \(`)

// ParseRequestID reads the job lp created from its output, run in the C
// locale: "request id is keycard-42 (1 file(s))" gives "keycard-42".
func ParseRequestID(out string) (string, error) {
	m := requestRE.FindStringSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("%w in %q", ErrNoRequestID, trim(out))
	}
	if _, err := strconv.ParseUint(m[2], 10, 31); err != nil {
		return "", fmt.Errorf("lp: job number %q: %w", m[2], err)
	}
	return m[1] + "-" + m[2], nil
}

// Job is one job as `lpstat -l -o QUEUE` lists it.
type Job struct {
	ID     string   // "keycard-42"
	Status string   // the "Status:" line: the printer's message for the job
	Alerts []string // the "Alerts:" line: job-state-reasons keywords
}

// Has reports whether the job carries the job-state-reason kw.
func (j Job) Has(kw string) bool {
	for _, a := range j.Alerts {
		if a == kw {
			return true
		}
	}
	return false
}

// ParseJobs reads `lpstat -l [-W which] -o QUEUE`: one unindented line per
// job whose first field is the job id, then tab-indented detail lines.
func ParseJobs(out string) []Job {
	var jobs []Job
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			continue
		}
		if line[0] != ' ' && line[0] != '\t' {
			f := strings.Fields(line)
			if len(f) > 0 {
				jobs = append(jobs, Job{ID: f[0]})
			}
			continue
		}
		if len(jobs) == 0 {
			continue
		}
		j := &jobs[len(jobs)-1]
		l := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(l, "Status:"):
			j.Status = strings.TrimSpace(strings.TrimPrefix(l, "Status:"))
		case strings.HasPrefix(l, "Alerts:"):
			j.Alerts = strings.Fields(strings.TrimPrefix(l, "Alerts:"))
		}
	}
	return jobs
}

// FindJob returns the job with id in jobs.
func FindJob(jobs []Job, id string) (Job, bool) {
	for _, j := range jobs {
		if j.ID == id {
			return j, true
		}
	}
	return Job{}, false
}

// Printer is a queue's state as `lpstat -p QUEUE` reports it.
type Printer struct {
	Enabled bool
	State   string // "idle", "printing", "disabled"
	Message string // the indented line under it: why it is disabled, or the printer's message
}

// ParsePrinter reads `lpstat -p QUEUE` for queue.
func ParsePrinter(out, queue string) (Printer, error) {
	lines := strings.Split(out, "\n")
	for i, line := range lines {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "printer" || !strings.EqualFold(f[1], queue) {
			continue
		}
		p := Printer{}
		rest := strings.Join(f[2:], " ")
		switch {
		case strings.HasPrefix(rest, "disabled"):
			p.State = "disabled"
		case strings.HasPrefix(rest, "is idle"):
			p.Enabled, p.State = true, "idle"
		case strings.HasPrefix(rest, "now printing"):
			p.Enabled, p.State = true, "printing"
		case strings.HasPrefix(rest, "is holding new jobs"):
			p.Enabled, p.State = true, "holding"
		default:
			return Printer{}, fmt.Errorf("lpstat: cannot read printer line %q", trim(line))
		}
		if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "\t") {
			p.Message = strings.TrimSpace(lines[i+1])
		}
		return p, nil
	}
	return Printer{}, fmt.Errorf("lpstat: queue %q not listed in %q", queue, trim(out))
}

func trim(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
