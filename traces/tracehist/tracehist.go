// Package tracehist is the latency histogram of the derived trace metrics
// (traces/spanmetrics, traces/servicegraph): classic buckets, each with
// the latest span that fell in it as a trace_id exemplar.
package tracehist

import (
	"encoding/hex"
	"math"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Histogram is a classic histogram with the most recent exemplar of each
// bucket. It is not safe for concurrent use; its owner locks.
//
// client_golang's HistogramVec is not used because it keeps one exemplar
// only when asked per observation with a freshly allocated label map, and
// its series cannot be bounded or expired without a second index; a plain
// struct under the series' own lock costs nothing per span.
type Histogram struct {
	counts []uint64   // per bucket, not cumulative; the last is +Inf
	ex     []exemplar // the latest exemplar that fell in each bucket
	sum    float64
	count  uint64
}

type exemplar struct {
	traceID [16]byte
	value   float64
	ts      time.Time
}

// New returns an empty histogram for bounds (ascending upper bounds).
func New(bounds []float64) Histogram {
	return Histogram{counts: make([]uint64, len(bounds)+1), ex: make([]exemplar, len(bounds)+1)}
}

// Observe records v (seconds). bounds are the upper bounds, ascending.
func (h *Histogram) Observe(bounds []float64, v float64, traceID [16]byte, ts time.Time) {
	// The first bound >= v is the bucket, as Prometheus's le is inclusive.
	i := sort.SearchFloat64s(bounds, v)
	h.counts[i]++
	h.count++
	h.sum += v
	h.ex[i] = exemplar{traceID: traceID, value: v, ts: ts}
}

// Clone copies h so it can be written out after the owner's lock is
// released.
func (h *Histogram) Clone() Histogram {
	return Histogram{
		counts: append([]uint64(nil), h.counts...),
		ex:     append([]exemplar(nil), h.ex...),
		sum:    h.sum,
		count:  h.count,
	}
}

// DTO renders h as the protobuf form with cumulative buckets, including an
// explicit +Inf bucket so the exemplars of the slowest spans are kept too.
func (h *Histogram) DTO(bounds []float64) *dto.Histogram {
	out := &dto.Histogram{SampleCount: &h.count, SampleSum: &h.sum, Bucket: make([]*dto.Bucket, 0, len(h.counts))}
	var cum uint64
	for i, c := range h.counts {
		cum += c
		ub := math.Inf(1)
		if i < len(bounds) {
			ub = bounds[i]
		}
		b := &dto.Bucket{CumulativeCount: new(cum), UpperBound: new(ub)}
		if e := h.ex[i]; !e.ts.IsZero() {
			b.Exemplar = &dto.Exemplar{
				Label:     []*dto.LabelPair{{Name: new("trace_id"), Value: new(hex.EncodeToString(e.traceID[:]))}},
				Value:     new(e.value),
				Timestamp: timestamppb.New(e.ts),
			}
		}
		out.Bucket = append(out.Bucket, b)
	}
	return out
}

// Metric is a prometheus.Metric for a histogram snapshot.
// client_golang's NewConstHistogram plus NewMetricWithExemplars would do
// the same with a map allocation per series and a second search for each
// exemplar's bucket.
type Metric struct {
	D      *prometheus.Desc
	Labels []*dto.LabelPair
	H      *dto.Histogram
}

func (m Metric) Desc() *prometheus.Desc { return m.D }

func (m Metric) Write(out *dto.Metric) error {
	out.Label = m.Labels
	out.Histogram = m.H
	return nil
}

// Count is the number of observations.
func (h *Histogram) Count() uint64 { return h.count }
