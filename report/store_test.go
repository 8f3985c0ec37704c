package report

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/tsdb"
	"go.uber.org/goleak"
)

// The synthetic store: one sample every step from dataStart to dataEnd.
// Rates below are per minute; a sample adds step's worth.
//
//   - checkout, entry spans: 70 requests a minute in total, always (59
//     server OK + 1 server error + 10 consumer), except in the outage
//     (2026-11-02 12:00-13:00) when the 59 fail too (0 OK + 60 errors).
//     Its client spans (1000/min, half failing) and the service billing
//     (all failing) must not be counted.
//   - checkout's latency histogram, on the server OK series, per minute
//     cumulative: le 0.1: 28, 0.25: 56, 0.5: 66, 1: 70, +Inf: 70. Its
//     client histogram has everything above 1s.
//   - nightly sends server spans (5/min) from 2026-11-02 00:00 only.
//   - legacy is a prometheus_client service: http_requests_total 99/min
//     code 200 and 1/min code 500, http_request_duration_seconds per
//     minute le 0.05: 50, 0.1: 90, 0.5: 100, +Inf: 100.
//
// Counters are linear except checkout's server series, so increase() is
// exact for them; the tests compute the others with increase()'s
// extrapolation written out (see extrapolated).
var (
	dataStart   = time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC)
	dataEnd     = time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC)
	outageStart = time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	outageEnd   = outageStart.Add(time.Hour)
	nightlyFrom = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
)

// step is the sample interval: coarse, to keep the race-enabled tests
// quick; the outage and the days are whole multiples of it.
const step = 5 * time.Minute

type synthSeries struct {
	labels labels.Labels
	from   time.Time
	// inc is the growth per minute in the step ending at t.
	inc func(t time.Time) float64
}

func inOutage(t time.Time) bool { return t.After(outageStart) && !t.After(outageEnd) }

func steady(n float64) func(time.Time) float64 { return func(time.Time) float64 { return n } }

func spanCall(service, name, kind, status string) labels.Labels {
	return labels.FromStrings("__name__", spanCalls, "service", service, "span_name", name, "span_kind", kind, "status_code", status)
}

func spanBucket(service, name, kind, status, le string) labels.Labels {
	return labels.FromStrings("__name__", spanLatencyBucket, "service", service, "span_name", name, "span_kind", kind, "status_code", status, "le", le)
}

