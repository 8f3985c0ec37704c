package sampling

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type decision int

const (
	keptError decision = iota
	keptLatency
	keptProbabilistic
	dropped
	numDecisions
)

var decisionNames = [numDecisions]string{"error", "latency", "probabilistic", "dropped"}

type forcedReason int

const (
	forcedBufferFull forcedReason = iota
	forcedTooLarge
	forcedShutdown
	numForced
	notForced forcedReason = -1
)

var forcedNames = [numForced]string{"buffer_full", "trace_too_large", "shutdown"}

const (
	keptSpans = iota
	droppedSpans
)

type lostReason int

const (
	lostWriteError lostReason = iota
	lostBacklogFull
	lostStopped
	numLost
)

var lostNames = [numLost]string{"write_error", "backlog_full", "stopped"}

// counts gathers what one Offer or flush did under the lock, so the
// counters are touched once per call rather than once per span.
type counts struct {
	traces [numDecisions]int
	forced [numForced]int
	spans  [2]int
	lost   [numLost]int
	late   [2]int // kept, dropped
}

type metrics struct {
	traces         [numDecisions]prometheus.Counter
	forced         [numForced]prometheus.Counter
	spans          [2]prometheus.Counter
	late           [2]prometheus.Counter
	lost           [numLost]prometheus.Counter
	writeErrors    prometheus.Counter
	bufferedTraces prometheus.Gauge
	bufferedSpans  prometheus.Gauge
	backlogSpans   prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	tracesVec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_tail_sampling_traces_total",
		Help: "Traces decided by the tail sampler, by the rule that kept them, or dropped.",
	}, []string{"decision"})
	forcedVec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_tail_sampling_forced_decisions_total",
		Help: "Traces decided before their decision wait ended, by reason.",
	}, []string{"reason"})
	spansVec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_tail_sampling_spans_total",
		Help: "Spans kept or dropped by the tail sampler, late spans included.",
	}, []string{"decision"})
	lateVec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_tail_sampling_late_spans_total",
		Help: "Spans that arrived after their trace was decided; many suggest a longer decision wait.",
	}, []string{"decision"})
	lostVec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_tail_sampling_lost_spans_total",
		Help: "Kept or offered spans that were never stored, by reason.",
	}, []string{"reason"})
	m := &metrics{
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_tail_sampling_write_errors_total",
			Help: "Failed writes of kept spans to the span store.",
		}),
		bufferedTraces: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_tail_sampling_buffered_traces",
			Help: "Traces waiting for a tail sampling decision.",
		}),
		bufferedSpans: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_tail_sampling_buffered_spans",
			Help: "Spans waiting for a tail sampling decision.",
		}),
		backlogSpans: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_tail_sampling_backlog_spans",
			Help: "Kept spans waiting to be written to the span store.",
		}),
	}
	// Resolving every label value up front makes all series visible from
	// the start (a rate over a missing series is no rate) and keeps label
	// lookups off the Offer path.
	for i, name := range decisionNames {
		m.traces[i] = tracesVec.WithLabelValues(name)
	}
	for i, name := range forcedNames {
		m.forced[i] = forcedVec.WithLabelValues(name)
	}
	for i, name := range []string{"kept", "dropped"} {
		m.spans[i] = spansVec.WithLabelValues(name)
		m.late[i] = lateVec.WithLabelValues(name)
	}
	for i, name := range lostNames {
		m.lost[i] = lostVec.WithLabelValues(name)
	}
	if reg != nil {
		var errs []error
		for _, c := range []prometheus.Collector{tracesVec, forcedVec, spansVec, lateVec, lostVec, m.writeErrors, m.bufferedTraces, m.bufferedSpans, m.backlogSpans} {
			errs = append(errs, reg.Register(c))
		}
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("cannot register tail sampling metrics (is a second sampler sharing the registry?): %w", err)
		}
	}
	return m, nil
}

func (m *metrics) add(c *counts) {
	addInts(m.traces[:], c.traces[:])
	addInts(m.forced[:], c.forced[:])
	addInts(m.spans[:], c.spans[:])
	addInts(m.lost[:], c.lost[:])
	addInts(m.late[:], c.late[:])
}

func addInts(cs []prometheus.Counter, n []int) {
	for i, v := range n {
		if v != 0 {
			cs[i].Add(float64(v))
		}
	}
}
