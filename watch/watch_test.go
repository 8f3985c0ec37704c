package watch

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"
)

type sample struct {
	l labels.Labels
	t int64
	v float64
}

// recorder is a storage.Appendable keeping what was committed.
type recorder struct {
	mu        sync.Mutex
	committed []sample
}

func (r *recorder) Appender(context.Context) storage.Appender { return &recApp{r: r} }

func (r *recorder) take() []sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.committed
	r.committed = nil
	return s
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.committed)
}

// recApp implements only what the Watcher calls; the embedded nil
// interface panics on anything else, which the tests would show.
type recApp struct {
	storage.Appender
	r       *recorder
	pending []sample
}

func (a *recApp) Append(_ storage.SeriesRef, l labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	a.pending = append(a.pending, sample{l, t, v})
	return 0, nil
}

func (a *recApp) Commit() error {
	a.r.mu.Lock()
	defer a.r.mu.Unlock()
	a.r.committed = append(a.r.committed, a.pending...)
	a.pending = nil
	return nil
}

func (a *recApp) Rollback() error { a.pending = nil; return nil }

// fakeQuery answers every expression with what at returns for the
// timestamp.
type fakeQuery struct {
	mu sync.Mutex
	at func(ts time.Time) (promql.Vector, error)
}

func (q *fakeQuery) set(f func(ts time.Time) (promql.Vector, error)) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.at = f
}

func (q *fakeQuery) fn(_ context.Context, _ string, ts time.Time) (promql.Vector, error) {
	q.mu.Lock()
	f := q.at
	q.mu.Unlock()
	if f == nil {
		return nil, nil
	}
	return f(ts)
}

func vec(ss ...promql.Sample) func(time.Time) (promql.Vector, error) {
	return func(time.Time) (promql.Vector, error) { return promql.Vector(ss), nil }
}

func fsample(v float64, kv ...string) promql.Sample {
	return promql.Sample{Metric: labels.FromStrings(kv...), F: v}
}

type harness struct {
	w    *Watcher
	q    *fakeQuery
	app  *recorder
	reg  *prometheus.Registry
	dir  string
	file string
	g    *rules.Group
	// nextCalls counts the group's Prometheus evaluations and nextSaw
	// holds how many samples had been committed when each began.
	nextCalls int
	nextSaw   []int
}

var t0 = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

func newHarness(t *testing.T, content string, o Options) *harness {
	t.Helper()
	h := &harness{q: &fakeQuery{}, app: &recorder{}, reg: prometheus.NewRegistry(), dir: t.TempDir()}
	o.Query, o.Appendable, o.Registerer = h.q.fn, h.app, h.reg
	h.w = New(o)
	h.file = filepath.Join(h.dir, "rules.yml")
	h.load(t, content)
	h.g = h.group("g")
	return h
}