func synthetic() []synthSeries {
	okOut := func(t time.Time) float64 {
		if inOutage(t) {
			return 0
		}
		return 59
	}
	errOut := func(t time.Time) float64 {
		if inOutage(t) {
			return 60
		}
		return 1
	}
	s := []synthSeries{
		{spanCall("checkout", "GET /cart", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET"), dataStart, okOut},
		{spanCall("checkout", "GET /cart", "SPAN_KIND_SERVER", "STATUS_CODE_ERROR"), dataStart, errOut},
		{spanCall("checkout", "order", "SPAN_KIND_CONSUMER", "STATUS_CODE_OK"), dataStart, steady(10)},
		{spanCall("checkout", "GET /stock", "SPAN_KIND_CLIENT", "STATUS_CODE_UNSET"), dataStart, steady(500)},
		{spanCall("checkout", "GET /stock", "SPAN_KIND_CLIENT", "STATUS_CODE_ERROR"), dataStart, steady(500)},
		{spanCall("billing", "POST /pay", "SPAN_KIND_SERVER", "STATUS_CODE_ERROR"), dataStart, steady(70)},
		{spanCall("nightly", "run", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET"), nightlyFrom, steady(5)},
		{labels.FromStrings("__name__", "http_requests_total", "job", "legacy", "code", "200"), dataStart, steady(99)},
		{labels.FromStrings("__name__", "http_requests_total", "job", "legacy", "code", "500"), dataStart, steady(1)},
	}
	for le, n := range map[string]float64{"0.1": 28, "0.25": 56, "0.5": 66, "1": 70, "+Inf": 70} {
		s = append(s, synthSeries{spanBucket("checkout", "GET /cart", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET", le), dataStart, steady(n)})
	}
	for le, n := range map[string]float64{"0.1": 0, "0.25": 0, "0.5": 0, "1": 0, "+Inf": 1000} {
		s = append(s, synthSeries{spanBucket("checkout", "GET /stock", "SPAN_KIND_CLIENT", "STATUS_CODE_UNSET", le), dataStart, steady(n)})
	}
	for le, n := range map[string]float64{"0.05": 50, "0.1": 90, "0.5": 100, "+Inf": 100} {
		s = append(s, synthSeries{labels.FromStrings("__name__", "http_request_duration_seconds_bucket", "job", "legacy", "le", le), dataStart, steady(n)})
	}
	return s
}

// counterAt is a synthetic series' value at t, a multiple of step.
func counterAt(s synthSeries, t time.Time) float64 {
	v := 0.0
	for m := s.from.Add(step); !m.After(t); m = m.Add(step) {
		v += s.inc(m) * step.Minutes()
	}
	return v
}

// extrapolated is increase() over (end-rng, end] of a series sampled each
// step from before end-rng to end: the first sample in the range is a
// step after its start, the last at its end, so the growth between them
// is stretched by one step (the samples reach the start within 1.1
// intervals, and the counters are far enough from zero).
func extrapolated(s synthSeries, end time.Time, rng time.Duration) float64 {
	first, last := counterAt(s, end.Add(-rng+step)), counterAt(s, end)
	return (last - first) * rng.Seconds() / (rng - step).Seconds()
}

// synthQuery reads the synthetic store, opened once by TestMain: the
// tests only read it.
var synthQuery QueryFunc

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "report-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	db, err := openSynthetic(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	synthQuery = engineQuery(engine, db)
	code := m.Run()
	db.Close()
	os.RemoveAll(dir)
	// After Close: the TSDB's own goroutines are not leaks.
	if err := goleak.Find(); code == 0 && err != nil {
		fmt.Fprintln(os.Stderr, "goroutines leaked:", err)
		code = 1
	}
	os.Exit(code)
}

// testQuery returns a QueryFunc over a real TSDB holding synthetic().
func testQuery(t *testing.T) QueryFunc {
	t.Helper()
	return synthQuery
}

func openSynthetic(dir string) (*tsdb.DB, error) {
	db, err := tsdb.Open(dir, nil, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		return nil, fmt.Errorf("cannot open the test TSDB: %w", err)
	}
	// Days of head data would otherwise be compacted in the background
	// while the tests read.
	db.DisableCompactions()
	app := db.Appender(context.Background())
	for _, s := range synthetic() {
		v := 0.0
		for ts := s.from; !ts.After(dataEnd); ts = ts.Add(step) {
			if ts.After(s.from) {
				v += s.inc(ts) * step.Minutes()
			}
			if _, err := app.Append(0, s.labels, ts.UnixMilli(), v); err != nil {
				db.Close()
				return nil, fmt.Errorf("cannot append %s: %w", s.labels, err)
			}
		}
	}
	if err := app.Commit(); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func engineQuery(engine *promql.Engine, db *tsdb.DB) QueryFunc {
	return func(ctx context.Context, expr string, t time.Time) (model.Vector, error) {
		q, err := engine.NewInstantQuery(ctx, db, nil, expr, t)
		if err != nil {
			return nil, err
		}
		defer q.Close()
		res := q.Exec(ctx)
		if res.Err != nil {
			return nil, res.Err
		}
		switch v := res.Value.(type) {
		case promql.Scalar:
			return model.Vector{{Metric: model.Metric{}, Value: model.SampleValue(v.V), Timestamp: model.Time(v.T)}}, nil
		case promql.Vector:
			out := make(model.Vector, 0, len(v))
			for _, s := range v {
				m := model.Metric{}
				s.Metric.Range(func(l labels.Label) { m[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
				out = append(out, &model.Sample{Metric: m, Value: model.SampleValue(s.F), Timestamp: model.Time(s.T)})
			}
			return out, nil
		default:
			return nil, fmt.Errorf("unexpected %s result", res.Value.Type())
		}
	}
}

func near(got, want float64) bool {
	return math.Abs(got-want) <= 1e-9*math.Max(1, math.Abs(want))
}

func checkNear(t *testing.T, what string, got, want float64) {
	t.Helper()
	if !near(got, want) {
		t.Errorf("%s = %s, want %s", what, strconv.FormatFloat(got, 'g', -1, 64), strconv.FormatFloat(want, 'g', -1, 64))
	}
}

func checkNearPtr(t *testing.T, what string, got *float64, want float64) {
	t.Helper()
	if got == nil {
		t.Errorf("%s = nil, want %v", what, want)
		return
	}
	checkNear(t, what, *got, want)
}
