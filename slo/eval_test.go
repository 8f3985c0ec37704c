package slo

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/tsdb"
)

// The scenarios below run the compiled rules with Prometheus's own rule
// manager and engine over a real TSDB, and check the numbers against
// values worked out by hand.
//
// How the hand values come about: series have a sample every minute from
// t=0 to t=1440m (one day), and the rules are evaluated every hour up to
// T=1440m: not every 30s as the ruler runs them, which would take 2880
// evaluations of the group, but enough for the window-long ratio, which
// sums the 5m rates recorded at each evaluation. A range [w] at T holds the samples in (T-w, T]. rate()
// extrapolates each series' increase to the range's ends, but the series
// share timestamps and start far from zero, so every series in one range
// gets the same factor, and a ratio of rates is the ratio of the plain
// one-minute increments inside the range: for w=2h that is the 119
// increments between the samples at 1321m and 1440m.

const evalStep = 60 * time.Minute

var (
	origin = time.Unix(0, 0).UTC()
	evalT  = origin.Add(1440 * time.Minute)
)

type scenario struct {
	name   string
	slo    SLO
	series string // promqltest notation, one sample per minute from t=0
	// Hand-computed expectations at evalT.
	burn        map[string]float64 // window -> burn rate
	windowRatio float64            // error ratio over the SLO window
	remaining   float64            // error budget remaining
	events      float64            // events over the window, as Prometheus extrapolates them
	firing      map[string]bool    // "long/short" -> alert firing
}

func scenarios() []scenario {
	return []scenario{{
		// 2% errors for the last hour of a day without errors: burn 20
		// over 1h and 5m pages; averaged over a day (burn 0.83) it is
		// nowhere near a ticket.
		name: "fast burn pages, slow does not",
		slo: SLO{
			Name: "checkout-availability", Service: "checkout", Objective: 99.9,
			Labels: map[string]string{"team": "payments"},
			SLI: SLI{Events: &EventsSLI{
				Good:  `sum(rate(http_requests_total{code!~"5.."}[{{.window}}]))`,
				Total: `sum(rate(http_requests_total[{{.window}}]))`,
			}},
		},
		// 100 requests a minute; from minute 1381 on, 2 of them fail.
		series: `
			http_requests_total{code="200"} 1000000+100x1380 1138098+98x59
			http_requests_total{code="500"} 1000x1380 1002+2x59`,
		burn: map[string]float64{
			"5m":  20,                    // 4 increments, all 2/100 errors: 0.02 / 0.001
			"30m": 20,                    // 29 increments, all erroring
			"1h":  20,                    // 59 increments (1381m..1440m), all erroring
			"2h":  1000 * 120.0 / 11900,  // 119 increments, 60 erroring: 120 errors in 11900 requests = 10.08
			"6h":  1000 * 120.0 / 35900,  // 359 increments: 3.34
			"1d":  1000 * 120.0 / 143900, // 1439 increments: 0.834
			"3d":  1000 * 120.0 / 144000, // the whole day, 1440 increments: 0.833
		},
		// The 30d ratio sums the recorded 5m rates of the 24 evaluations
		// (60m, 120m, … 1440m), each covering 4 increments: 96 increments,
		// 9600 requests; only the evaluation at 1440m saw errors, 8 of
		// them: 8/9600 = 1/1200.
		windowRatio: 1.0 / 1200,
		remaining:   1 - (1.0/1200)/0.001, // 1/6 of the budget left
		// 144000 requests in the day; the range starts 29d before the first
		// sample, so rate() extrapolates half a sample interval (30s) more:
		// 144000 * 1440.5/1440.
		events: 144000 * 1440.5 / 1440,
		firing: map[string]bool{"1h/5m": true, "6h/30m": false, "1d/2h": false, "3d/6h": false},
	}, {
		// A steady 0.4% errors all day (burn 4): over 1d and 3d that is a
		// ticket, but 4 is below both page thresholds (14.4 and 6).
		name: "slow burn tickets, fast does not",
		slo: SLO{
			Name: "search-availability", Service: "search", Objective: 99.9, Window: 30 * day,
			SLI: SLI{Events: &EventsSLI{
				Bad:   `sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))`,
				Total: `sum(rate(http_requests_total[{{.window}}]))`,
			}},
		},
		series: `
			http_requests_total{code="200"} 1000000+996x1440
			http_requests_total{code="500"} 1000+4x1440`,
		burn:        map[string]float64{"5m": 4, "30m": 4, "1h": 4, "2h": 4, "6h": 4, "1d": 4, "3d": 4},
		windowRatio: 0.004,
		remaining:   1 - 4, // the day's pace would spend the 30d budget 4 times over
		events:      1440000 * 1440.5 / 1440,
		firing:      map[string]bool{"1h/5m": false, "6h/30m": false, "1d/2h": true, "3d/6h": true},
	}, {
		// A latency SLI over a 4w window: 5.8% of checkout requests take
		// longer than 1s against a 99% objective, burn 5.8. The factors
		// scale to the 28d window (13.44, 5.6, 2.8, 0.933), so the 6h/30m
		// page fires where the 30d factor 6 would not. The bucket is
		// written le="1.0", as Prometheus 3 stores a bound a client
		// exposes as "1"; the search service's requests must not count.
		name: "latency SLI with a 4w window",
		slo: SLO{
			Name: "checkout-latency", Service: "checkout", Objective: 99, Window: 28 * day,
			SLI: SLI{Latency: &LatencySLI{
				Metric: "http_request_duration_seconds", Selector: `{service="checkout"}`, Threshold: 1,
			}},
		},
		series: `
			http_request_duration_seconds_bucket{service="checkout",le="0.5"} 10000000+500x1440
			http_request_duration_seconds_bucket{service="checkout",le="1.0"} 10000000+942x1440
			http_request_duration_seconds_bucket{service="checkout",le="+Inf"} 10000000+1000x1440
			http_request_duration_seconds_count{service="checkout"} 10000000+1000x1440
			http_request_duration_seconds_bucket{service="search",le="1.0"} 10000000+0x1440
			http_request_duration_seconds_count{service="search"} 10000000+5000x1440`,
		burn:        map[string]float64{"5m": 5.8, "30m": 5.8, "1h": 5.8, "2h": 5.8, "6h": 5.8, "1d": 5.8, "3d": 5.8},
		windowRatio: 0.058,
		remaining:   1 - 5.8,
		events:      1440000 * 1440.5 / 1440,
		firing:      map[string]bool{"1h/5m": false, "6h/30m": true, "1d/2h": true, "3d/6h": true},
	}}
}

