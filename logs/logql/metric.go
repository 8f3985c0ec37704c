package logql

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigilhq/vigil/storage/logs"
)

// maxSteps bounds the steps of a range query, as Prometheus and Loki do.
const maxSteps = 11000

// maxRangeCells bounds series × time intervals a range aggregation
// keeps (32 bytes each).
const maxRangeCells = 20_000_000

// sample is one value of a vector at a step.
type sample struct {
	m labels.Labels
	v float64
}

// value is what an expression evaluates to at every step: a scalar
// (scalar set, one per step) or a vector (vec, one per step).
type value struct {
	scalar []float64
	vec    [][]sample
}

type evaluator struct {
	e     *Engine
	ctx   context.Context
	steps []int64 // Unix ns
	stats *Stats
}

func (e *Engine) queryMetric(ctx context.Context, expr Expr, p Params) (Result, error) {
	start, end := p.Start.UnixNano(), p.End.UnixNano()
	instant := p.Step <= 0 || start == end
	var steps []int64
	if instant {
		steps = []int64{end}
	} else {
		if n := (end-start)/int64(p.Step) + 1; n > maxSteps {
			return Result{}, fmt.Errorf("cannot evaluate query: %d steps exceed the maximum of %d; raise the step or shorten the time range", n, maxSteps)
		}
		for t := start; t <= end; t += int64(p.Step) {
			steps = append(steps, t)
		}
	}
	var res Result
	ev := &evaluator{e: e, ctx: ctx, steps: steps, stats: &res.Stats}
	v, err := ev.eval(expr)
	if err != nil {
		return Result{}, err
	}
	if v.scalar != nil {
		if instant {
			res.Data = Scalar{T: end / 1e6, V: v.scalar[0]}
			return res, nil
		}
		s := Series{Metric: labels.EmptyLabels()}
		for i, t := range steps {
			s.Points = append(s.Points, Point{T: t / 1e6, V: v.scalar[i]})
		}
		res.Data = Matrix{s}
		return res, nil
	}
	if instant {
		vec := make(Vector, 0, len(v.vec[0]))
		for _, s := range v.vec[0] {
			vec = append(vec, Sample{Metric: s.m, T: end / 1e6, V: s.v})
		}
		if err := ev.checkSeries(len(vec)); err != nil {
			return Result{}, err
		}
		if err := checkDuplicates(v.vec[0]); err != nil {
			return Result{}, err
		}
		if !endsInSort(expr) {
			slices.SortFunc(vec, func(a, b Sample) int { return labels.Compare(a.Metric, b.Metric) })
		}
		res.Data = vec
		return res, nil
	}
	idx := make(map[string]int)
	var m Matrix
	var kb []byte
	for i, t := range steps {
		if err := checkDuplicates(v.vec[i]); err != nil {
			return Result{}, err
		}
		for _, s := range v.vec[i] {
			kb = s.m.Bytes(kb[:0])
			j, ok := idx[string(kb)]
			if !ok {
				j = len(m)
				idx[string(kb)] = j
				m = append(m, Series{Metric: s.m})
				if err := ev.checkSeries(len(m)); err != nil {
					return Result{}, err
				}
			}
			m[j].Points = append(m[j].Points, Point{T: t / 1e6, V: s.v})
		}
	}
	slices.SortFunc(m, func(a, b Series) int { return labels.Compare(a.Metric, b.Metric) })
	res.Data = m
	return res, nil
}

func endsInSort(e Expr) bool {
	v, ok := e.(*VectorAggExpr)
	return ok && (v.Op == OpSort || v.Op == OpSortDesc)
}

func (ev *evaluator) checkSeries(n int) error {
	if n > ev.e.o.MaxSeries {
		return fmt.Errorf("cannot evaluate query: maximum of series (%d) reached for a single query; narrow the stream selector, aggregate with sum by (...) or raise Options.MaxSeries (max_query_series)", ev.e.o.MaxSeries)
	}
	return nil
}

