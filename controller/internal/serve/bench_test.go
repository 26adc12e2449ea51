package serve

import (
	"sync"
	"testing"
	"time"
)

// BenchmarkIngestEndToEnd: simulated agents → embedded broker (TCP
// loopback) → controller ingestion (decode, chain check, one Ed25519 verify
// per batch) → SQLite commit → receipt back to the agent. A record counts
// only once its receipt arrived, i.e. after the durable commit.
//
//	go test -run '^$' -bench IngestEndToEnd -benchtime 200000x ./controller/internal/serve/
func BenchmarkIngestEndToEnd(b *testing.B) {
	const agents, batch, window = 50, 200, 2000
	c := startController(b, b.TempDir(), Config{})
	defer c.stop(b)
	fl := fleetOf(b, c, agents, "bench")
	per := max(b.N/agents, batch)
	for _, a := range fl {
		a.generate(per)
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for _, a := range fl {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.send(b, batch, window, 10*time.Second, 10*time.Minute)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(per*agents)/elapsed.Seconds(), "records/s")
	for _, a := range fl {
		a.close()
	}
}