func TestRulesAndStatusMatchHandComputedValues(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			ctx := context.Background()
			db := openDB(t)
			loadSeries(t, db, sc.series)
			engine := newEngine(t)
			group := loadGroup(t, sc.slo, db, engine)
			for ts := origin.Add(evalStep); !ts.After(evalT); ts = ts.Add(evalStep) {
				group.Eval(ctx, ts)
			}
			for _, r := range group.Rules() {
				if err := r.LastError(); err != nil {
					t.Fatalf("rule %s failed: %v", r.Name(), err)
				}
			}

			q := engineQuery(engine, db)
			sel := sc.slo.selector()
			for w, want := range sc.burn {
				assertClose(t, "recorded burn rate "+w, instant(t, q, BurnRateRecord+w+sel), want)
			}
			win := sc.slo.window().String()
			assertClose(t, "recorded "+win+" error ratio", instant(t, q, ErrorRatioRecord+win+sel), sc.windowRatio)
			assertClose(t, "recorded budget remaining", instant(t, q, RemainingRecord+sel), sc.remaining)
			assertClose(t, "BudgetRangeQuery", instant(t, q, BudgetRangeQuery(sc.slo)), sc.remaining)

			for _, ar := range group.AlertingRules() {
				key := ar.Labels().Get("long") + "/" + ar.Labels().Get("short")
				want, ok := sc.firing[key]
				if !ok {
					t.Fatalf("unexpected alert rule %s", key)
				}
				if got := ar.State() == rules.StateFiring; got != want {
					t.Errorf("alert %s (severity %s) firing = %v, want %v", key, ar.Labels().Get("severity"), got, want)
				}
				for _, a := range ar.ActiveAlerts() {
					if a.Labels.Get("slo") != sc.slo.Name || a.Labels.Get("service") != sc.slo.Service {
						t.Errorf("alert %s has labels %s, want slo and service of the SLO", key, a.Labels)
					}
				}
			}

			st, err := Status(ctx, q, sc.slo, evalT)
			if err != nil {
				t.Fatal(err)
			}
			checkStatus(t, st, sc, SourceRecorded)

			// The same data without any rule history: Status computes
			// every number from the SLI's own queries. Over 30d of raw
			// data the error ratio is 120/144000 in the first scenario,
			// which is again 1/1200.
			raw := openDB(t)
			loadSeries(t, raw, sc.series)
			st, err = Status(ctx, engineQuery(engine, raw), sc.slo, evalT)
			if err != nil {
				t.Fatal(err)
			}
			checkStatus(t, st, sc, SourceRaw)
		})
	}
}