func checkDuplicates(vec []sample) error {
	if len(vec) < 2 {
		return nil
	}
	seen := make(map[string]struct{}, len(vec))
	var kb []byte
	for _, s := range vec {
		kb = s.m.Bytes(kb[:0])
		if _, ok := seen[string(kb)]; ok {
			return fmt.Errorf("cannot evaluate query: result has two series with the labels %s", s.m)
		}
		seen[string(kb)] = struct{}{}
	}
	return nil
}

func (ev *evaluator) eval(e Expr) (value, error) {
	switch x := e.(type) {
	case *LiteralExpr:
		s := make([]float64, len(ev.steps))
		for i := range s {
			s[i] = x.Value
		}
		return value{scalar: s}, nil
	case *VectorExpr:
		vec := make([][]sample, len(ev.steps))
		for i := range vec {
			vec[i] = []sample{{m: labels.EmptyLabels(), v: x.Value}}
		}
		return value{vec: vec}, nil
	case *RangeAggExpr:
		return ev.rangeAgg(x, x.Grouping)
	case *VectorAggExpr:
		return ev.vectorAgg(x)
	case *BinaryExpr:
		return ev.binary(x)
	case *LabelReplaceExpr:
		return ev.labelReplace(x)
	case *LogExpr:
		return value{}, fmt.Errorf("cannot evaluate query: a log query cannot be part of a metric query")
	}
	panic(fmt.Sprintf("BUG: unknown expression %T", e))
}

// acc accumulates the samples of one series in one time interval.
type acc struct {
	n float64 // number of samples
	a float64 // sum, min, max, first/last value, or mean
	b float64 // M2 for variance
	t int64   // time of the first/last value
}

func (x *acc) merge(op string, y acc) {
	if y.n == 0 {
		return
	}
	if x.n == 0 {
		*x = y
		return
	}
	switch op {
	case OpMinOverTime:
		x.a = min(x.a, y.a)
	case OpMaxOverTime:
		x.a = max(x.a, y.a)
	case OpFirstOverTime:
		if y.t < x.t || (y.t == x.t && y.a < x.a) {
			x.a, x.t = y.a, y.t
		}
	case OpLastOverTime:
		if y.t > x.t || (y.t == x.t && y.a > x.a) {
			x.a, x.t = y.a, y.t
		}
	case OpStdvarOverTime, OpStddevOverTime:
		n := x.n + y.n
		d := y.a - x.a
		x.b += y.b + d*d*x.n*y.n/n
		x.a += d * y.n / n
	default:
		x.a += y.a
	}
	x.n += y.n
}

func (x *acc) value(r *RangeAggExpr) float64 {
	sec := r.Range.Seconds()
	switch r.Op {
	case OpCountOverTime:
		return x.n
	case OpRate:
		if r.Unwrap != nil {
			return x.a / sec
		}
		return x.n / sec
	case OpBytesRate:
		return x.a / sec
	case OpAvgOverTime:
		return x.a / x.n
	case OpStdvarOverTime:
		return x.b / x.n
	case OpStddevOverTime:
		return math.Sqrt(x.b / x.n)
	}
	return x.a // bytes_over_time, sum, min, max, first, last
}

type rangeSeries struct {
	m       labels.Labels
	accs    []acc // per interval; [0] unused
	samples []acc // quantile_over_time: raw samples (a value, t time)
}

