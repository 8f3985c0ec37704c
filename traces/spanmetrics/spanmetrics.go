// Package spanmetrics derives request, error and duration (RED) metrics
// from every span at ingest, before any sampling, like the OpenTelemetry
// spanmetrics connector. Series carry the names and labels Grafana Tempo's
// metrics-generator writes, so Grafana's RED panels and "explore traces"
// queries work unchanged:
//
//	traces_spanmetrics_calls_total{service, span_name, span_kind, status_code}
//	traces_spanmetrics_latency_bucket{..., le} (seconds; exemplars carry trace_id)
//
// A Metrics is a prometheus.Collector; the server registers it with a
// registry that a gather.Gatherer copies into the metrics store.
package spanmetrics

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilhq/vigil/storage/spans"
	"github.com/vigilhq/vigil/traces/tracehist"
)

// DefaultBuckets are Tempo's metrics-generator default latency buckets in
// seconds: 2ms doubling up to 16.384s.
var DefaultBuckets = prometheus.ExponentialBuckets(0.002, 2, 14)

// Options configures Metrics.
type Options struct {
	// Buckets are the latency tracehist.Histogram's upper bounds in seconds,
	// ascending; nil means DefaultBuckets.
	Buckets []float64
	// MaxSeries bounds the number of label sets (service, span name, kind,
	// status); zero means 10,000.
	MaxSeries int
	// StaleAfter removes a label set that saw no span for this long, as
	// Tempo's generator does after 15 minutes, so services that went away
	// stop holding a slot of MaxSeries. Zero means 15m; negative keeps
	// series forever.
	StaleAfter time.Duration
	// Now is the clock used for staleness; nil means time.Now.
	Now func() time.Time
}

// Metrics counts spans into RED series. Observe and Collect are safe to
// call concurrently from any number of goroutines.
type Metrics struct {
	o           Options
	callsDesc   *prometheus.Desc
	latencyDesc *prometheus.Desc
	droppedDesc *prometheus.Desc

	// dropped counts spans whose label set did not fit in MaxSeries.
	dropped atomic.Uint64

	// mu guards the series map; each series has its own lock for its
	// values, so concurrent Observe calls hold mu only for reading and
	// contend only when they update the same series. Lock order: mu, then
	// series.mu.
	mu     sync.RWMutex
	series map[key]*series
}

// key is one label set. Kind and status are small enumerations so the map
// hashes only the two strings.
type key struct {
	service, name string
	kind, status  uint8
}

type series struct {
	mu       sync.Mutex
	calls    uint64
	latency  tracehist.Histogram
	lastSeen int64 // unix nanoseconds of the last Observe that touched it
}

var (
	kindNames   = [...]string{"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"}
	statusNames = [...]string{"STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"}
)

// kindIndex maps a stored span kind (spans.KindName) to its index in
// kindNames; anything unknown is unspecified.
func kindIndex(k string) uint8 {
	switch k {
	case "internal":
		return 1
	case "server":
		return 2
	case "client":
		return 3
	case "producer":
		return 4
	case "consumer":
		return 5
	default:
		return 0
	}
}

func statusIndex(s string) uint8 {
	switch s {
	case "ok":
		return 1
	case "error":
		return 2
	default:
		return 0
	}
}

