package watch_test

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/rules"

	"github.com/vigilhq/vigil/ruler"
	"github.com/vigilhq/vigil/storage/metricstore"
	"github.com/vigilhq/vigil/watch"
)

const apiRules = `groups:
  - name: api
    interval: 1m
    rules:
      - record: job:requests:sum
        expr: sum by (job) (requests)
      - anomaly: APITraffic
        expr: requests
        min_history: 48h
        direction: both
        labels: {severity: page}
        annotations: {runbook: "https://runbooks.example/api"}
`

// fixture is a metrics store holding four days of a daily-seasonal
// series sampled every minute up to start, and a ruler loading apiRules
// with a Watcher that warms from that history.
type fixture struct {
	store  *metricstore.Store
	engine *promql.Engine
	w      *watch.Watcher
	r      *ruler.Ruler
	start  time.Time
	state  string
	mu     sync.Mutex
	sent   []*rules.Alert
}

func daily(t time.Time, rng *rand.Rand) float64 {
	h := float64(t.UTC().Hour()) + float64(t.UTC().Minute())/60
	return 100 + 20*math.Sin(2*math.Pi*h/24) + rng.NormFloat64()
}

func newFixture(t *testing.T, dataDir string, backfill time.Duration, start time.Time) *fixture {
	t.Helper()
	store, err := metricstore.Open(metricstore.Options{Dir: filepath.Join(dataDir, "metrics")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f := &fixture{
		store:  store,
		engine: promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute}),
		start:  start,
		state:  filepath.Join(dataDir, "anomaly", "detectors.state"),
	}
	f.w = watch.New(watch.Options{
		Appendable: store.DB(),
		Query:      rules.EngineQueryFunc(f.engine, store),
		Range:      watch.EngineRange(f.engine, store),
		Backfill:   backfill,
		StateFile:  f.state,
	})
	file := filepath.Join(dataDir, "rules.yml")
	if err := os.WriteFile(file, []byte(apiRules), 0o644); err != nil {
		t.Fatal(err)
	}
	f.r, err = ruler.New(ruler.Options{
		Files: []string{file}, Interval: time.Minute, Engine: f.engine,
		Appendable: store.DB(), Queryable: store, Anomalies: f.w,
		Notify: func(_ context.Context, _ string, alerts ...*rules.Alert) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.sent = append(f.sent, alerts...)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.r.Close)
	return f
}

func (f *fixture) write(t *testing.T, ts time.Time, v float64) {
	t.Helper()
	app := f.store.DB().Appender(context.Background())
	if _, err := app.Append(0, labels.FromStrings("__name__", "requests", "job", "api"), ts.UnixMilli(), v); err != nil {
		t.Fatal(err)
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) history(t *testing.T, days int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	app := f.store.DB().Appender(context.Background())
	ls := labels.FromStrings("__name__", "requests", "job", "api")
	for ts := f.start.Add(-time.Duration(days) * 24 * time.Hour); !ts.After(f.start); ts = ts.Add(time.Minute) {
		if _, err := app.Append(0, ls, ts.UnixMilli(), daily(ts, rng)); err != nil {
			t.Fatal(err)
		}
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) eval(t *testing.T, ts time.Time) *rules.Group {
	t.Helper()
	gs := f.r.Manager().RuleGroups()
	if len(gs) != 1 {
		t.Fatalf("%d rule groups, want 1", len(gs))
	}
	f.w.Evaluate(nil)(context.Background(), gs[0], ts)
	return gs[0]
}

func (f *fixture) instant(t *testing.T, q string, ts time.Time) promql.Vector {
	t.Helper()
	v, err := rules.EngineQueryFunc(f.engine, f.store)(context.Background(), q, ts)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return v
}

// An anomaly rule in a rule file beside a recording rule: warmed from four
// days of stored history at its first evaluation, quiet on a normal
// point, it fires on a spike with an alert that names the series and
// carries the observed and expected values, the band and the start, and
// it writes its five series into the store.
func TestAnomalyRuleWarmsFiresAndExplains(t *testing.T) {
	start := time.Now().Truncate(time.Minute)
	f := newFixture(t, t.TempDir(), 4*24*time.Hour, start)
	f.history(t, 4)

	g := f.eval(t, start) // warms from history, then a normal point
	ar := g.AlertingRules()
	if len(ar) != 1 || ar[0].Name() != "APITraffic" {
		t.Fatalf("alerting rules %v, want the generated APITraffic", ar)
	}
	if n := len(ar[0].ActiveAlerts()); n != 0 {
		t.Fatalf("%d alerts on a normal point after warming, want none", n)
	}
	st := f.w.Status()
	if len(st) != 1 || len(st[0].Series) != 1 {
		t.Fatalf("status %+v, want one rule watching one series", st)
	}
	s := st[0].Series[0]
	if !s.Warm || s.Season != "daily" {
		t.Fatalf("after warming from 4 days: warm %v season %q, want warm and daily", s.Warm, s.Season)
	}
	if s.Lower >= s.Value || s.Value >= s.Upper {
		t.Errorf("normal point %v outside its band [%v, %v]", s.Value, s.Lower, s.Upper)
	}
	if d := math.Abs(s.Expected - s.Value); d > 5 {
		t.Errorf("expected %v for observed %v: the seasonal baseline is off by %v", s.Expected, s.Value, d)
	}
	for _, name := range []string{watch.ObservedName, watch.ExpectedName, watch.LowerName, watch.UpperName, watch.ScoreName} {
		v := f.instant(t, name+`{anomaly_rule="APITraffic",job="api"}`, start)
		if len(v) != 1 {
			t.Errorf("%s: %d series in the store, want 1", name, len(v))
		}
	}
	if v := f.instant(t, "job:requests:sum", start); len(v) != 1 {
		t.Errorf("the recording rule beside the anomaly rule wrote %d series, want 1", len(v))
	}

	spikeAt := start.Add(time.Minute)
	f.write(t, spikeAt, 1000)
	f.eval(t, spikeAt)
	alerts := ar[0].ActiveAlerts()
	if len(alerts) != 1 || alerts[0].State != rules.StateFiring {
		t.Fatalf("after a spike to 1000: %d alerts, want one firing", len(alerts))
	}
	a := alerts[0]
	if a.Labels.Get("job") != "api" || a.Labels.Get("severity") != "page" || a.Labels.Get(watch.RuleLabel) != "APITraffic" {
		t.Errorf("alert labels %v, want the series' job, the rule's severity and anomaly_rule", a.Labels)
	}
	ann := a.Annotations.Map()
	if ann["observed"] != "1000" {
		t.Errorf("observed annotation %q, want 1000", ann["observed"])
	}
	exp, err1 := strconv.ParseFloat(ann["expected"], 64)
	lo, err2 := strconv.ParseFloat(ann["lower"], 64)
	hi, err3 := strconv.ParseFloat(ann["upper"], 64)
	if err1 != nil || err2 != nil || err3 != nil || !(lo < exp && exp < hi && hi < 1000) || exp < 70 || exp > 130 {
		t.Errorf("expected %q in band [%q, %q]: want numbers with lower < expected < upper < 1000 and expected near the daily level", ann["expected"], ann["lower"], ann["upper"])
	}
	if ann["started"] != spikeAt.UTC().Format("2006-01-02T15:04:05Z") {
		t.Errorf("started %q, want %s", ann["started"], spikeAt.UTC().Format(time.RFC3339))
	}
	if ann["series"] != `{job="api"}` {
		t.Errorf("series %q, want {job=\"api\"}", ann["series"])
	}
	if sc, err := strconv.ParseFloat(ann["score"], 64); err != nil || sc < 0.3 {
		t.Errorf("score annotation %q", ann["score"])
	}
	if ann["runbook"] != "https://runbooks.example/api" {
		t.Errorf("the rule's own annotation was lost: %v", ann)
	}
	for _, want := range []string{"observed 1000", ann["expected"] + " was expected", "normal band " + ann["lower"] + " to " + ann["upper"], ann["started"]} {
		if !strings.Contains(ann["description"], want) {
			t.Errorf("description %q does not say %q", ann["description"], want)
		}
	}
	f.mu.Lock()
	sent := len(f.sent)
	f.mu.Unlock()
	if sent == 0 {
		t.Error("the firing alert was not handed to the notifier")
	}
	if st := f.w.Status()[0].Series[0]; st.Since == nil || !st.Since.Equal(spikeAt) {
		t.Errorf("anomalous since %v, want %v", st.Since, spikeAt)
	}

	// Back to normal: the alert keeps firing through the hold-off
	// (30m by default), then resolves.
	rng := rand.New(rand.NewPCG(9, 9))
	var ts time.Time
	for i := 2; i <= 40; i++ {
		ts = start.Add(time.Duration(i) * time.Minute)
		f.write(t, ts, daily(ts, rng))
		f.eval(t, ts)
		firing := len(ar[0].ActiveAlerts()) == 1 && ar[0].ActiveAlerts()[0].State == rules.StateFiring
		if i <= 31 && !firing {
			t.Fatalf("%d minutes after the spike the alert stopped firing, want it held for the 30m hold-off", i-1)
		}
		if i >= 33 && firing {
			t.Fatalf("%d minutes after the spike the alert still fires, want resolved after the hold-off", i-1)
		}
	}
}

// A restart resumes the saved detectors: the rule needs no history to be
// warm again, and its next result equals what the uninterrupted detector
// gives.
func TestAnomalyStateSurvivesRestart(t *testing.T) {
	start := time.Now().Truncate(time.Minute)
	dir := t.TempDir()
	f := newFixture(t, dir, 3*24*time.Hour, start)
	f.history(t, 3)
	f.eval(t, start)
	if err := f.w.Save(); err != nil {
		t.Fatal(err)
	}
	before := f.w.Status()[0].Series[0]
	if !before.Warm {
		t.Fatal("not warm after three days of history")
	}
	next := start.Add(time.Minute)
	f.write(t, next, 130)
	f.eval(t, next)
	want := f.w.Status()[0].Series[0]

	// A second server on a fresh store: no history to warm from, only
	// the state file.
	dir2 := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir2, "anomaly"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(f.state)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir2, "anomaly", "detectors.state"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	f2 := newFixture(t, dir2, 3*24*time.Hour, start)
	f2.write(t, next, 130)
	f2.eval(t, next)
	got := f2.w.Status()[0].Series[0]
	if !got.Warm || got.Season != want.Season || got.Score != want.Score || got.Expected != want.Expected || got.Lower != want.Lower || got.Upper != want.Upper {
		t.Errorf("after restart: %+v\nuninterrupted: %+v", got, want)
	}

	// Without the state file and without history, the rule starts cold
	// and cannot page anyone.
	f3 := newFixture(t, t.TempDir(), 3*24*time.Hour, start)
	f3.write(t, next, 1e6)
	g := f3.eval(t, next)
	if got := f3.w.Status()[0].Series[0]; got.Warm {
		t.Error("a rule with neither saved state nor history is warm")
	}
	if n := len(g.AlertingRules()[0].ActiveAlerts()); n != 0 {
		t.Errorf("a cold rule raised %d alerts", n)
	}
}