// rangeAgg evaluates a range aggregation. Samples are accumulated per
// series into the intervals between consecutive window boundaries, so
// each line is read once whatever the step and range; g groups the
// series (the aggregation's by/without, or a sum/min/max pushed down).
func (ev *evaluator) rangeAgg(r *RangeAggExpr, g *Grouping) (value, error) {
	rng, off := int64(r.Range), int64(r.Offset)
	bounds := make([]int64, 0, 2*len(ev.steps))
	for _, t := range ev.steps {
		bounds = append(bounds, t-off-rng, t-off)
	}
	slices.Sort(bounds)
	bounds = slices.Compact(bounds)
	lo, hi := bounds[0], bounds[len(bounds)-1]

	pl := newPipeline(r.Log)
	contains, lbls := hints(r.Log.Stages)
	sel := Selection{Matchers: r.Log.Matchers, Start: lo + 1, End: hi, LineContains: contains, Labels: lbls}
	series := make(map[string]*rangeSeries)
	var (
		lbuf, gbuf []labels.Label
		kbuf       []byte
		evalErr    error
	)
	quantile := r.Op == OpQuantileOverTime
	seriesFor := func(key []labels.Label) *rangeSeries {
		kbuf = appendKey(kbuf[:0], key)
		rs, ok := series[string(kbuf)]
		if !ok {
			if (len(series)+1)*len(bounds) > maxRangeCells {
				evalErr = fmt.Errorf("cannot evaluate query: %s keeps more than %d series × steps; narrow the selector, raise the step or aggregate with sum by (...)", r.Op, maxRangeCells)
				return nil
			}
			rs = &rangeSeries{m: toLabels(key)}
			if !quantile {
				rs.accs = make([]acc, len(bounds))
			}
			series[string(kbuf)] = rs
		}
		return rs
	}
	fast := newFastGrouping(r, g, quantile)
	if fast != nil {
		sel.Light = fast.light
		sel.LightBody = r.Op == OpBytesOverTime || r.Op == OpBytesRate
	}
	var (
		lastStream string
		cur        *streamGroup
	)
	err := ev.e.scan(ev.ctx, sel, ev.stats, func(rec *logs.Record) {
		if evalErr != nil {
			return
		}
		ts := rec.Time.UnixNano()
		if ts <= lo || ts > hi {
			return
		}
		if fast != nil {
			if cur == nil || rec.Stream != lastStream {
				cur, lastStream = fast.of(rec.Stream), rec.Stream
			}
			if cur.ok {
				li := 0
				if cur.lvl {
					li = levelIndex(rec.SeverityNumber)
				}
				rs := cur.rs[li]
				if rs == nil {
					if rs = seriesFor(cur.key(gbuf[:0], rec.SeverityNumber)); rs == nil {
						return
					}
					cur.rs[li] = rs
				}
				v := 1.0
				if sel.LightBody {
					v = float64(len(rec.Body))
				}
				i, _ := slices.BinarySearch(bounds, ts)
				rs.accs[i].merge(r.Op, acc{n: 1, a: v, t: ts})
				return
			}
		}
		if !pl.process(rec) {
			return
		}
		v := 1.0
		switch {
		case r.Unwrap != nil:
			u := r.Unwrap
			s, _ := pl.lbls.get(u.Label)
			if s == "" {
				return // Loki skips lines without the label
			}
			pl.lbls.del(u.Label)
			var err error
			switch u.Conv {
			case "":
				v, err = parseLabelFloat(s)
			case "duration", "duration_seconds":
				v, err = durationSeconds(s)
			case "bytes":
				v, err = parseBytes(s)
			}
			if err != nil {
				v = 0
				pl.lbls.setErr(errSampleExtraction, err.Error())
			}
			for _, f := range u.Filters {
				if !evalFilter(f, &pl.lbls) {
					return
				}
			}
		case r.Op == OpBytesOverTime || r.Op == OpBytesRate:
			v = float64(len(pl.line))
		}
		if kind, _ := pl.lbls.get(ErrorLabel); kind != "" {
			lbuf = pl.lbls.sorted(lbuf)
			evalErr = pipelineError(kind, toLabels(lbuf))
			return
		}
		lbuf = pl.lbls.sorted(lbuf)
		key := lbuf
		if g != nil {
			gbuf = groupSlice(gbuf[:0], lbuf, g)
			key = gbuf
		}
		rs := seriesFor(key)
		if rs == nil {
			return
		}
		one := acc{n: 1, a: v, t: ts}
		if quantile {
			rs.samples = append(rs.samples, one)
			return
		}
		i, _ := slices.BinarySearch(bounds, ts)
		rs.accs[i].merge(r.Op, one)
	})
	if err != nil {
		return value{}, err
	}
	if evalErr != nil {
		return value{}, evalErr
	}
	out := make([][]sample, len(ev.steps))
	ordered := make([]*rangeSeries, 0, len(series))
	for _, rs := range series {
		ordered = append(ordered, rs)
		slices.SortFunc(rs.samples, func(a, b acc) int {
			if a.t != b.t {
				if a.t < b.t {
					return -1
				}
				return 1
			}
			if a.a < b.a {
				return -1
			} else if a.a > b.a {
				return 1
			}
			return 0
		})
	}
	slices.SortFunc(ordered, func(a, b *rangeSeries) int { return labels.Compare(a.m, b.m) })
	var vals []float64
	for k, t := range ev.steps {
		from, to := t-off-rng, t-off
		i0, _ := slices.BinarySearch(bounds, from)
		i1, _ := slices.BinarySearch(bounds, to)
		hit := false
		for _, rs := range ordered {
			if quantile {
				a := sort.Search(len(rs.samples), func(i int) bool { return rs.samples[i].t > from })
				b := sort.Search(len(rs.samples), func(i int) bool { return rs.samples[i].t > to })
				if a == b {
					continue
				}
				vals = vals[:0]
				for _, s := range rs.samples[a:b] {
					vals = append(vals, s.a)
				}
				out[k] = append(out[k], sample{m: rs.m, v: quantileOf(r.Param, vals)})
				hit = true
				continue
			}
			var w acc
			for i := i0 + 1; i <= i1; i++ {
				w.merge(r.Op, rs.accs[i])
			}
			if w.n == 0 {
				continue
			}
			hit = true
			if r.Op != OpAbsentOverTime {
				out[k] = append(out[k], sample{m: rs.m, v: w.value(r)})
			}
		}
		if r.Op == OpAbsentOverTime && !hit {
			out[k] = append(out[k], sample{m: absentLabels(r.Log.Matchers), v: 1})
		}
	}
	return value{vec: out}, nil
}

