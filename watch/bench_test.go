package watch

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"

	"github.com/vigilhq/vigil/anomaly"
)

type discard struct{}

func (discard) Appender(context.Context) storage.Appender { return discardApp{} }

type discardApp struct{ storage.Appender }

func (discardApp) Append(storage.SeriesRef, labels.Labels, int64, float64) (storage.SeriesRef, error) {
	return 0, nil
}
func (discardApp) Commit() error   { return nil }
func (discardApp) Rollback() error { return nil }

// BenchmarkEvaluate1000Series is one rule evaluation of 1000 daily-seasonal
// series a minute apart: the CPU a rule costs per series and minute, and
// the memory each watched series keeps.
func BenchmarkEvaluate1000Series(b *testing.B) {
	const n = 1000
	vec := make(promql.Vector, n)
	for i := range vec {
		vec[i].Metric = labels.FromStrings("__name__", "requests", "job", "api", "instance", "host-"+strconv.Itoa(i))
	}
	// The result is refilled in place: the Watcher keeps none of it, and
	// allocating it here would be charged to the Watcher.
	query := func(_ context.Context, _ string, ts time.Time) (promql.Vector, error) {
		h := float64(ts.UTC().Hour()) + float64(ts.UTC().Minute())/60
		for i := range vec {
			vec[i].F = 100 + float64(i%50) + 20*math.Sin(2*math.Pi*h/24) + float64((i*7+ts.Minute())%5)
		}
		return vec, nil
	}
	file := filepath.Join(b.TempDir(), "rules.yml")
	if err := os.WriteFile(file, []byte(ruleFile()), 0o644); err != nil {
		b.Fatal(err)
	}
	w := New(Options{Appendable: discard{}, Query: query, MaxSeriesPerRule: n})
	if _, errs := w.Load(file, false, model.UTF8Validation); len(errs) > 0 {
		b.Fatal(errs)
	}
	g := rules.NewGroup(rules.GroupOptions{Name: "g", File: file, Interval: time.Minute, Opts: &rules.ManagerOptions{}})
	eval := w.Evaluate(func(context.Context, *rules.Group, time.Time) {})
	ctx := context.Background()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ts := t0
	eval(ctx, g, ts)
	runtime.GC()
	runtime.ReadMemStats(&after)
	if st := w.Status()[0]; len(st.Series) != n {
		b.Fatalf("%d series watched, want %d", len(st.Series), n)
	}
	heap := (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / n

	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		ts = ts.Add(time.Minute)
		eval(ctx, g, ts)
	}
	b.StopTimer()
	// The evaluation runs on one goroutine, so its wall time stands for
	// its CPU time (getrusage would also count the GC's other threads,
	// and is not portable).
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/n, "us/series")
	b.ReportMetric(float64(anomaly.StateSize), "stateB/series")
	b.ReportMetric(heap, "heapB/series")
	b.ReportMetric(heap-float64(anomaly.StateSize), "overheadB/series")
	runtime.KeepAlive(w)
}