func (h *harness) load(t *testing.T, content string) {
	t.Helper()
	if err := os.WriteFile(h.file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errs := h.w.Load(h.file, false, model.UTF8Validation); len(errs) > 0 {
		t.Fatal(errs)
	}
}

func (h *harness) group(name string) *rules.Group {
	return rules.NewGroup(rules.GroupOptions{Name: name, File: h.file, Interval: time.Minute, Opts: &rules.ManagerOptions{}})
}

func (h *harness) eval(ts time.Time) { h.evalGroup(h.g, ts) }

func (h *harness) evalGroup(g *rules.Group, ts time.Time) {
	h.w.Evaluate(func(_ context.Context, got *rules.Group, _ time.Time) {
		if got != g {
			panic("next called with another group")
		}
		h.nextCalls++
		h.nextSaw = append(h.nextSaw, h.app.len())
	})(context.Background(), g, ts)
}

func ruleFile(extra ...string) string {
	s := "groups:\n  - name: g\n    interval: 1m\n    rules:\n      - record: x\n        expr: vector(1)\n      - anomaly: R\n        expr: requests\n"
	for _, e := range extra {
		s += "        " + e + "\n"
	}
	return s
}

func byName(ss []sample) map[string][]sample {
	m := make(map[string][]sample)
	for _, s := range ss {
		m[s.l.Get(labels.MetricName)] = append(m[s.l.Get(labels.MetricName)], s)
	}
	return m
}

func TestEvaluateWritesFiveSeriesPerWatchedSeries(t *testing.T) {
	h := newHarness(t, ruleFile(), Options{})
	h.q.set(vec(
		fsample(7, "__name__", "requests", "job", "api", "instance", "a"),
		fsample(9, "__name__", "requests", "job", "web"),
	))
	h.eval(t0)
	if h.nextCalls != 1 || h.nextSaw[0] != 10 {
		t.Fatalf("next called %d times, seeing %v samples, want once after all 10 anomaly samples", h.nextCalls, h.nextSaw)
	}
	got := byName(h.app.take())
	want := map[string]float64{`{anomaly_rule="R", instance="a", job="api"}`: 7, `{anomaly_rule="R", job="web"}`: 9}
	for _, name := range seriesNames {
		if len(got[name]) != 2 {
			t.Errorf("%s: %d samples, want 2", name, len(got[name]))
			continue
		}
		for _, s := range got[name] {
			b := labels.NewBuilder(s.l)
			b.Del(labels.MetricName)
			key := b.Labels().String()
			obs, ok := want[key]
			if !ok {
				t.Errorf("%s: labels %s, want the expression's without __name__, with anomaly_rule", name, s.l)
			}
			if s.t != t0.UnixMilli() || math.IsNaN(s.v) {
				t.Errorf("%s%s: sample (%d, %v) at %d", name, key, s.t, s.v, t0.UnixMilli())
			}
			if name == ObservedName && s.v != obs {
				t.Errorf("%s%s = %v, want %v", name, key, s.v, obs)
			}
			if name == ScoreName && s.v != 0 {
				t.Errorf("first point scored %v, want 0 (cold)", s.v)
			}
		}
	}
	if len(got) != 5 {
		t.Errorf("series names %v, want exactly the five", got)
	}
}

func TestEvaluateWithoutAnomalyRulesStillRunsGroup(t *testing.T) {
	h := newHarness(t, ruleFile(), Options{})
	other := h.group("other")
	h.evalGroup(other, t0)
	if h.nextCalls != 1 || h.app.len() != 0 {
		t.Errorf("a group without anomaly rules: next %d times, %d samples", h.nextCalls, h.app.len())
	}
}

func TestStaleMarkersOnceWhenSeriesDisappears(t *testing.T) {
	h := newHarness(t, ruleFile(), Options{})
	a := fsample(1, "__name__", "requests", "job", "a")
	b := fsample(2, "__name__", "requests", "job", "b")
	h.q.set(vec(a, b))
	h.eval(t0)
	h.app.take()
	h.q.set(vec(a))
	t1 := t0.Add(time.Minute)
	h.eval(t1)
	stale := map[string]bool{}
	for _, s := range h.app.take() {
		switch s.l.Get("job") {
		case "b":
			if !value.IsStaleNaN(s.v) || s.t != t1.UnixMilli() {
				t.Errorf("gone series: %s (%d, %v), want a staleness marker at %d", s.l, s.t, s.v, t1.UnixMilli())
			}
			stale[s.l.Get(labels.MetricName)] = true
		case "a":
			if value.IsStaleNaN(s.v) {
				t.Errorf("present series %s marked stale", s.l)
			}
		}
	}
	if len(stale) != 5 {
		t.Errorf("staleness markers for %v, want all five series", stale)
	}
	h.eval(t0.Add(2 * time.Minute))
	for _, s := range h.app.take() {
		if s.l.Get("job") == "b" {
			t.Errorf("second evaluation without b wrote %s = %v, want the marker once", s.l, s.v)
		}
	}
	// Back again: watched with the detector it had.
	h.q.set(vec(a, b))
	h.eval(t0.Add(3 * time.Minute))
	n := 0
	for _, s := range h.app.take() {
		if s.l.Get("job") == "b" && !value.IsStaleNaN(s.v) {
			n++
		}
	}
	if n != 5 {
		t.Errorf("b back: %d samples, want 5", n)
	}
}

func TestMaxSeriesPerRule(t *testing.T) {
	h := newHarness(t, ruleFile(), Options{MaxSeriesPerRule: 2})
	var ss []promql.Sample
	for _, j := range []string{"a", "b", "c", "d", "e"} {
		ss = append(ss, fsample(1, "__name__", "requests", "job", j))
	}
	h.q.set(vec(ss...))
	h.eval(t0)
	if n := len(h.app.take()); n != 10 {
		t.Errorf("%d samples, want 10 (two series)", n)
	}
	h.eval(t0.Add(time.Minute))
	if n := len(h.app.take()); n != 10 {
		t.Errorf("%d samples, want 10 (the same two series)", n)
	}
	if st := h.w.Status(); len(st) != 1 || len(st[0].Series) != 2 {
		t.Errorf("status %+v, want 2 watched series", st)
	}
	const want = `
# HELP vigil_anomaly_series_dropped_total Series an anomaly rule's expression returned beyond its series limit, per evaluation.
# TYPE vigil_anomaly_series_dropped_total counter
vigil_anomaly_series_dropped_total{rule="R"} 6
# HELP vigil_anomaly_watched_series Series an anomaly rule watches (one detector each).
# TYPE vigil_anomaly_watched_series gauge
vigil_anomaly_watched_series{rule="R"} 2
`
	if err := testutil.GatherAndCompare(h.reg, strings.NewReader(want), "vigil_anomaly_series_dropped_total", "vigil_anomaly_watched_series"); err != nil {
		t.Error(err)
	}
}

func TestDuplicateLabelSetsWatchedOnce(t *testing.T) {
	h := newHarness(t, ruleFile(), Options{})
	h.q.set(vec(
		fsample(3, "__name__", "requests", "job", "a"),
		fsample(4, "__name__", "responses", "job", "a"),
	))
	h.eval(t0)
	got := h.app.take()
	if len(got) != 5 {
		t.Fatalf("%d samples, want 5: one series once __name__ is gone", len(got))
	}
	for _, s := range got {
		if s.l.Get(labels.MetricName) == ObservedName && s.v != 3 {
			t.Errorf("observed %v, want the first sample's 3", s.v)
		}
	}
	if st := h.w.Status(); len(st[0].Series) != 1 {
		t.Errorf("%d watched series, want 1", len(st[0].Series))
	}
}

func TestQueryErrorWritesNothing(t *testing.T) {
	h := newHarness(t, ruleFile(), Options{})
	h.q.set(vec(fsample(1, "__name__", "requests", "job", "a")))
	h.eval(t0)
	h.app.take()
	h.q.set(func(time.Time) (promql.Vector, error) { return nil, errors.New("query timed out") })
	t1 := t0.Add(time.Minute)
	h.eval(t1)
	if got := h.app.take(); len(got) != 0 {
		t.Errorf("a failed query wrote %d samples (%v), want none (not even staleness markers)", len(got), got)
	}
	if h.nextCalls != 2 {
		t.Errorf("next called %d times, want the group's rules evaluated despite the failure", h.nextCalls)
	}
	st := h.w.Status()[0]
	if st.LastError != "query timed out" || st.LastEval == nil || !st.LastEval.Equal(t1) {
		t.Errorf("status error %q at %v, want the query's error at %v", st.LastError, st.LastEval, t1)
	}
	if err := testutil.GatherAndCompare(h.reg, strings.NewReader(`
# HELP vigil_anomaly_rule_evaluation_failures_total Evaluations of anomaly rules whose expression failed.
# TYPE vigil_anomaly_rule_evaluation_failures_total counter
vigil_anomaly_rule_evaluation_failures_total{rule="R"} 1
`), "vigil_anomaly_rule_evaluation_failures_total"); err != nil {
		t.Error(err)
	}
	h.q.set(vec(fsample(1, "__name__", "requests", "job", "a")))
	h.eval(t0.Add(2 * time.Minute))
	if st := h.w.Status()[0]; st.LastError != "" {
		t.Errorf("error %q kept after a good evaluation", st.LastError)
	}
}

// expectedAfter feeds 10 for five minutes, reloads content, then feeds 20:
// a kept detector expects about 10, a new one expects its first value.
func expectedAfter(t *testing.T, content string) (float64, bool) {
	h := newHarness(t, ruleFile(), Options{})
	h.q.set(vec(fsample(10, "__name__", "requests", "job", "a")))
	for i := range 5 {
		h.eval(t0.Add(time.Duration(i) * time.Minute))
	}
	h.w.mu.Lock()
	before := h.w.rules["R"].series[seriesLabels(labels.FromStrings("job", "a"), "R").Hash()].det
	h.w.mu.Unlock()
	h.load(t, content)
	h.q.set(vec(fsample(20, "__name__", "requests", "job", "a")))
	h.eval(t0.Add(5 * time.Minute))
	h.w.mu.Lock()
	after := h.w.rules["R"].series[seriesLabels(labels.FromStrings("job", "a"), "R").Hash()].det
	h.w.mu.Unlock()
	st := h.w.Status()[0]
	if len(st.Series) != 1 || st.Series[0].Value != 20 {
		t.Fatalf("status %+v", st)
	}
	return st.Series[0].Expected, before == after
}

func TestReloadKeepsOrResetsDetectors(t *testing.T) {
	if exp, same := expectedAfter(t, ruleFile()); !same || math.Abs(exp-10) > 1 {
		t.Errorf("unchanged reload: same detector %v, expected %v; want the detector kept, expecting about 10", same, exp)
	}
	for _, changed := range []string{"sensitivity: 0.9", "direction: up", "hold_off: 5m", "seasonality: none"} {
		if exp, same := expectedAfter(t, ruleFile(changed)); same || exp != 20 {
			t.Errorf("%s: same detector %v, expected %v; want a new detector whose baseline is its first value, 20", changed, same, exp)
		}
	}
}

func TestRetainDropsRemovedGroupsAndRules(t *testing.T) {
	h := newHarness(t, ruleFile(), Options{})
	other := filepath.Join(h.dir, "other.yml")
	if err := os.WriteFile(other, []byte("groups:\n  - name: o\n    rules:\n      - anomaly: O\n        expr: up\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errs := h.w.Load(other, false, model.UTF8Validation); len(errs) > 0 {
		t.Fatal(errs)
	}
	og := rules.NewGroup(rules.GroupOptions{Name: "o", File: other, Interval: time.Minute, Opts: &rules.ManagerOptions{}})
	h.q.set(vec(fsample(1, "__name__", "requests", "job", "a")))
	h.eval(t0)
	h.evalGroup(og, t0)
	if n := len(h.w.Rules()); n != 2 {
		t.Fatalf("%d rules loaded, want 2", n)
	}
	h.w.Retain([]string{rules.GroupKey(h.file, "g")})
	rs := h.w.Rules()
	if len(rs) != 1 || rs[0].Name != "R" {
		t.Errorf("rules after Retain %v, want only R", rs)
	}
	h.w.mu.Lock()
	_, kept := h.w.rules["R"]
	_, dropped := h.w.rules["O"]
	h.w.mu.Unlock()
	if !kept || dropped {
		t.Errorf("rule state after Retain: R kept %v, O kept %v", kept, dropped)
	}
	if st := h.w.Status(); len(st) != 1 || len(st[0].Series) != 1 {
		t.Errorf("status after Retain %+v", st)
	}
	h.app.take()
	h.evalGroup(og, t0.Add(time.Minute))
	if n := h.app.len(); n != 0 {
		t.Errorf("a retired group's anomaly rule wrote %d samples", n)
	}
}

func TestNonIncreasingTimestampNotObservedTwice(t *testing.T) {
	h := newHarness(t, ruleFile(), Options{})
	h.q.set(vec(fsample(5, "__name__", "requests", "job", "a")))
	t1 := t0.Add(time.Minute)
	h.eval(t0)
	h.eval(t1)
	h.app.take()
	det := func() []byte {
		h.w.mu.Lock()
		defer h.w.mu.Unlock()
		for _, ss := range h.w.rules["R"].series {
			b, err := ss.det.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		t.Fatal("no series")
		return nil
	}
	before := det()
	h.q.set(vec(fsample(500, "__name__", "requests", "job", "a")))
	h.eval(t1)
	h.eval(t0)
	if got := h.app.take(); len(got) != 0 {
		t.Errorf("repeated and earlier timestamps wrote %v", got)
	}
	if string(det()) != string(before) {
		t.Error("the detector learned from a repeated or earlier timestamp")
	}
	if st := h.w.Status()[0].Series[0]; st.Value != 5 || !st.Time.Equal(t1) {
		t.Errorf("last point (%v, %v), want (%v, 5)", st.Time, st.Value, t1)
	}
}

func TestHistogramSamplesSkipped(t *testing.T) {
	h := newHarness(t, ruleFile(), Options{})
	h.q.set(vec(
		promql.Sample{Metric: labels.FromStrings("__name__", "latency", "job", "h"), H: &histogram.FloatHistogram{Count: 3, Sum: 1}},
		fsample(1, "__name__", "requests", "job", "f"),
	))
	h.eval(t0)
	for _, s := range h.app.take() {
		if s.l.Get("job") != "f" {
			t.Errorf("histogram series written: %s", s.l)
		}
	}
	if st := h.w.Status()[0]; len(st.Series) != 1 || st.Series[0].Labels["job"] != "f" {
		t.Errorf("watched %+v, want only the float series", st.Series)
	}
}

func TestStatus(t *testing.T) {
	h := newHarness(t, ruleFile("min_history: 1h", "labels: {severity: page}"), Options{})
	h.q.set(func(ts time.Time) (promql.Vector, error) {
		return promql.Vector{fsample(100+float64(ts.Minute()%3), "__name__", "requests", "job", "a", "zone", "z1")}, nil
	})
	h.eval(t0)
	st := h.w.Status()
	if len(st) != 1 {
		t.Fatalf("%d rules, want 1", len(st))
	}
	r := st[0]
	if r.Name != "R" || r.Expr != "requests" || r.File != h.file || r.Group != "g" || r.Builtin || r.Interval != 60 ||
		r.Direction != "both" || r.Seasonality != "auto" || r.Timezone != "UTC" || r.MinHistory != 3600 || r.HoldOff != 1800 ||
		r.Threshold != 0.48 || r.Labels["severity"] != "page" || r.LastError != "" || r.LastEval == nil || !r.LastEval.Equal(t0) {
		t.Errorf("rule status %+v", r)
	}
	if len(r.Series) != 1 {
		t.Fatalf("series %+v", r.Series)
	}
	s := r.Series[0]
	if len(s.Labels) != 2 || s.Labels["job"] != "a" || s.Labels["zone"] != "z1" {
		t.Errorf("series labels %v, want the expression's without __name__ and anomaly_rule", s.Labels)
	}
	if s.Season != "none" || s.Warm || !s.Time.Equal(t0) || s.Value != 100 || s.Score != 0 || s.Since != nil || s.Last != nil {
		t.Errorf("first point status %+v", s)
	}
	// The detector wants 100 points as well as the hour.
	var ts time.Time
	for i := 1; i <= 100; i++ {
		ts = t0.Add(time.Duration(i) * time.Minute)
		h.eval(ts)
	}
	s = h.w.Status()[0].Series[0]
	if !s.Warm || !s.Time.Equal(ts) || s.Value != 100+float64(ts.Minute()%3) {
		t.Errorf("after 101 points over 100 minutes: %+v, want warm at %v", s, ts)
	}
	if !(s.Lower <= s.Expected && s.Expected <= s.Upper) || s.Expected < 99 || s.Expected > 103 {
		t.Errorf("band [%v, %v] around %v, want about 101", s.Lower, s.Upper, s.Expected)
	}
}

// A new series has no history: whatever it does, it must not score at the
// alert threshold, or every new deployment would page.
func TestColdSeriesNeverPages(t *testing.T) {
	h := newHarness(t, ruleFile("direction: both", "sensitivity: 1"), Options{})
	wild := []float64{1e9, -1e9, 0, 1e-9, math.NaN(), math.Inf(1), 5, 1e300, -1e300, 42}
	h.q.set(func(ts time.Time) (promql.Vector, error) {
		i := int(ts.Sub(t0) / time.Minute)
		return promql.Vector{fsample(wild[i%len(wild)]*float64(1+i%7), "__name__", "requests", "job", "a")}, nil
	})
	th := h.w.Rules()[0].Threshold()
	scores := 0
	for i := range 300 {
		h.eval(t0.Add(time.Duration(i) * time.Minute))
		for _, s := range h.app.take() {
			if s.l.Get(labels.MetricName) == ScoreName {
				scores++
				if s.v >= th {
					t.Fatalf("minute %d: cold series scored %v >= threshold %v", i, s.v, th)
				}
			}
		}
	}
	if scores < 250 {
		t.Errorf("%d scores written in 300 evaluations", scores)
	}
	for _, s := range h.w.Status()[0].Series {
		if s.Warm || s.Since != nil || s.Last != nil {
			t.Errorf("after 5 hours of a 72h minimum history: %+v", s)
		}
	}
}

// A rule that is removed, or changed so that its detectors start afresh,
// ends its old series with staleness markers at once instead of leaving
// them for the lookback.
func TestDroppedRulesMarkTheirSeriesStale(t *testing.T) {
	stale := func(ss []sample) map[string]int {
		n := make(map[string]int)
		for _, s := range ss {
			if value.IsStaleNaN(s.v) {
				n[s.l.Get(labels.MetricName)]++
			}
		}
		return n
	}
	for _, c := range []struct {
		name string
		act  func(h *harness)
	}{
		{"changed", func(h *harness) {
			// The changed rule no longer returns these series.
			h.load(t, ruleFile("sensitivity: 0.9"))
			h.q.set(vec(fsample(5, "__name__", "requests", "job", "c")))
			h.eval(t0.Add(time.Minute))
		}},
		{"removed", func(h *harness) { h.w.Retain(nil) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, ruleFile(), Options{})
			h.q.set(vec(fsample(5, "__name__", "requests", "job", "a"), fsample(7, "__name__", "requests", "job", "b")))
			h.eval(t0)
			if n := stale(h.app.take()); len(n) != 0 {
				t.Fatalf("stale markers before anything changed: %v", n)
			}
			c.act(h)
			n := stale(h.app.take())
			for _, name := range seriesNames {
				if n[name] != 2 {
					t.Errorf("%s: %d stale markers, want one for each of the 2 old series", name, n[name])
				}
			}
		})
	}
}
