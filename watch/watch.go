package watch

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"

	"github.com/vigilhq/vigil/anomaly"
)

// RangeFunc evaluates expr over [start, end] every step, as a PromQL
// range query does.
type RangeFunc func(ctx context.Context, expr string, start, end time.Time, step time.Duration) (promql.Matrix, error)

// Options configure a Watcher.
type Options struct {
	Appendable storage.Appendable
	// Query evaluates an anomaly rule's expression at one instant.
	Query rules.QueryFunc
	// Range, with Backfill > 0, warms a rule that has no saved state
	// from the stored history of its expression at its first evaluation.
	Range    RangeFunc
	Backfill time.Duration
	// StateFile keeps the detectors across restarts ("" keeps nothing).
	StateFile string
	// MaxSeriesPerRule bounds the series (and so the memory) of one rule;
	// series beyond it are not watched and are counted. Default 1000.
	MaxSeriesPerRule int
	// Forget drops a series' detector once it has been absent this long
	// (default 7 days).
	Forget time.Duration
	// DefaultInterval is the built-in rules' evaluation interval
	// (default 1m).
	DefaultInterval time.Duration
	Logger          *slog.Logger
	Registerer      prometheus.Registerer
}

// Watcher evaluates anomaly rules. It is the rule manager's group loader
// (so anomaly rules live in rule files beside Prometheus's rules) and
// runs each group's anomaly rules at the start of the group's evaluation,
// before the generated alerting rules read the scores. It is safe for
// concurrent use: groups evaluate in their own goroutines.
type Watcher struct {
	o Options

	mu     sync.Mutex
	groups map[string][]*Rule     // group key → its anomaly rules, in file order
	rules  map[string]*ruleState  // rule name → state
	saved  map[string]*savedState // read at start, waiting for their rules

	evals, failures, dropped *prometheus.CounterVec
}

type ruleState struct {
	mu       sync.Mutex
	rule     *Rule
	interval time.Duration
	fp       string
	cfg      anomaly.Config
	series   map[uint64]*seriesState
	ready    bool // restored or backfilled (or nothing to do)
	lastEval time.Time
	lastErr  string
	dropped  bool
	// prior are the series of the rule before it changed, to be marked
	// stale at the first evaluation that does not write them.
	prior []*seriesState
}

type seriesState struct {
	labels  labels.Labels // the expression's labels without __name__, plus anomaly_rule
	det     *anomaly.Detector
	last    time.Time
	value   float64
	res     anomaly.Result
	written bool // has samples that need a staleness marker when it goes away
	// out are the five output series' labels and the store's references
	// to them, made at the first append and reused: an evaluation then
	// builds no labels.
	out  [len(seriesNames)]labels.Labels
	refs [len(seriesNames)]storage.SeriesRef
	// since is when the current incident's first anomalous point was;
	// zero when the series is inside its band.
	since, lastAnomaly time.Time
}

// New returns a Watcher, with the detectors saved in StateFile ready for
// their rules. A state file that cannot be read is logged and ignored:
// the rules then start from the stored history (Backfill) or cold.
func New(o Options) *Watcher {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxSeriesPerRule <= 0 {
		o.MaxSeriesPerRule = 1000
	}
	if o.DefaultInterval <= 0 {
		o.DefaultInterval = time.Minute
	}
	if o.Forget <= 0 {
		o.Forget = 7 * 24 * time.Hour
	}
	w := &Watcher{
		o:      o,
		groups: make(map[string][]*Rule),
		rules:  make(map[string]*ruleState),
		saved:  make(map[string]*savedState),
		evals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_anomaly_rule_evaluations_total", Help: "Evaluations of anomaly rules.",
		}, []string{"rule"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_anomaly_rule_evaluation_failures_total", Help: "Evaluations of anomaly rules whose expression failed.",
		}, []string{"rule"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_anomaly_series_dropped_total", Help: "Series an anomaly rule's expression returned beyond its series limit, per evaluation.",
		}, []string{"rule"}),
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(w.evals, w.failures, w.dropped, watchedCollector{w})
	}
	if o.StateFile != "" {
		saved, err := readState(o.StateFile)
		if err != nil {
			o.Logger.Warn("cannot read the saved anomaly detectors; rules start from the stored history", "file", o.StateFile, "err", err)
		}
		for _, s := range saved {
			w.saved[s.name] = s
		}
	}
	return w
}