// pipelineError is the error of a metric query over lines that carry a
// pipeline error, as in Loki.
func pipelineError(kind string, ls labels.Labels) error {
	return fmt.Errorf("cannot evaluate query: pipeline error %q for series %s; skip such lines with a label filter, e.g. | __error__!=%q, or all errors with | __error__=\"\" (after unwrap too)", kind, ls, kind)
}

// absentLabels are the equality matchers of a selector, as labels.
func absentLabels(ms []*labels.Matcher) labels.Labels {
	b := labels.NewScratchBuilder(len(ms))
	seen := map[string]bool{}
	for _, m := range ms {
		if m.Type == labels.MatchEqual && !seen[m.Name] {
			seen[m.Name] = true
			b.Add(m.Name, m.Value)
		}
	}
	b.Sort()
	return b.Labels()
}

// groupSlice returns the labels of src (sorted) kept by g.
func groupSlice(dst, src []labels.Label, g *Grouping) []labels.Label {
	for _, l := range src {
		if slices.Contains(g.Labels, l.Name) != g.Without {
			dst = append(dst, l)
		}
	}
	return dst
}

func groupLabels(m labels.Labels, g *Grouping) labels.Labels {
	if g == nil {
		return labels.EmptyLabels()
	}
	b := labels.NewBuilder(m)
	if g.Without {
		b.Del(g.Labels...)
	} else {
		b.Keep(g.Labels...)
	}
	return b.Labels()
}

// quantileOf is the φ-quantile of vals with linear interpolation, as
// Prometheus's quantile_over_time; vals is reordered.
func quantileOf(q float64, vals []float64) float64 {
	switch {
	case len(vals) == 0 || math.IsNaN(q):
		return math.NaN()
	case q < 0:
		return math.Inf(-1)
	case q > 1:
		return math.Inf(1)
	}
	slices.Sort(vals)
	rank := q * float64(len(vals)-1)
	lower := int(math.Floor(rank))
	upper := min(lower+1, len(vals)-1)
	w := rank - float64(lower)
	return vals[lower]*(1-w) + vals[upper]*w
}