// TestWindowRatioWeighsByTraffic shows why the window-long ratio sums
// rates instead of averaging 5m ratios (as Sloth does): a quiet last hour
// with half its requests failing must count for its few requests.
func TestWindowRatioWeighsByTraffic(t *testing.T) {
	s := scenarios()[0].slo
	// 1000 requests a minute without errors, then from minute 1381 on
	// 20 a minute, 10 of them failing.
	series := `
		http_requests_total{code="200"} 1000000+1000x1380 2380010+10x59
		http_requests_total{code="500"} 1000x1380 1010+10x59`
	// Recorded: 23 hourly evaluations saw 4 increments of 1000 requests,
	// the one at 1440m 4 increments of 20 with 10 errors each: 40 errors
	// in 92080 requests, 1/2302. (Averaging the 24 ratios would give
	// 0.5/24 = 1/48, and a budget overspent twentyfold.) Raw: 600 errors
	// in the day's 1380*1000 + 60*20 = 1381200 requests, again 1/2302.
	const ratio = 1.0 / 2302
	ctx := context.Background()
	db := openDB(t)
	loadSeries(t, db, series)
	engine := newEngine(t)
	group := loadGroup(t, s, db, engine)
	for ts := origin.Add(evalStep); !ts.After(evalT); ts = ts.Add(evalStep) {
		group.Eval(ctx, ts)
	}
	q := engineQuery(engine, db)
	assertClose(t, "recorded 30d error ratio", instant(t, q, ErrorRatioRecord+"30d"+s.selector()), ratio)
	assertClose(t, "recorded budget remaining", instant(t, q, RemainingRecord+s.selector()), 1-ratio/0.001)

	raw := openDB(t)
	loadSeries(t, raw, series)
	st, err := Status(ctx, engineQuery(engine, raw), s, evalT)
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "raw status error ratio", deref(st.ErrorRatio), ratio)
}

func checkStatus(t *testing.T, st SLOStatus, sc scenario, source string) {
	t.Helper()
	if len(st.BurnRates) != len(sc.burn) {
		t.Fatalf("%s: %d burn rates, want %d", source, len(st.BurnRates), len(sc.burn))
	}
	for _, b := range st.BurnRates {
		assertClose(t, source+" status burn rate "+b.Window, deref(b.Value), sc.burn[b.Window])
		if b.Source != source {
			t.Errorf("burn rate %s read from %s, want %s", b.Window, b.Source, source)
		}
	}
	if st.WindowSource != source {
		t.Errorf("window ratio read from %s, want %s", st.WindowSource, source)
	}
	assertClose(t, source+" status error ratio", deref(st.ErrorRatio), sc.windowRatio)
	assertClose(t, source+" status SLI", deref(st.SLI), 1-sc.windowRatio)
	assertClose(t, source+" status budget remaining", deref(st.ErrorBudgetRemaining), sc.remaining)
	assertClose(t, source+" status events", deref(st.Events), sc.events)
	assertClose(t, source+" status error events", deref(st.ErrorEvents), sc.events*sc.windowRatio)
	assertClose(t, source+" status budget events", deref(st.ErrorBudgetEvents), sc.events*st.ErrorBudget)
	assertClose(t, "objective", st.Objective, sc.slo.Objective/100)
	for _, a := range st.Alerts {
		key := a.LongWindow + "/" + a.ShortWindow
		if a.Holds != sc.firing[key] {
			t.Errorf("%s: status says alert %s holds = %v, want %v", source, key, a.Holds, sc.firing[key])
		}
	}
}