// Load is the rules.GroupLoader's: it parses a rule file (or the built-in
// defaults) and stages its anomaly rules for its groups.
func (w *Watcher) Load(identifier string, _ bool, _ model.ValidationScheme) (*rulefmt.RuleGroups, []error) {
	var (
		rgs   *rulefmt.RuleGroups
		found []*Rule
		errs  []error
	)
	if identifier == DefaultRulesFile {
		rgs, found, errs = Parse(identifier, []byte(DefaultRules(w.o.DefaultInterval)))
	} else {
		rgs, found, errs = ParseFile(identifier)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for k := range w.groups {
		if strings.HasPrefix(k, identifier+";") {
			delete(w.groups, k)
		}
	}
	for _, r := range found {
		k := rules.GroupKey(r.File, r.Group)
		w.groups[k] = append(w.groups[k], r)
	}
	return rgs, nil
}

// DefaultRules is the built-in rule file for an evaluation interval.
func DefaultRules(interval time.Duration) string {
	return fmt.Sprintf(defaultRules, model.Duration(interval))
}

// Builtin is the built-in anomaly rules, as loaded with default_rules.
func (w *Watcher) Builtin() []*Rule {
	_, found, errs := Parse(DefaultRulesFile, []byte(DefaultRules(w.o.DefaultInterval)))
	if len(errs) > 0 {
		panic(fmt.Sprintf("BUG: the built-in anomaly rules do not parse: %v", errs))
	}
	return found
}

// Parse is the rules.GroupLoader's.
func (w *Watcher) Parse(query string) (parser.Expr, error) { return parser.ParseExpr(query) }

// Retain forgets the groups and rules that are not among the loaded
// groups' keys, after the rule manager applied an update.
func (w *Watcher) Retain(groupKeys []string) {
	w.markStale(w.retain(groupKeys))
}

// retain does Retain's bookkeeping and returns the dropped rules' series.
func (w *Watcher) retain(groupKeys []string) []*seriesState {
	w.mu.Lock()
	defer w.mu.Unlock()
	keep := make(map[string]bool, len(groupKeys))
	for _, k := range groupKeys {
		keep[k] = true
	}
	names := make(map[string]bool)
	for k, rs := range w.groups {
		if !keep[k] {
			delete(w.groups, k)
			continue
		}
		for _, r := range rs {
			names[r.Name] = true
		}
	}
	var gone []*seriesState
	for n, st := range w.rules {
		if !names[n] {
			delete(w.rules, n)
			gone = append(gone, st.seriesList()...)
		}
	}
	return gone
}

// seriesList is the rule's series, under its lock.
func (st *ruleState) seriesList() []*seriesState {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]*seriesState, 0, len(st.series))
	for _, ss := range st.series {
		out = append(out, ss)
	}
	return out
}

// Rules are the loaded anomaly rules, by group key then file order.
func (w *Watcher) Rules() []*Rule {
	w.mu.Lock()
	defer w.mu.Unlock()
	keys := make([]string, 0, len(w.groups))
	for k := range w.groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []*Rule
	for _, k := range keys {
		out = append(out, w.groups[k]...)
	}
	return out
}

// Evaluate runs the group's anomaly rules at ts and then the group's
// Prometheus rules with next (rules.DefaultEvalIterationFunc when nil).
// It is the group's evaluation iteration function.
func (w *Watcher) Evaluate(next rules.GroupEvalIterationFunc) rules.GroupEvalIterationFunc {
	if next == nil {
		next = rules.DefaultEvalIterationFunc
	}
	return func(ctx context.Context, g *rules.Group, ts time.Time) {
		w.mu.Lock()
		rs := w.groups[rules.GroupKey(g.File(), g.Name())]
		w.mu.Unlock()
		for _, r := range rs {
			w.evalRule(ctx, r, g.Interval(), ts)
		}
		next(ctx, g, ts)
	}
}

// stateFor returns the rule's state, new or reset when the rule or its
// interval changed, restored from the saved state when that matches.
func (w *Watcher) stateFor(r *Rule, interval time.Duration) *ruleState {
	w.mu.Lock()
	defer w.mu.Unlock()
	fp := r.fingerprint(interval)
	st := w.rules[r.Name]
	if st != nil && st.fp == fp {
		st.rule = r
		return st
	}
	var prior []*seriesState
	if st != nil {
		// The rule changed: its detectors start afresh, and the old
		// series its next evaluation does not write again end then.
		prior = st.seriesList()
	}
	st = &ruleState{rule: r, interval: interval, fp: fp, cfg: r.Config(interval), series: make(map[uint64]*seriesState), prior: prior}
	if s := w.saved[r.Name]; s != nil {
		delete(w.saved, r.Name)
		if s.fp == fp {
			for _, ss := range s.series {
				d := anomaly.New(st.cfg)
				if err := d.UnmarshalBinary(ss.det); err != nil {
					w.o.Logger.Warn("a saved anomaly detector does not load; its series starts again", "rule", r.Name, "series", ss.labels.String(), "err", err)
					continue
				}
				st.series[ss.labels.Hash()] = &seriesState{labels: ss.labels, det: d, last: ss.last, value: ss.value}
			}
			st.ready = true
		}
	}
	w.rules[r.Name] = st
	return st
}

