package gather

import (
	"slices"
	"strconv"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
)

// exemplarsOf returns the exemplars m carries for the series ls of a
// family of type typ, as a Prometheus scrape of the same protobuf
// exposition stores them: a counter's exemplar on the counter, a classic
// bucket's on its _bucket{le} series, a native histogram's on the
// histogram. Exemplars without a timestamp get ts, the round's time. The
// result is sorted by time, as AppenderV2 requires, and nil when there
// are none (the common case costs no allocation).
func exemplarsOf(typ dto.MetricType, m *dto.Metric, ls labels.Labels, ts int64) []exemplar.Exemplar {
	if m == nil {
		return nil
	}
	switch typ {
	case dto.MetricType_COUNTER:
		if e := m.GetCounter().GetExemplar(); e != nil {
			return []exemplar.Exemplar{convertExemplar(e, ts)}
		}
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		h := m.GetHistogram()
		if len(h.GetExemplars()) > 0 && ls.Get(model.BucketLabel) == "" {
			// A native histogram: family stores it as one series.
			out := make([]exemplar.Exemplar, 0, len(h.GetExemplars()))
			for _, e := range h.GetExemplars() {
				out = append(out, convertExemplar(e, ts))
			}
			slices.SortFunc(out, exemplar.Compare)
			return out
		}
		le := ls.Get(model.BucketLabel)
		if le == "" {
			return nil
		}
		var bound float64
		parsed := false
		for _, b := range h.GetBucket() {
			if b.GetExemplar() == nil {
				continue
			}
			if !parsed {
				// le is the OpenMetrics form of a bucket's upper bound
				// ("1.0", "+Inf"), which parses back to the same float.
				v, err := strconv.ParseFloat(le, 64)
				if err != nil {
					return nil
				}
				bound, parsed = v, true
			}
			if b.GetUpperBound() == bound {
				return []exemplar.Exemplar{convertExemplar(b.GetExemplar(), ts)}
			}
		}
	}
	return nil
}

func convertExemplar(e *dto.Exemplar, ts int64) exemplar.Exemplar {
	b := labels.NewScratchBuilder(len(e.GetLabel()))
	for _, l := range e.GetLabel() {
		b.Add(l.GetName(), l.GetValue())
	}
	b.Sort()
	out := exemplar.Exemplar{Labels: b.Labels(), Value: e.GetValue(), Ts: ts}
	if e.GetTimestamp() != nil {
		out.Ts, out.HasTs = e.GetTimestamp().AsTime().UnixMilli(), true
	}
	return out
}
