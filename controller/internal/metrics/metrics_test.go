package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

func TestExposition(t *testing.T) {
	m := New(Sources{
		ClientsConnected: func() int64 { return 3 },
		Refusals:         func() map[string]uint64 { return map[string]uint64{"connect": 2, "publish": 0} },
	})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/devices/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := m.WrapHTTP(mux)
	get(t, h, "/api/devices/a")
	get(t, h, "/api/devices/b")
	get(t, h, "/nowhere")
	m.ProofsCommitted(5)
	m.ProofsCommitted(2)
	m.AckBatch()
	m.Committed(time.Millisecond)
	m.Refreshed(20 * time.Millisecond)

	code, body := get(t, m.Handler(), "/metrics")
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	for _, want := range []string{
		"guardcast_broker_clients_connected 3\n",
		`guardcast_broker_refusals_total{reason="connect"} 2` + "\n",
		`guardcast_broker_refusals_total{reason="publish"} 0` + "\n",
		"guardcast_proofs_ingested_total 7\n",
		"guardcast_ack_batches_total 1\n",
		"guardcast_ingest_commit_seconds_count 1\n",
		"guardcast_desired_state_refresh_seconds_count 1\n",
		`guardcast_http_requests_total{code="418",route="GET /api/devices/{id}"} 2` + "\n",
		`guardcast_http_requests_total{code="404",route="unmatched"} 1` + "\n",
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestNoBrokerSources(t *testing.T) {
	_, body := get(t, New(Sources{}).Handler(), "/metrics")
	if strings.Contains(body, "guardcast_broker_") {
		t.Error("broker metrics exported without a broker")
	}
}
