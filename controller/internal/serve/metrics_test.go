package serve

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches /metrics and sums each family's samples.
func scrape(t testing.TB, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("/metrics: %s: %s", resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	sums := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			sums[name] += m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sums
}

func TestMetricsMove(t *testing.T) {
	const agents, perAgent = 2, 25
	c := startController(t, t.TempDir(), Config{MetricsAddr: "127.0.0.1:0"})
	defer c.stop(t)
	if c.ep.MetricsAddr == "" {
		t.Fatal("endpoints have no metrics_addr")
	}
	ep, err := ReadEndpoints(c.dir)
	if err != nil || ep.MetricsAddr != c.ep.MetricsAddr {
		t.Fatalf("endpoints.json metrics_addr %q (%v), want %q", ep.MetricsAddr, err, c.ep.MetricsAddr)
	}
	fl := fleetOf(t, c, agents, "met")
	defer func() {
		for _, a := range fl {
			a.close()
		}
	}()
	if got := scrape(t, c.ep.MetricsAddr)["guardcast_broker_clients_connected"]; got < agents {
		t.Errorf("clients connected %v, want >= %d", got, agents)
	}
	for _, a := range fl {
		a.generate(perAgent)
		a.send(t, 10, 0, 5*time.Second, time.Minute)
		waitReceipt(t, a, perAgent)
	}
	// Receipts go out after the commit callback, so the counter is final.
	if got := scrape(t, c.ep.MetricsAddr)["guardcast_proofs_ingested_total"]; got < agents*perAgent {
		t.Errorf("proofs ingested %v, want >= %d", got, agents*perAgent)
	}
	resp, err := http.Get(c.ep.OfficeURL + "/api/devices")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	m := scrape(t, c.ep.MetricsAddr)
	if m["guardcast_http_requests_total"] < 1 {
		t.Errorf("http requests %v, want >= 1", m["guardcast_http_requests_total"])
	}
	if m["guardcast_ingest_commit_seconds"] < 1 {
		t.Errorf("ingest commits %v, want >= 1", m["guardcast_ingest_commit_seconds"])
	}
	if m["guardcast_desired_state_refresh_seconds"] < 1 {
		t.Errorf("desired-state refreshes %v, want >= 1 (the start-up sync)", m["guardcast_desired_state_refresh_seconds"])
	}
	for _, name := range []string{"guardcast_broker_refusals_total", "go_goroutines", "process_open_fds"} {
		if _, ok := m[name]; !ok {
			t.Errorf("%s missing", name)
		}
	}
}

func TestMetricsRefusesNonLoopback(t *testing.T) {
	err := Run(t.Context(), Config{DataDir: t.TempDir(), MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", MetricsAddr: "0.0.0.0:0"}, testLogger(t))
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("Run = %v, want a loopback refusal", err)
	}
}