// fastGrouping is the short way of a range aggregation with no pipeline
// stages and no unwrap whose series a pushed-down sum/min/max groups by
// labels every line of a stream gets from the stream itself (or
// detected_level, from the severity): such a line's series depends only
// on its stream and severity, so its labels are never built, and the
// source may skip its metadata (Selection.Light). Streams lacking one of
// the labels take the long way: the label may come from a line's
// structured metadata.
type fastGrouping struct {
	g       *Grouping
	streams map[string]*streamGroup
}

type streamGroup struct {
	ok   bool           // every grouping label comes from the stream or the severity
	lvl  bool           // the grouping has detected_level and the stream does not
	base []labels.Label // the stream's labels the grouping keeps, sorted
	rs   [7]*rangeSeries
}

func newFastGrouping(r *RangeAggExpr, g *Grouping, quantile bool) *fastGrouping {
	if g == nil || g.Without || len(r.Log.Stages) > 0 || r.Unwrap != nil || quantile {
		return nil
	}
	return &fastGrouping{g: g, streams: map[string]*streamGroup{}}
}

func (f *fastGrouping) light(stream string) bool { return f.of(stream).ok }

func (f *fastGrouping) of(stream string) *streamGroup {
	if sg, ok := f.streams[stream]; ok {
		return sg
	}
	sg := &streamGroup{}
	if ls, err := parseStream(stream); err == nil {
		sg.ok = true
		for _, name := range f.g.Labels {
			has := slices.ContainsFunc(ls, func(l labels.Label) bool { return l.Name == name })
			switch {
			case has:
			case name == "detected_level":
				sg.lvl = true
			default:
				sg.ok = false
			}
		}
		sg.base = groupSlice(nil, ls, f.g)
	}
	f.streams[stream] = sg
	return sg
}

// key is the group's labels for a line of the given severity.
func (sg *streamGroup) key(dst []labels.Label, severity int32) []labels.Label {
	dst = append(dst, sg.base...)
	if sg.lvl {
		dst = append(dst, labels.Label{Name: "detected_level", Value: logs.LevelOf(severity)})
		slices.SortFunc(dst, func(a, b labels.Label) int { return strings.Compare(a.Name, b.Name) })
	}
	return dst
}

// levelIndex numbers the levels logs.LevelOf names, 0..6.
func levelIndex(severity int32) int {
	if severity >= 1 && severity <= 24 {
		return int(severity-1) / 4
	}
	return 6
}

// pushdown reports whether a vector aggregation over a range
// aggregation can group the range aggregation's series directly: the
// result is the same and far fewer series are kept.
func pushdown(v *VectorAggExpr) (*RangeAggExpr, bool) {
	r, ok := v.Inner.(*RangeAggExpr)
	if !ok || r.Grouping != nil {
		return nil, false
	}
	switch v.Op {
	case OpSum:
		switch r.Op {
		case OpCountOverTime, OpRate, OpBytesOverTime, OpBytesRate, OpSumOverTime:
			return r, true
		}
	case OpMin:
		return r, r.Op == OpMinOverTime
	case OpMax:
		return r, r.Op == OpMaxOverTime
	}
	return nil, false
}

type aggGroup struct {
	m      labels.Labels
	n      float64
	a, b   float64
	top    []sample
	sorted bool
}

func (ev *evaluator) vectorAgg(v *VectorAggExpr) (value, error) {
	var in value
	var err error
	if r, ok := pushdown(v); ok {
		g := v.Grouping
		if g == nil {
			g = &Grouping{}
		}
		in, err = ev.rangeAgg(r, g)
	} else {
		in, err = ev.eval(v.Inner)
	}
	if err != nil {
		return value{}, err
	}
	out := make([][]sample, len(ev.steps))
	for k, vec := range in.vec {
		out[k] = aggregate(v, vec)
	}
	return value{vec: out}, nil
}

