// Package metrics owns the controller's Prometheus metrics: their names,
// a private registry, and the /metrics handler. Other packages feed it
// through plain funcs (Sources) or the methods of *Metrics; none of them
// imports Prometheus.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Sources are read at scrape time; a nil func leaves its metric out.
type Sources struct {
	// ClientsConnected is the broker's connected client count.
	ClientsConnected func() int64
	// Refusals is the broker's refusal counters by reason.
	Refusals func() map[string]uint64
}

// Metrics holds the controller's metrics on a private registry.
type Metrics struct {
	reg       *prometheus.Registry
	proofs    prometheus.Counter
	commit    prometheus.Histogram
	ackBatch  prometheus.Counter
	refresh   prometheus.Histogram
	httpReqs  *prometheus.CounterVec
	httpDurat *prometheus.HistogramVec
}

// New registers every metric, plus the Go and process collectors, on a
// fresh registry.
func New(src Sources) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		proofs: prometheus.NewCounter(prometheus.CounterOpts{Name: "guardcast_proofs_ingested_total",
			Help: "Proof records committed to the store."}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "guardcast_ingest_commit_seconds",
			Help: "Time of one proof ingestion store transaction.", Buckets: prometheus.DefBuckets}),
		ackBatch: prometheus.NewCounter(prometheus.CounterOpts{Name: "guardcast_ack_batches_total",
			Help: "Batches of acknowledgements stored."}),
		refresh: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "guardcast_desired_state_refresh_seconds",
			Help: "Time to compile and sign desired state for the fleet.", Buckets: prometheus.DefBuckets}),
		httpReqs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "guardcast_http_requests_total",
			Help: "Office HTTP requests by route pattern and status code."}, []string{"route", "code"}),
		httpDurat: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "guardcast_http_request_duration_seconds",
			Help: "Office HTTP request latency by route pattern.", Buckets: prometheus.DefBuckets}, []string{"route"}),
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.proofs, m.commit, m.ackBatch, m.refresh, m.httpReqs, m.httpDurat)
	if src.ClientsConnected != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "guardcast_broker_clients_connected",
			Help: "MQTT clients connected to the embedded broker."}, func() float64 { return float64(src.ClientsConnected()) }))
	}
	if src.Refusals != nil {
		m.reg.MustRegister(refusals{f: src.Refusals})
	}
	return m
}

var refusalDesc = prometheus.NewDesc("guardcast_broker_refusals_total",
	"What the embedded broker refused since start, by reason.", []string{"reason"}, nil)

type refusals struct{ f func() map[string]uint64 }

func (r refusals) Describe(ch chan<- *prometheus.Desc) { ch <- refusalDesc }
func (r refusals) Collect(ch chan<- prometheus.Metric) {
	for reason, n := range r.f() {
		ch <- prometheus.MustNewConstMetric(refusalDesc, prometheus.CounterValue, float64(n), reason)
	}
}

// ProofsCommitted counts n proof records stored.
func (m *Metrics) ProofsCommitted(n int) { m.proofs.Add(float64(n)) }

// Committed observes one proof ingestion store transaction.
func (m *Metrics) Committed(d time.Duration) { m.commit.Observe(d.Seconds()) }

// AckBatch counts one stored batch of acknowledgements.
func (m *Metrics) AckBatch() { m.ackBatch.Inc() }

// Refreshed observes one desired-state compile and sign.
func (m *Metrics) Refreshed(d time.Duration) { m.refresh.Observe(d.Seconds()) }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// WrapHTTP counts the requests h serves by the ServeMux pattern that
// matched (the mux records it on the request) and the status code.
func (m *Metrics) WrapHTTP(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.httpReqs.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
		m.httpDurat.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer (flush, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