func (w *Watcher) evalRule(ctx context.Context, r *Rule, interval time.Duration, ts time.Time) {
	st := w.stateFor(r, interval)
	st.mu.Lock()
	defer st.mu.Unlock()
	w.evals.WithLabelValues(r.Name).Inc()
	if !st.ready {
		st.ready = true
		if w.o.Backfill > 0 && w.o.Range != nil {
			if err := w.backfill(ctx, st, ts); err != nil {
				w.o.Logger.Warn("cannot warm an anomaly rule from the stored history; it starts cold", "rule", r.Name, "err", err)
			}
		}
	}
	vec, err := w.o.Query(ctx, r.Expr, ts)
	st.lastEval = ts
	if err != nil {
		st.lastErr = err.Error()
		w.failures.WithLabelValues(r.Name).Inc()
		w.o.Logger.Warn("anomaly rule evaluation failed", "rule", r.Name, "err", err)
		return
	}
	st.lastErr = ""
	app := w.o.Appendable.Appender(ctx)
	seen := make(map[uint64]bool, len(vec))
	var over int
	for _, s := range vec {
		if s.H != nil {
			continue
		}
		ss, h := w.seriesFor(st, s.Metric)
		if seen[h] {
			continue // the same labels once __name__ is gone
		}
		if ss == nil {
			over++
			continue
		}
		seen[h] = true
		if !ts.After(ss.last) {
			continue
		}
		ss.observe(r, ts, s.F)
		w.appendSeries(app, ss, ts)
	}
	for _, ss := range st.prior {
		if !seen[ss.labels.Hash()] && ss.written {
			w.appendStale(app, ss, ts)
		}
	}
	st.prior = nil
	for h, ss := range st.series {
		if seen[h] {
			continue
		}
		if ss.written {
			w.appendStale(app, ss, ts)
			ss.written = false
		}
		if ts.Sub(ss.last) > w.o.Forget {
			delete(st.series, h)
		}
	}
	if over > 0 {
		w.dropped.WithLabelValues(r.Name).Add(float64(over))
		if !st.dropped {
			st.dropped = true
			w.o.Logger.Warn("an anomaly rule returns more series than it may watch; the rest are not watched", "rule", r.Name, "limit", w.o.MaxSeriesPerRule)
		}
	}
	if err := app.Commit(); err != nil {
		w.o.Logger.Warn("cannot store an anomaly rule's series", "rule", r.Name, "err", err)
	}
}

func (ss *seriesState) observe(r *Rule, ts time.Time, v float64) {
	ss.res = ss.det.Observe(ts, v)
	ss.last, ss.value = ts, v
	switch {
	case r.Alerting(ss.res, v):
		if ss.since.IsZero() {
			ss.since = ts
		}
		ss.lastAnomaly = ts
	case !ss.since.IsZero() && ss.res.Lower <= v && v <= ss.res.Upper:
		ss.since = time.Time{} // back inside its band
	}
}

var seriesNames = [...]string{ObservedName, ExpectedName, LowerName, UpperName, ScoreName}

func (ss *seriesState) outLabels() {
	if !ss.out[0].IsEmpty() {
		return
	}
	b := labels.NewBuilder(ss.labels)
	for i, name := range seriesNames {
		ss.out[i] = b.Set(labels.MetricName, name).Labels()
	}
}

func (w *Watcher) appendSeries(app storage.Appender, ss *seriesState, ts time.Time) {
	vals := [...]float64{ss.value, ss.res.Expected, ss.res.Lower, ss.res.Upper, ss.res.Score}
	t := ts.UnixMilli()
	ss.outLabels()
	for i := range seriesNames {
		v := vals[i]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		ref, err := app.Append(ss.refs[i], ss.out[i], t, v)
		if err != nil {
			w.o.Logger.Debug("cannot append an anomaly series sample", "series", ss.out[i].String(), "err", err)
			continue
		}
		ss.refs[i] = ref
		ss.written = true
	}
}

func (w *Watcher) appendStale(app storage.Appender, ss *seriesState, ts time.Time) {
	ss.outLabels()
	for i := range seriesNames {
		_, _ = app.Append(ss.refs[i], ss.out[i], ts.UnixMilli(), math.Float64frombits(value.StaleNaN))
	}
}

