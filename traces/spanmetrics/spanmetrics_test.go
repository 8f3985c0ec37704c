package spanmetrics

import (
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/vigilhq/vigil/storage/spans"
)

var t0 = time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)

// span builds a span; d is its duration.
func span(service, name, kind, status string, d time.Duration, traceByte byte) spans.Span {
	var tid [16]byte
	for i := range tid {
		tid[i] = traceByte
	}
	return spans.Span{TraceID: tid, Service: service, Name: name, Kind: kind, StatusCode: status, Start: t0, DurationNanos: int64(d)}
}

// gather runs m through a registry, which also checks that what Collect
// produces is consistent with Describe (names, label order, types), and
// returns the metrics by "name{label values}".
func gather(t *testing.T, c prometheus.Collector) map[string]*dto.Metric {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.Metric{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var lv []string
			for _, l := range m.GetLabel() {
				lv = append(lv, l.GetName()+"="+l.GetValue())
			}
			out[mf.GetName()+"{"+strings.Join(lv, ",")+"}"] = m
		}
	}
	return out
}

func id(service, name, kind, status string) string {
	return fmt.Sprintf("{service=%s,span_kind=%s,span_name=%s,status_code=%s}", service, kind, name, status)
}

func keys(m map[string]*dto.Metric) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestCallsAndLabels(t *testing.T) {
	m := New(Options{})
	m.Observe([]spans.Span{
		span("api", "GET /", "server", "unset", time.Millisecond, 1),
		span("api", "GET /", "server", "unset", time.Millisecond, 2),
		span("api", "GET /", "server", "error", time.Millisecond, 3),
		span("api", "SELECT", "client", "ok", time.Millisecond, 4),
	})
	// A second batch adds to the same series.
	m.Observe([]spans.Span{
		span("worker", "job", "consumer", "unset", time.Millisecond, 5),
		span("worker", "send", "producer", "unset", time.Millisecond, 5),
		span("worker", "step", "internal", "unset", time.Millisecond, 5),
		span("worker", "odd", "", "weird", time.Millisecond, 5),
		span("api", "GET /", "server", "unset", time.Millisecond, 6),
	})
	got := gather(t, m)
	for _, c := range []struct {
		series string
		want   float64
	}{
		{id("api", "GET /", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET"), 3},
		{id("api", "GET /", "SPAN_KIND_SERVER", "STATUS_CODE_ERROR"), 1},
		{id("api", "SELECT", "SPAN_KIND_CLIENT", "STATUS_CODE_OK"), 1},
		{id("worker", "job", "SPAN_KIND_CONSUMER", "STATUS_CODE_UNSET"), 1},
		{id("worker", "send", "SPAN_KIND_PRODUCER", "STATUS_CODE_UNSET"), 1},
		{id("worker", "step", "SPAN_KIND_INTERNAL", "STATUS_CODE_UNSET"), 1},
		{id("worker", "odd", "SPAN_KIND_UNSPECIFIED", "STATUS_CODE_UNSET"), 1},
	} {
		calls, ok := got["traces_spanmetrics_calls_total"+c.series]
		if !ok {
			t.Errorf("no calls series %s; have %v", c.series, keys(got))
			continue
		}
		if v := calls.GetCounter().GetValue(); v != c.want {
			t.Errorf("calls%s = %v, want %v", c.series, v, c.want)
		}
		lat := got["traces_spanmetrics_latency"+c.series].GetHistogram()
		if lat.GetSampleCount() != uint64(c.want) {
			t.Errorf("latency%s count = %d, want %v", c.series, lat.GetSampleCount(), c.want)
		}
		if math.Abs(lat.GetSampleSum()-c.want*0.001) > 1e-12 {
			t.Errorf("latency%s sum = %v, want %v", c.series, lat.GetSampleSum(), c.want*0.001)
		}
	}
	// 7 label sets, each a counter and a tracehist.Histogram, plus the drop counter.
	if len(got) != 15 {
		t.Errorf("got %d series, want 15: %v", len(got), keys(got))
	}
	if v := got["vigil_spanmetrics_dropped_spans_total{}"].GetCounter().GetValue(); v != 0 {
		t.Errorf("dropped = %v, want 0", v)
	}
}

// cumulative returns the tracehist.Histogram's cumulative count per upper bound.
func cumulative(h *dto.Histogram) map[float64]uint64 {
	out := map[float64]uint64{}
	for _, b := range h.GetBucket() {
		out[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	return out
}

func TestBucketPlacement(t *testing.T) {
	inf := math.Inf(1)
	for _, c := range []struct {
		d time.Duration
		// le is the smallest bucket that must count the span.
		le float64
	}{
		{0, 0.002},
		{-time.Second, 0.002}, // clock skew: counted as zero
		{2 * time.Millisecond, 0.002},
		{2*time.Millisecond + 1, 0.004},
		{100 * time.Millisecond, 0.128},
		{16384 * time.Millisecond, 16.384},
		{20 * time.Second, inf},
	} {
		t.Run(c.d.String(), func(t *testing.T) {
			m := New(Options{})
			m.Observe([]spans.Span{span("s", "op", "server", "ok", c.d, 9)})
			h := gather(t, m)["traces_spanmetrics_latency"+id("s", "op", "SPAN_KIND_SERVER", "STATUS_CODE_OK")].GetHistogram()
			if len(h.GetBucket()) != len(DefaultBuckets)+1 {
				t.Fatalf("%d buckets, want %d and +Inf", len(h.GetBucket()), len(DefaultBuckets))
			}
			for le, n := range cumulative(h) {
				want := uint64(0)
				if le >= c.le {
					want = 1
				}
				if n != want {
					t.Errorf("bucket le=%v = %d, want %d", le, n, want)
				}
			}
		})
	}
}

func TestCustomBuckets(t *testing.T) {
	m := New(Options{Buckets: []float64{0.5, 1}})
	m.Observe([]spans.Span{
		span("s", "op", "server", "ok", 300*time.Millisecond, 1),
		span("s", "op", "server", "ok", 700*time.Millisecond, 1),
		span("s", "op", "server", "ok", 3*time.Second, 1),
	})
	h := gather(t, m)["traces_spanmetrics_latency"+id("s", "op", "SPAN_KIND_SERVER", "STATUS_CODE_OK")].GetHistogram()
	got := cumulative(h)
	want := map[float64]uint64{0.5: 1, 1: 2, math.Inf(1): 3}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("buckets = %v, want %v", got, want)
	}
}

func TestExemplars(t *testing.T) {
	m := New(Options{})
	fast1 := span("s", "op", "server", "ok", time.Millisecond, 0xa1)
	fast2 := span("s", "op", "server", "ok", 1500*time.Microsecond, 0xa2)
	fast2.Start = t0.Add(time.Second)
	slow := span("s", "op", "server", "ok", time.Minute, 0xb1)
	m.Observe([]spans.Span{fast1, slow})
	m.Observe([]spans.Span{fast2})
	h := gather(t, m)["traces_spanmetrics_latency"+id("s", "op", "SPAN_KIND_SERVER", "STATUS_CODE_OK")].GetHistogram()
	want := map[float64]spans.Span{0.002: fast2, math.Inf(1): slow}
	for _, b := range h.GetBucket() {
		e := b.GetExemplar()
		w, ok := want[b.GetUpperBound()]
		if !ok {
			if e != nil {
				t.Errorf("bucket le=%v has exemplar %v, want none", b.GetUpperBound(), e)
			}
			continue
		}
		if e == nil {
			t.Errorf("bucket le=%v has no exemplar", b.GetUpperBound())
			continue
		}
		if len(e.GetLabel()) != 1 || e.GetLabel()[0].GetName() != "trace_id" || e.GetLabel()[0].GetValue() != hex.EncodeToString(w.TraceID[:]) {
			t.Errorf("bucket le=%v exemplar labels = %v, want trace_id=%x", b.GetUpperBound(), e.GetLabel(), w.TraceID)
		}
		if len(e.GetLabel()[0].GetValue()) != 32 {
			t.Errorf("trace_id %q is not 32 hex digits", e.GetLabel()[0].GetValue())
		}
		if !e.GetTimestamp().AsTime().Equal(w.End()) {
			t.Errorf("bucket le=%v exemplar time = %v, want the span's end %v", b.GetUpperBound(), e.GetTimestamp().AsTime(), w.End())
		}
		if e.GetValue() != float64(w.DurationNanos)/1e9 {
			t.Errorf("bucket le=%v exemplar value = %v, want %v", b.GetUpperBound(), e.GetValue(), float64(w.DurationNanos)/1e9)
		}
	}
}

func TestMaxSeries(t *testing.T) {
	m := New(Options{MaxSeries: 2})
	m.Observe([]spans.Span{
		span("a", "op", "server", "ok", time.Millisecond, 1),
		span("b", "op", "server", "ok", time.Millisecond, 1),
		span("c", "op", "server", "ok", time.Millisecond, 1), // third label set: dropped
		span("c", "op", "server", "ok", time.Millisecond, 1),
		span("a", "op", "server", "ok", time.Millisecond, 1), // existing: still counted
	})
	got := gather(t, m)
	if v := got["vigil_spanmetrics_dropped_spans_total{}"].GetCounter().GetValue(); v != 2 {
		t.Errorf("dropped = %v, want 2", v)
	}
	if v := got["traces_spanmetrics_calls_total"+id("a", "op", "SPAN_KIND_SERVER", "STATUS_CODE_OK")].GetCounter().GetValue(); v != 2 {
		t.Errorf("calls for a = %v, want 2", v)
	}
	if _, ok := got["traces_spanmetrics_calls_total"+id("c", "op", "SPAN_KIND_SERVER", "STATUS_CODE_OK")]; ok {
		t.Errorf("series for c exists beyond MaxSeries")
	}
	if n := testutil.CollectAndCount(m, "traces_spanmetrics_calls_total"); n != 2 {
		t.Errorf("%d calls series, want 2", n)
	}
}

func TestStaleSeriesExpire(t *testing.T) {
	now := t0
	m := New(Options{MaxSeries: 1, StaleAfter: time.Minute, Now: func() time.Time { return now }})
	m.Observe([]spans.Span{span("old", "op", "server", "ok", time.Millisecond, 1)})
	now = now.Add(30 * time.Second)
	if n := testutil.CollectAndCount(m, "traces_spanmetrics_calls_total"); n != 1 {
		t.Fatalf("%d series before StaleAfter, want 1", n)
	}
	// While the old series holds the only slot, a new one is dropped.
	m.Observe([]spans.Span{span("new", "op", "server", "ok", time.Millisecond, 1)})
	now = now.Add(time.Minute)
	// This Collect finds "old" stale and frees its slot.
	if n := testutil.CollectAndCount(m, "traces_spanmetrics_calls_total"); n != 0 {
		t.Fatalf("%d series after StaleAfter, want 0", n)
	}
	m.Observe([]spans.Span{span("new", "op", "server", "ok", time.Millisecond, 1)})
	got := gather(t, m)
	if v := got["traces_spanmetrics_calls_total"+id("new", "op", "SPAN_KIND_SERVER", "STATUS_CODE_OK")].GetCounter().GetValue(); v != 1 {
		t.Errorf("calls for new = %v, want 1; have %v", v, keys(got))
	}
	if v := got["vigil_spanmetrics_dropped_spans_total{}"].GetCounter().GetValue(); v != 1 {
		t.Errorf("dropped = %v, want 1", v)
	}
}

// Observe from many goroutines while a gatherer collects: run with -race.
// The final counts must account for every span.
func TestConcurrentObserveCollect(t *testing.T) {
	m := New(Options{MaxSeries: 50})
	const workers, rounds = 8, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			batch := make([]spans.Span, 10)
			for r := range rounds {
				for i := range batch {
					// 100 label sets for 50 slots: some spans are dropped.
					batch[i] = span(fmt.Sprintf("svc%d", (w+r+i)%10), fmt.Sprintf("op%d", i), "server", "ok", time.Duration(i)*time.Millisecond, byte(r))
				}
				m.Observe(batch)
			}
		})
	}
	stop := make(chan struct{})
	collected := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				collected <- n
				return
			default:
				testutil.CollectAndCount(m)
				n++
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-collected

	var total float64
	got := gather(t, m)
	for k, v := range got {
		if strings.HasPrefix(k, "traces_spanmetrics_calls_total") {
			total += v.GetCounter().GetValue()
		}
	}
	dropped := got["vigil_spanmetrics_dropped_spans_total{}"].GetCounter().GetValue()
	if total+dropped != workers*rounds*10 {
		t.Errorf("calls %v + dropped %v = %v, want %d", total, dropped, total+dropped, workers*rounds*10)
	}
	if dropped == 0 {
		t.Errorf("no spans dropped with 100 label sets for 50 series")
	}
}

// BenchmarkObserve measures the per-span cost on existing series, the
// steady state: report ns/op per batch of 100 spans.
func BenchmarkObserve(b *testing.B) {
	m := New(Options{})
	batch := make([]spans.Span, 100)
	for i := range batch {
		batch[i] = span(fmt.Sprintf("svc%d", i%10), fmt.Sprintf("op%d", i%7), "server", "ok", time.Duration(i)*time.Millisecond, byte(i))
	}
	m.Observe(batch)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		m.Observe(batch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/span")
}

func BenchmarkObserveParallel(b *testing.B) {
	m := New(Options{})
	batch := make([]spans.Span, 100)
	for i := range batch {
		batch[i] = span(fmt.Sprintf("svc%d", i%10), fmt.Sprintf("op%d", i%7), "server", "ok", time.Duration(i)*time.Millisecond, byte(i))
	}
	m.Observe(batch)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Observe(batch)
		}
	})
}
