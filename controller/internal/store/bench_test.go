package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/guardcast/guardcast/internal/protocol"
)

// BenchmarkCommitProofs is the raw SQLite insert rate the ingestion path
// sits on: 1,000-row transactions, keys ordered by (device, seq) as
// ingestion produces them (50 devices interleaved).
func BenchmarkCommitProofs(b *testing.B) {
	ctx := context.Background()
	st, err := Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	const devices, perTx = 50, 1000
	seq := make([]uint64, devices)
	hash := strings.Repeat("ab", 32)
	b.ResetTimer()
	start := time.Now()
	for done := 0; done < b.N; {
		c := ProofCommit{}
		for i := 0; i < perTx && done < b.N; i++ {
			d := i % devices
			seq[d]++
			c.Rows = append(c.Rows, ProofRow{ProofRecord: protocol.ProofRecord{Device: fmt.Sprintf("dev-%03d", d), Seq: seq[d], Prev: hash,
				Version: 1, Output: "led", Playlist: "door", MediaSHA256: hash, StartNS: 1, EndNS: 2, MonoNS: 1, ClockSynced: true,
				Result: "played"}, Hash: hash, ReceivedAt: 1})
			done++
		}
		if err := st.CommitProofs(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rows/s")
}