// markStale ends the series of detectors that are dropped (their rule
// removed or changed), so they do not linger for the lookback.
func (w *Watcher) markStale(series []*seriesState) {
	if len(series) == 0 || w.o.Appendable == nil {
		return
	}
	app := w.o.Appendable.Appender(context.Background())
	now := time.Now()
	for _, ss := range series {
		if ss.written {
			w.appendStale(app, ss, maxTime(now, ss.last.Add(time.Millisecond)))
		}
	}
	if err := app.Commit(); err != nil {
		w.o.Logger.Warn("cannot mark dropped anomaly series stale", "err", err)
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// seriesFor finds or starts the detector of the expression's series m and
// returns it with its hash; nil when the rule watches as many series as
// it may.
func (w *Watcher) seriesFor(st *ruleState, m labels.Labels) (*seriesState, uint64) {
	ls := seriesLabels(m, st.rule.Name)
	h := ls.Hash()
	if ss := st.series[h]; ss != nil {
		return ss, h
	}
	if len(st.series) >= w.o.MaxSeriesPerRule {
		return nil, h
	}
	ss := &seriesState{labels: ls, det: anomaly.New(st.cfg)}
	st.series[h] = ss
	return ss, h
}

func seriesLabels(m labels.Labels, rule string) labels.Labels {
	b := labels.NewBuilder(m)
	b.Del(labels.MetricName)
	b.Set(RuleLabel, rule)
	return b.Labels()
}

// backfill feeds the rule's detectors the expression's values over the
// Backfill window before ts, a day at a time so memory stays bounded.
func (w *Watcher) backfill(ctx context.Context, st *ruleState, ts time.Time) error {
	step := st.interval
	if step <= 0 {
		return nil
	}
	start := ts.Add(-w.o.Backfill).Truncate(step)
	end := ts.Add(-step)
	const chunk = 24 * time.Hour
	var fed int
	for from := start; !from.After(end); from = from.Add(chunk) {
		to := from.Add(chunk - step)
		if to.After(end) {
			to = end
		}
		m, err := w.o.Range(ctx, st.rule.Expr, from, to, step)
		if err != nil {
			return err
		}
		for _, s := range m {
			if len(s.Histograms) > 0 && len(s.Floats) == 0 {
				continue
			}
			ss, _ := w.seriesFor(st, s.Metric)
			if ss == nil {
				continue
			}
			for _, p := range s.Floats {
				pt := time.UnixMilli(p.T)
				if !pt.After(ss.last) {
					continue
				}
				ss.observe(st.rule, pt, p.F)
				fed++
			}
		}
	}
	if fed > 0 {
		w.o.Logger.Info("anomaly rule warmed from the stored history", "rule", st.rule.Name, "series", len(st.series), "points", fed, "since", start.UTC().Format(time.RFC3339))
	}
	return nil
}

// watchedCollector exports how many series each rule watches and the
// detectors' memory, read when scraped.
type watchedCollector struct{ w *Watcher }

var (
	watchedDesc = prometheus.NewDesc("vigil_anomaly_watched_series", "Series an anomaly rule watches (one detector each).", []string{"rule"}, nil)
	stateDesc   = prometheus.NewDesc("vigil_anomaly_state_bytes", "Bytes of detector state an anomaly rule keeps (the marshalled size).", []string{"rule"}, nil)
)

func (c watchedCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- watchedDesc
	ch <- stateDesc
}

func (c watchedCollector) Collect(ch chan<- prometheus.Metric) {
	c.w.mu.Lock()
	sts := make([]*ruleState, 0, len(c.w.rules))
	for _, st := range c.w.rules {
		sts = append(sts, st)
	}
	c.w.mu.Unlock()
	for _, st := range sts {
		st.mu.Lock()
		n := len(st.series)
		name := st.rule.Name
		st.mu.Unlock()
		ch <- prometheus.MustNewConstMetric(watchedDesc, prometheus.GaugeValue, float64(n), name)
		ch <- prometheus.MustNewConstMetric(stateDesc, prometheus.GaugeValue, float64(n*anomaly.StateSize), name)
	}
}

// Run saves the detectors every interval until ctx is done, and once more
// then, so a restart resumes where the server stopped.
func (w *Watcher) Run(ctx context.Context, every time.Duration) error {
	if w.o.StateFile == "" {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return w.Save()
		case <-t.C:
			if err := w.Save(); err != nil {
				w.o.Logger.Warn("cannot save the anomaly detectors", "err", err)
			}
		}
	}
}
