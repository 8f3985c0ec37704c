package gather

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/labels"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vigilhq/vigil/storage/metricstore"
)

// exemplars returns the stored exemplars by series, each as its trace_id
// label and time.
func exemplars(t *testing.T, store *metricstore.Store, ms ...*labels.Matcher) map[string][]point {
	t.Helper()
	eq, err := store.ExemplarQuerier(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	res, err := eq.Select(math.MinInt64, math.MaxInt64, ms)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]point{}
	for _, r := range res {
		for _, e := range r.Exemplars {
			out[r.SeriesLabels.String()+" "+e.Labels.String()] = append(out[r.SeriesLabels.String()+" "+e.Labels.String()], point{e.Ts, e.Value})
		}
	}
	return out
}

func dtoExemplar(trace string, v float64, ts time.Time) *dto.Exemplar {
	e := &dto.Exemplar{Label: []*dto.LabelPair{{Name: new("trace_id"), Value: new(trace)}}, Value: new(v)}
	if !ts.IsZero() {
		e.Timestamp = timestamppb.New(ts)
	}
	return e
}

// A histogram's bucket exemplars land on their _bucket series, a
// counter's on the counter, as a scrape would store them; an exemplar
// the TSDB refuses (older than the series' last) does not cost the sample.
func TestGatherStoresExemplars(t *testing.T) {
	store, err := metricstore.Open(metricstore.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	now := time.UnixMilli(1_700_000_000_000)
	slowAt := now.Add(-2 * time.Second)
	var families []*dto.MetricFamily
	gatherer := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return families, nil })
	round := func(fastAt time.Time) {
		families = []*dto.MetricFamily{
			{
				Name: new("lat_seconds"), Type: dto.MetricType_HISTOGRAM.Enum(),
				Metric: []*dto.Metric{{
					Label: []*dto.LabelPair{{Name: new("service"), Value: new("api")}},
					Histogram: &dto.Histogram{SampleCount: new(uint64(3)), SampleSum: new(12.5), Bucket: []*dto.Bucket{
						{UpperBound: new(0.5), CumulativeCount: new(uint64(1)), Exemplar: dtoExemplar("aa", 0.25, fastAt)},
						{UpperBound: new(1.0), CumulativeCount: new(uint64(1))},
						{UpperBound: new(math.Inf(1)), CumulativeCount: new(uint64(3)), Exemplar: dtoExemplar("bb", 10, slowAt)},
					}},
				}},
			},
			{
				Name: new("calls_total"), Type: dto.MetricType_COUNTER.Enum(),
				Metric: []*dto.Metric{{Counter: &dto.Counter{Value: new(3.0), Exemplar: dtoExemplar("cc", 1, time.Time{})}}},
			},
		}
	}
	g := New(Options{Gatherer: gatherer, Appendable: store, Labels: labels.FromStrings("job", "vigil"), Now: func() time.Time { return now }})
	round(now.Add(-time.Second))
	if err := g.GatherOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := exemplars(t, store, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	for k, want := range map[string]point{
		`{__name__="lat_seconds_bucket", job="vigil", le="0.5", service="api"} {trace_id="aa"}`:  {now.Add(-time.Second).UnixMilli(), 0.25},
		`{__name__="lat_seconds_bucket", job="vigil", le="+Inf", service="api"} {trace_id="bb"}`: {slowAt.UnixMilli(), 10},
		// No timestamp in the exposition: the round's time, as a scrape does.
		`{__name__="calls_total", job="vigil"} {trace_id="cc"}`: {now.UnixMilli(), 1},
	} {
		if p := got[k]; len(p) != 1 || p[0] != want {
			t.Errorf("%s = %v, want [%v]", k, p, want)
		}
	}
	if len(got) != 3 {
		t.Errorf("got %d exemplars, want 3: %v", len(got), got)
	}

	// Next round: the le=0.5 exemplar is older than the stored one, which
	// the TSDB refuses; the bucket sample must be stored anyway and the
	// round report no error.
	now = now.Add(15 * time.Second)
	round(now.Add(-time.Hour))
	if err := g.GatherOnce(context.Background()); err != nil {
		t.Errorf("round with a refused exemplar: %v", err)
	}
	le := `{__name__="lat_seconds_bucket", job="vigil", le="0.5", service="api"}`
	if p := read(t, store, labels.MustNewMatcher(labels.MatchEqual, "le", "0.5"))[le]; len(p) != 2 || p[1] != (point{now.UnixMilli(), 1}) {
		t.Errorf("%s samples = %v, want a second sample at %d", le, p, now.UnixMilli())
	}
	// Re-sent exemplars are duplicates, stored once.
	if p := exemplars(t, store, labels.MustNewMatcher(labels.MatchEqual, "le", "+Inf"))[`{__name__="lat_seconds_bucket", job="vigil", le="+Inf", service="api"} {trace_id="bb"}`]; len(p) != 1 {
		t.Errorf("+Inf exemplars = %v, want the one, not repeated", p)
	}
}