// New returns an empty Metrics.
func New(o Options) *Metrics {
	if o.Buckets == nil {
		o.Buckets = DefaultBuckets
	}
	if o.MaxSeries <= 0 {
		o.MaxSeries = 10_000
	}
	if o.StaleAfter == 0 {
		o.StaleAfter = 15 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	labels := []string{"service", "span_name", "span_kind", "status_code"}
	return &Metrics{
		o:           o,
		callsDesc:   prometheus.NewDesc("traces_spanmetrics_calls_total", "Spans received, by service, operation, kind and status.", labels, nil),
		latencyDesc: prometheus.NewDesc("traces_spanmetrics_latency", "Span durations in seconds.", labels, nil),
		droppedDesc: prometheus.NewDesc("vigil_spanmetrics_dropped_spans_total", "Spans not counted in traces_spanmetrics_* because their label set would exceed the series limit.", nil, nil),
		series:      map[key]*series{},
	}
}

// Observe counts every span of batch. It does not keep batch or its spans.
//
// When MaxSeries label sets exist, a span with a new label set is dropped
// and counted in vigil_spanmetrics_dropped_spans_total instead of being
// folded into an overflow series (as the OpenTelemetry connector does with
// otel.metric.overflow): an overflow series would show up in Grafana as
// one more service with the sum of unrelated traffic, while dropping keeps
// every existing series exact and the counter makes the loss visible and
// alertable. Tempo's generator makes the same choice.
func (m *Metrics) Observe(batch []spans.Span) {
	if len(batch) == 0 {
		return
	}
	now := m.o.Now().UnixNano()
	bounds := m.o.Buckets
	m.mu.RLock()
	for i := range batch {
		sp := &batch[i]
		k := key{service: sp.Service, name: sp.Name, kind: kindIndex(sp.Kind), status: statusIndex(sp.StatusCode)}
		s := m.series[k]
		if s == nil {
			m.mu.RUnlock()
			s = m.add(k, now)
			m.mu.RLock()
			if s == nil {
				m.dropped.Add(1)
				continue
			}
		}
		d := max(sp.DurationNanos, 0)
		s.mu.Lock()
		s.calls++
		s.latency.Observe(bounds, float64(d)/1e9, sp.TraceID, sp.Start.Add(time.Duration(d)))
		s.lastSeen = now
		s.mu.Unlock()
	}
	m.mu.RUnlock()
}

// add returns the series for k, creating it if MaxSeries allows, or nil.
// mu must not be held.
func (m *Metrics) add(k key, now int64) *series {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.series[k]; s != nil {
		return s
	}
	if len(m.series) >= m.o.MaxSeries {
		return nil
	}
	// The strings point into the request's decoded buffers; cloning keeps
	// a long-lived series from pinning them.
	k.service, k.name = strings.Clone(k.service), strings.Clone(k.name)
	// lastSeen is set now so a Collect between add and the caller's update
	// cannot take the new series for stale.
	s := &series{latency: tracehist.New(m.o.Buckets), lastSeen: now}
	m.series[k] = s
	return s
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.callsDesc
	ch <- m.latencyDesc
	ch <- m.droppedDesc
}

// Collect implements prometheus.Collector. It also removes series that
// saw no span for StaleAfter; their last values are not reported again,
// so the gatherer marks them stale.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	type snap struct {
		k       key
		calls   uint64
		latency tracehist.Histogram
	}
	var cutoff int64
	if m.o.StaleAfter > 0 {
		cutoff = m.o.Now().Add(-m.o.StaleAfter).UnixNano()
	}
	m.mu.RLock()
	snaps := make([]snap, 0, len(m.series))
	var stale []key
	for k, s := range m.series {
		s.mu.Lock()
		if s.lastSeen < cutoff {
			stale = append(stale, k)
		} else {
			snaps = append(snaps, snap{k: k, calls: s.calls, latency: s.latency.Clone()})
		}
		s.mu.Unlock()
	}
	m.mu.RUnlock()
	if len(stale) > 0 {
		m.mu.Lock()
		for _, k := range stale {
			// An Observe may have revived it since the snapshot.
			s := m.series[k]
			if s == nil {
				continue
			}
			s.mu.Lock()
			revived := s.lastSeen >= cutoff
			s.mu.Unlock()
			if !revived {
				delete(m.series, k)
			}
		}
		m.mu.Unlock()
	}

	// Metrics are built and sent without locks: the channel may block on a
	// slow gatherer.
	for i := range snaps {
		sn := &snaps[i]
		lv := []string{sn.k.service, sn.k.name, kindNames[sn.k.kind], statusNames[sn.k.status]}
		ch <- prometheus.MustNewConstMetric(m.callsDesc, prometheus.CounterValue, float64(sn.calls), lv...)
		ch <- tracehist.Metric{D: m.latencyDesc, Labels: prometheus.MakeLabelPairs(m.latencyDesc, lv), H: sn.latency.DTO(m.o.Buckets)}
	}
	ch <- prometheus.MustNewConstMetric(m.droppedDesc, prometheus.CounterValue, float64(m.dropped.Load()))
}

var (
	_ prometheus.Collector = (*Metrics)(nil)
	_ prometheus.Metric    = tracehist.Metric{}
)