func aggregate(v *VectorAggExpr, vec []sample) []sample {
	switch v.Op {
	case OpSort, OpSortDesc:
		res := slices.Clone(vec)
		slices.SortStableFunc(res, func(a, b sample) int {
			c := cmpFloat(a.v, b.v)
			if v.Op == OpSortDesc {
				c = -c
			}
			if c != 0 {
				return c
			}
			return labels.Compare(a.m, b.m)
		})
		return res
	}
	groups := make(map[string]*aggGroup)
	var order []*aggGroup
	var kb []byte
	for _, s := range vec {
		gm := groupLabels(s.m, v.Grouping)
		kb = gm.Bytes(kb[:0])
		g, ok := groups[string(kb)]
		if !ok {
			g = &aggGroup{m: gm}
			groups[string(kb)] = g
			order = append(order, g)
		}
		switch v.Op {
		case OpTopK, OpBottomK:
			g.top = append(g.top, s)
			continue
		case OpMin:
			if g.n == 0 || s.v < g.a || math.IsNaN(g.a) {
				g.a = s.v
			}
		case OpMax:
			if g.n == 0 || s.v > g.a || math.IsNaN(g.a) {
				g.a = s.v
			}
		case OpStddev, OpStdvar, OpAvg:
			// Welford's running mean and M2.
			n := g.n + 1
			d := s.v - g.a
			g.a += d / n
			g.b += d * (s.v - g.a)
		default: // sum, count
			g.a += s.v
		}
		g.n++
	}
	res := make([]sample, 0, len(order))
	for _, g := range order {
		switch v.Op {
		case OpTopK, OpBottomK:
			slices.SortFunc(g.top, func(a, b sample) int {
				c := cmpFloat(b.v, a.v)
				if v.Op == OpBottomK {
					c = -c
				}
				if c != 0 {
					return c
				}
				return labels.Compare(a.m, b.m)
			})
			res = append(res, g.top[:min(v.Param, len(g.top))]...)
			continue
		case OpCount:
			res = append(res, sample{m: g.m, v: g.n})
		case OpStdvar:
			res = append(res, sample{m: g.m, v: g.b / g.n})
		case OpStddev:
			res = append(res, sample{m: g.m, v: math.Sqrt(g.b / g.n)})
		default:
			res = append(res, sample{m: g.m, v: g.a})
		}
	}
	return res
}

// cmpFloat orders floats with NaN last.
func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	case a == b:
		return 0
	case math.IsNaN(a) && !math.IsNaN(b):
		return 1
	case math.IsNaN(b) && !math.IsNaN(a):
		return -1
	}
	return 0
}

func (ev *evaluator) binary(b *BinaryExpr) (value, error) {
	l, err := ev.eval(b.LHS)
	if err != nil {
		return value{}, err
	}
	r, err := ev.eval(b.RHS)
	if err != nil {
		return value{}, err
	}
	n := len(ev.steps)
	switch {
	case l.scalar != nil && r.scalar != nil:
		s := make([]float64, n)
		for i := range s {
			s[i], _ = arith(b.Op, l.scalar[i], r.scalar[i], true)
		}
		return value{scalar: s}, nil
	case l.scalar != nil || r.scalar != nil:
		out := make([][]sample, n)
		for i := range out {
			vec, sc, swap := r.vec, l.scalar, true
			if l.scalar == nil {
				vec, sc, swap = l.vec, r.scalar, false
			}
			for _, s := range vec[i] {
				lv, rv := s.v, sc[i]
				if swap {
					lv, rv = rv, lv
				}
				x, keep := arith(b.Op, lv, rv, b.Bool)
				if !keep {
					continue
				}
				if isComparison(b.Op) && !b.Bool {
					x = s.v
				}
				out[i] = append(out[i], sample{m: s.m, v: x})
			}
		}
		return value{vec: out}, nil
	}
	out := make([][]sample, n)
	for i := range out {
		vec, err := vectorBinary(b, l.vec[i], r.vec[i])
		if err != nil {
			return value{}, err
		}
		out[i] = vec
	}
	return value{vec: out}, nil
}

