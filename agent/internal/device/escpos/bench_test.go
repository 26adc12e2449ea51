package escpos_test

import (
	"context"
	"testing"
	"time"

	"github.com/guardcast/guardcast/agent/internal/device/escpos"
	"github.com/guardcast/guardcast/agent/internal/device/escpos/escpostest"
)

// BenchmarkPlayFirstByte measures, for one reminder over loopback TCP to
// the fake, the time from Play's start to the first byte at the printer
// (the DLE EOT status query), to the first byte of the job itself (ESC @,
// after the status answers) and to the end of the confirmed play. This is
// the printer's share of issue 3's "trigger to first byte under 300 ms".
func BenchmarkPlayFirstByte(b *testing.B) {
	for _, fresh := range []bool{false, true} {
		name := "kept-connection"
		if fresh {
			name = "new-connection"
		}
		b.Run(name, func(b *testing.B) {
			p, err := escpostest.Listen()
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			o := escpos.DefaultOpts
			o.Site = "Example Bank 河滨支行"
			d, err := escpos.DialTCP(p.Addr(), o)
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			it, path := reminder(nil)
			var first, job, worst time.Duration
			for b.Loop() {
				if fresh {
					p.HangUp()
				}
				p.Reset()
				start := time.Now()
				res, err := d.Play(context.Background(), it, path)
				if err != nil || !res.Played {
					b.Fatalf("%+v, %v", res, err)
				}
				r := p.Record()
				fb := r.FirstByte.Sub(start)
				first += fb
				job += r.FirstInit.Sub(start)
				worst = max(worst, fb)
			}
			n := float64(b.N)
			b.ReportMetric(float64(first.Microseconds())/n, "µs-to-first-byte")
			b.ReportMetric(float64(job.Microseconds())/n, "µs-to-job-byte")
			b.ReportMetric(float64(worst.Microseconds()), "µs-worst-first-byte")
		})
	}
}