func TestStatusWithoutData(t *testing.T) {
	sc := scenarios()[0]
	engine := newEngine(t)
	st, err := Status(context.Background(), engineQuery(engine, openDB(t)), sc.slo, evalT)
	if err != nil {
		t.Fatal(err)
	}
	if st.SLI != nil || st.ErrorBudgetRemaining != nil || st.Events != nil {
		t.Errorf("without data SLI, remaining and events should be null, got %v %v %v", st.SLI, st.ErrorBudgetRemaining, st.Events)
	}
	for _, b := range st.BurnRates {
		if b.Value != nil {
			t.Errorf("burn rate %s = %v without data", b.Window, *b.Value)
		}
	}
	for _, a := range st.Alerts {
		if a.Holds {
			t.Errorf("alert %s/%s holds without data", a.LongWindow, a.ShortWindow)
		}
	}
	// encoding/json refuses NaN: missing numbers must come out as null.
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"sli":null`, `"error_budget_remaining":null`, `"objective":0.999`, `"error_budget":0.001`,
		`"window":"30d"`, `"burn_rates":[{"window":"5m","value":null,"source":"raw"}`, `"long_window":"1h","short_window":"5m","threshold":14.4,"holds":false`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s:\n%s", want, b)
		}
	}
}

func TestStatusRefusesManySeries(t *testing.T) {
	s := scenarios()[0].slo
	s.SLI.Events = &EventsSLI{
		Good:  `sum by (code) (rate(http_requests_total{code!~"5.."}[{{.window}}]))`,
		Total: `sum by (code) (rate(http_requests_total[{{.window}}]))`,
	}
	db := openDB(t)
	loadSeries(t, db, `
		http_requests_total{code="200"} 0+10x60
		http_requests_total{code="201"} 0+10x60`)
	engine := newEngine(t)
	_, err := Status(context.Background(), engineQuery(engine, db), s, origin.Add(time.Hour))
	if err == nil || !strings.Contains(err.Error(), "returns 2 series") {
		t.Fatalf("got %v, want an error about 2 series", err)
	}
}

func assertClose(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.IsNaN(got) || math.Abs(got-want) > 1e-9*math.Max(math.Abs(want), 1e-3) {
		t.Errorf("%s = %.15g, want %.15g", what, got, want)
	}
}

func deref(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

func openDB(t *testing.T) *tsdb.DB {
	t.Helper()
	opts := tsdb.DefaultOptions()
	// The rules write their results at times before the last loaded
	// sample; a head spanning 10 days accepts them.
	opts.MinBlockDuration = (10 * 24 * time.Hour).Milliseconds()
	opts.MaxBlockDuration = opts.MinBlockDuration
	db, err := tsdb.Open(t.TempDir(), nil, nil, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// loadSeries appends series in promqltest's notation, one sample per
// minute from origin.
func loadSeries(t *testing.T, db *tsdb.DB, text string) {
	t.Helper()
	app := db.Appender(context.Background())
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		ls, vals, err := parser.ParseSeriesDesc(line)
		if err != nil {
			t.Fatalf("series %q: %v", line, err)
		}
		for i, v := range vals {
			if v.Omitted {
				continue
			}
			ts := origin.Add(time.Duration(i) * time.Minute).UnixMilli()
			if _, err := app.Append(0, ls, ts, v.Value); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
}

func newEngine(t *testing.T) *promql.Engine {
	e := promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	t.Cleanup(func() { e.Close() })
	return e
}

// loadGroup writes the SLO's rule file and loads it the way the ruler
// does, through rules.Manager.
func loadGroup(t *testing.T, s SLO, db *tsdb.DB, engine *promql.Engine) *rules.Group {
	t.Helper()
	data, err := RuleFile([]SLO{s})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "slo.rules.yml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	m := rules.NewManager(&rules.ManagerOptions{
		Appendable: db,
		Queryable:  db,
		QueryFunc:  rules.EngineQueryFunc(engine, db),
		NotifyFunc: func(context.Context, string, ...*rules.Alert) {},
		Context:    context.Background(),
		Logger:     slog.New(slog.DiscardHandler),
	})
	groups, errs := m.LoadGroups(time.Duration(EvalInterval), labels.EmptyLabels(), "", nil, false, path)
	if len(errs) > 0 {
		t.Fatalf("rule manager refused the compiled rules: %v", errs)
	}
	if len(groups) != 1 {
		t.Fatalf("got %d groups, want 1", len(groups))
	}
	for _, g := range groups {
		if g.Interval() != time.Duration(EvalInterval) {
			t.Errorf("group interval %v, want %v", g.Interval(), EvalInterval)
		}
		return g
	}
	return nil
}

func engineQuery(engine *promql.Engine, db *tsdb.DB) QueryFunc {
	return func(ctx context.Context, expr string, ts time.Time) (model.Vector, error) {
		q, err := engine.NewInstantQuery(ctx, db, nil, expr, ts)
		if err != nil {
			return nil, err
		}
		defer q.Close()
		res := q.Exec(ctx)
		if res.Err != nil {
			return nil, res.Err
		}
		vec, err := res.Vector()
		if err != nil {
			return nil, err
		}
		out := make(model.Vector, 0, len(vec))
		for _, s := range vec {
			m := model.Metric{}
			s.Metric.Range(func(l labels.Label) { m[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
			out = append(out, &model.Sample{Metric: m, Value: model.SampleValue(s.F), Timestamp: model.Time(s.T)})
		}
		return out, nil
	}
}

// instant is the single value of expr at evalT.
func instant(t *testing.T, q QueryFunc, expr string) float64 {
	t.Helper()
	vec, err := q(context.Background(), expr, evalT)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	if len(vec) != 1 {
		t.Fatalf("%s: %d series, want 1", expr, len(vec))
	}
	return float64(vec[0].Value)
}
