package gather

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"go.uber.org/goleak"

	"github.com/vigilhq/vigil/storage/metricstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type point struct {
	t int64
	v float64
}

// read returns every float sample of the series matching the matchers,
// keyed by their label set.
func read(t *testing.T, store *metricstore.Store, ms ...*labels.Matcher) map[string][]point {
	t.Helper()
	q, err := store.Querier(math.MinInt64, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	out := map[string][]point{}
	ss := q.Select(context.Background(), true, nil, ms...)
	for ss.Next() {
		s := ss.At()
		it := s.Iterator(nil)
		for it.Next() == chunkenc.ValFloat {
			ts, v := it.At()
			out[s.Labels().String()] = append(out[s.Labels().String()], point{ts, v})
		}
	}
	if err := ss.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGatherStoresWithTargetLabels(t *testing.T) {
	store, err := metricstore.Open(metricstore.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	reg := prometheus.NewRegistry()
	reqs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reqs_total", Help: "Requests."}, []string{"code", "job"})
	reg.MustRegister(reqs)
	reqs.WithLabelValues("200", "inner").Add(3)
	reqs.WithLabelValues("500", "inner").Add(1)

	now := time.UnixMilli(1_700_000_000_000)
	g := New(Options{
		Gatherer:   reg,
		Appendable: store,
		Labels:     labels.FromStrings("job", "vigil", "instance", "host-a"),
		Now:        func() time.Time { return now },
	})
	if err := g.GatherOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := read(t, store, labels.MustNewMatcher(labels.MatchEqual, "__name__", "reqs_total"))
	ok := `{__name__="reqs_total", code="200", exported_job="inner", instance="host-a", job="vigil"}`
	if p := got[ok]; len(p) != 1 || p[0] != (point{now.UnixMilli(), 3}) {
		t.Errorf("%s = %v, want one sample 3 at %d; all: %v", ok, p, now.UnixMilli(), got)
	}
	if md := store.Metadata("reqs_total", 0); len(md["reqs_total"]) == 0 || md["reqs_total"][0].Help != "Requests." {
		t.Errorf("metadata = %+v, want the help text recorded", md)
	}

	// A series that disappears gets a staleness marker in the next round.
	reqs.DeleteLabelValues("500", "inner")
	now = now.Add(15 * time.Second)
	if err := g.GatherOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	got = read(t, store, labels.MustNewMatcher(labels.MatchEqual, "code", "500"))
	if len(got) != 1 {
		t.Fatalf("series for code=500: %v", got)
	}
	for _, p := range got {
		if len(p) != 2 || !value.IsStaleNaN(p[1].v) || p[1].t != now.UnixMilli() {
			t.Errorf("code=500 samples = %v, want a staleness marker at %d", p, now.UnixMilli())
		}
	}
	if p := read(t, store, labels.MustNewMatcher(labels.MatchEqual, "code", "200"))[ok]; len(p) != 2 || p[1].v != 3 {
		t.Errorf("code=200 samples = %v, want a second sample", p)
	}
}

func TestRunMarksStaleOnExit(t *testing.T) {
	store, err := metricstore.Open(metricstore.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	reg := prometheus.NewRegistry()
	up := prometheus.NewGauge(prometheus.GaugeOpts{Name: "thing"})
	reg.MustRegister(up)
	up.Set(1)

	ctx, cancel := context.WithCancel(context.Background())
	g := New(Options{Gatherer: reg, Appendable: store, Interval: time.Hour, Labels: labels.FromStrings("job", "vigil")})
	done := make(chan error)
	go func() { done <- g.Run(ctx) }()
	// The first round happens at once; wait until it is visible.
	deadline := time.Now().Add(10 * time.Second)
	for len(read(t, store, labels.MustNewMatcher(labels.MatchEqual, "__name__", "thing"))) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("first round never stored")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for k, p := range read(t, store, labels.MustNewMatcher(labels.MatchEqual, "__name__", "thing")) {
		if len(p) != 2 || p[0].v != 1 || !value.IsStaleNaN(p[1].v) {
			t.Errorf("%s = %v, want 1 then a staleness marker", k, p)
		}
	}
}

// With ZeroNewCounters a new counter starts from a 0 just before its
// first sample, again after it went stale and came back, so increase()
// counts its first increments; gauges get no zero.
func TestZeroNewCounters(t *testing.T) {
	store, err := metricstore.Open(metricstore.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	reg := prometheus.NewRegistry()
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "errors_total", Help: "Errors."}, []string{"op"})
	depth := prometheus.NewGauge(prometheus.GaugeOpts{Name: "depth", Help: "Depth."})
	reg.MustRegister(errs, depth)
	errs.WithLabelValues("a").Inc()
	depth.Set(7)
	now := time.UnixMilli(1_700_000_000_000)
	g := New(Options{Gatherer: reg, Appendable: store, Now: func() time.Time { return now }, ZeroNewCounters: true})
	round := func() {
		t.Helper()
		if err := g.GatherOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	round()
	t0 := now.UnixMilli()
	now = now.Add(5 * time.Second)
	errs.DeleteLabelValues("a") // goes stale
	round()
	now = now.Add(5 * time.Second)
	errs.WithLabelValues("a").Inc() // reborn at 1
	round()
	t2 := now.UnixMilli()

	got := read(t, store, labels.MustNewMatcher(labels.MatchEqual, "__name__", "errors_total"))
	var pts []point
	for _, p := range got {
		pts = p
	}
	if len(pts) != 5 || pts[0] != (point{t0 - 1, 0}) || pts[1] != (point{t0, 1}) || !value.IsStaleNaN(pts[2].v) ||
		pts[3] != (point{t2 - 1, 0}) || pts[4] != (point{t2, 1}) {
		t.Fatalf("errors_total samples %v", pts)
	}
	if p := read(t, store, labels.MustNewMatcher(labels.MatchEqual, "__name__", "depth")); len(p) != 1 {
		t.Fatalf("depth: %v", p)
	} else {
		for _, pts := range p {
			if pts[0] != (point{t0, 7}) {
				t.Fatalf("depth samples %v", pts)
			}
		}
	}
}
