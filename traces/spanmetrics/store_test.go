package spanmetrics

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	gatherer "github.com/vigilhq/vigil/ingest/gather"
	"github.com/vigilhq/vigil/storage/metricstore"
	"github.com/vigilhq/vigil/storage/spans"
)

// The path the server wires: spans in, a gatherer stores the series and
// the bucket exemplars that Grafana links to traces.
func TestStoredThroughGatherer(t *testing.T) {
	store, err := metricstore.Open(metricstore.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	m := New(Options{})
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	sp := span("api", "GET /", "server", "error", 3*time.Millisecond, 0xab)
	m.Observe([]spans.Span{sp})

	now := t0.Add(time.Minute)
	g := gatherer.New(gatherer.Options{Gatherer: reg, Appendable: store, Labels: labels.FromStrings("job", "vigil"), Now: func() time.Time { return now }})
	if err := g.GatherOnce(context.Background()); err != nil {
		t.Fatal(err)
	}

	q, err := store.Querier(math.MinInt64, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ss := q.Select(context.Background(), false, nil,
		labels.MustNewMatcher(labels.MatchEqual, "__name__", "traces_spanmetrics_calls_total"),
		labels.MustNewMatcher(labels.MatchEqual, "status_code", "STATUS_CODE_ERROR"),
		labels.MustNewMatcher(labels.MatchEqual, "span_kind", "SPAN_KIND_SERVER"))
	n := 0
	for ss.Next() {
		it := ss.At().Iterator(nil)
		for it.Next() == chunkenc.ValFloat {
			if _, v := it.At(); v != 1 {
				t.Errorf("calls = %v, want 1", v)
			}
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d calls samples, want 1", n)
	}

	eq, err := store.ExemplarQuerier(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	res, err := eq.Select(math.MinInt64, math.MaxInt64, []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "__name__", "traces_spanmetrics_latency_bucket")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].SeriesLabels.Get("le") != "0.004" || len(res[0].Exemplars) != 1 {
		t.Fatalf("exemplars = %+v, want one on le=0.004", res)
	}
	e := res[0].Exemplars[0]
	if e.Labels.Get("trace_id") != spans.TraceIDString(sp.TraceID) || e.Ts != sp.End().UnixMilli() || e.Value != 0.003 {
		t.Errorf("exemplar = %+v, want trace_id %s at %d value 0.003", e, spans.TraceIDString(sp.TraceID), sp.End().UnixMilli())
	}
}