// arith applies op; for comparisons keep says whether the sample stays
// (always true with bool, which returns 0 or 1).
func arith(op string, a, b float64, boolMod bool) (float64, bool) {
	switch op {
	case "+":
		return a + b, true
	case "-":
		return a - b, true
	case "*":
		return a * b, true
	case "/":
		return a / b, true
	case "%":
		return math.Mod(a, b), true
	case "^":
		return math.Pow(a, b), true
	}
	ok := compare(op, a, b)
	if boolMod {
		if ok {
			return 1, true
		}
		return 0, true
	}
	return a, ok
}

func signature(m labels.Labels, mt *VectorMatching, buf []byte) []byte {
	if mt == nil {
		return m.Bytes(buf)
	}
	if mt.On {
		return m.BytesWithLabels(buf, mt.Labels...)
	}
	return m.BytesWithoutLabels(buf, mt.Labels...)
}

func vectorBinary(b *BinaryExpr, lhs, rhs []sample) ([]sample, error) {
	var kb []byte
	rsig := make(map[string]int, len(rhs))
	for i, s := range rhs {
		kb = signature(s.m, b.Matching, kb[:0])
		if _, dup := rsig[string(kb)]; dup && !isSetOp(b.Op) {
			return nil, fmt.Errorf("cannot evaluate query: many-to-many matching not allowed: the right side of %q has more than one series for the matching labels of %s", b.Op, s.m)
		}
		rsig[string(kb)] = i
	}
	var out []sample
	switch b.Op {
	case "and", "unless":
		for _, s := range lhs {
			kb = signature(s.m, b.Matching, kb[:0])
			if _, ok := rsig[string(kb)]; ok == (b.Op == "and") {
				out = append(out, s)
			}
		}
		return out, nil
	case "or":
		lsig := make(map[string]bool, len(lhs))
		for _, s := range lhs {
			kb = signature(s.m, b.Matching, kb[:0])
			lsig[string(kb)] = true
			out = append(out, s)
		}
		for _, s := range rhs {
			kb = signature(s.m, b.Matching, kb[:0])
			if !lsig[string(kb)] {
				out = append(out, s)
			}
		}
		return out, nil
	}
	seen := make(map[string]bool, len(lhs))
	for _, s := range lhs {
		kb = signature(s.m, b.Matching, kb[:0])
		j, ok := rsig[string(kb)]
		if !ok {
			continue
		}
		x, keep := arith(b.Op, s.v, rhs[j].v, b.Bool)
		if !keep {
			continue
		}
		m := s.m
		if mt := b.Matching; mt != nil {
			lb := labels.NewBuilder(m)
			if mt.On {
				lb.Keep(mt.Labels...)
			} else {
				lb.Del(mt.Labels...)
			}
			m = lb.Labels()
		}
		if seen[string(kb)] {
			return nil, fmt.Errorf("cannot evaluate query: many-to-one matching not supported: the left side of %q has more than one series for the matching labels of %s", b.Op, s.m)
		}
		seen[string(kb)] = true
		out = append(out, sample{m: m, v: x})
	}
	return out, nil
}

func (ev *evaluator) labelReplace(x *LabelReplaceExpr) (value, error) {
	in, err := ev.eval(x.Inner)
	if err != nil {
		return value{}, err
	}
	for _, vec := range in.vec {
		for i, s := range vec {
			src := s.m.Get(x.Src)
			idx := x.re.FindStringSubmatchIndex(src)
			if idx == nil {
				continue
			}
			res := string(x.re.ExpandString(nil, x.Replacement, src, idx))
			lb := labels.NewBuilder(s.m)
			if res == "" {
				lb.Del(x.Dst)
			} else {
				lb.Set(x.Dst, res)
			}
			vec[i].m = lb.Labels()
		}
	}
	return in, nil
}
