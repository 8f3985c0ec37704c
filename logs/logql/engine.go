package logql

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigilhq/vigil/storage/logs"
)

// Direction orders the lines of a log query.
type Direction int

// Directions: Backward (the default) returns the newest lines first.
const (
	Backward Direction = iota
	Forward
)

// Params is one query.
type Params struct {
	Query      string
	Start, End time.Time // an instant query has Start == End
	// Step is the resolution of a range metric query; 0 for instant
	// queries.
	Step time.Duration
	// Interval is accepted for Loki compatibility and ignored.
	Interval time.Duration
	// Limit is the maximum number of lines of a log query (default 100).
	Limit     int
	Direction Direction
}

// Options configure an Engine.
type Options struct {
	// MaxSeries bounds the series of a metric query's result (default
	// 500), like Loki's max_query_series.
	MaxSeries int
	// MaxLines caps Params.Limit (default 5000).
	MaxLines int
	// Now returns the current time (default time.Now); reserved for
	// relative defaults.
	Now func() time.Time
}

// Engine evaluates LogQL queries over a Source. It is safe for
// concurrent use: each query has its own state.
type Engine struct {
	src Source
	o   Options
}

// NewEngine returns an engine reading src.
func NewEngine(src Source, o Options) *Engine {
	if o.MaxSeries <= 0 {
		o.MaxSeries = 500
	}
	if o.MaxLines <= 0 {
		o.MaxLines = 5000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Engine{src: src, o: o}
}

// Stats are counted while a query runs.
type Stats struct {
	// LinesScanned and BytesScanned count the records (and their body
	// bytes) the source handed to the engine.
	LinesScanned int64
	BytesScanned int64
}

// Result is a query's answer: Data is Streams, Matrix, Vector or Scalar.
type Result struct {
	Data  Value
	Stats Stats
}

// Value is the data of a Result.
type Value interface {
	// Type is Loki's resultType: "streams", "matrix", "vector" or
	// "scalar".
	Type() string
}

// Entry is one log line.
type Entry struct {
	Time time.Time
	Line string
}

// Stream is the lines of one label set.
type Stream struct {
	Labels  labels.Labels
	Entries []Entry
}

// Streams is a log query's result, sorted by labels; entries are ordered
// by the query's direction.
type Streams []Stream

// Point is one value of a series at a time in Unix milliseconds.
type Point struct {
	T int64
	V float64
}

// Series is one series of a Matrix.
type Series struct {
	Metric labels.Labels
	Points []Point
}

// Matrix is a range metric query's result, sorted by labels.
type Matrix []Series

// Sample is one series value of a Vector.
type Sample struct {
	Metric labels.Labels
	T      int64
	V      float64
}

// Vector is an instant metric query's result, sorted by labels unless
// the query ends in sort or sort_desc.
type Vector []Sample

// Scalar is the result of an instant query of a number.
type Scalar struct {
	T int64
	V float64
}

func (Streams) Type() string { return "streams" }
func (Matrix) Type() string  { return "matrix" }
func (Vector) Type() string  { return "vector" }
func (Scalar) Type() string  { return "scalar" }

// Query parses and evaluates p.Query. Query errors are *ParseError;
// evaluation errors wrap the source's.
func (e *Engine) Query(ctx context.Context, p Params) (Result, error) {
	expr, err := ParseExpr(p.Query)
	if err != nil {
		return Result{}, err
	}
	if p.End.Before(p.Start) {
		return Result{}, fmt.Errorf("cannot evaluate query: end %s is before start %s", p.End.Format(time.RFC3339Nano), p.Start.Format(time.RFC3339Nano))
	}
	if le, ok := expr.(*LogExpr); ok {
		return e.queryLogs(ctx, le, p)
	}
	return e.queryMetric(ctx, expr, p)
}

// hints derives the pruning hints of a pipeline (see Selection).
func hints(stages []Stage) (contains []string, lbls map[string]string) {
	labelsOK := true
	for _, s := range stages {
		switch x := s.(type) {
		case *LineFilter:
			if len(x.Values) != 1 {
				continue
			}
			switch x.Op {
			case "|=":
				if x.Values[0] != "" {
					contains = append(contains, x.Values[0])
				}
			case "|~":
				contains = append(contains, requiredLiterals(x.Values[0])...)
			}
		case *LineFormatStage, *DecolorizeStage:
			return contains, lbls
		case *LabelFilterStage:
			if labelsOK {
				lbls = andEqualities(x.Filter, lbls)
			}
		case *JSONStage, *LogfmtStage, *RegexpStage, *PatternStage, *LabelFormatStage, *DropStage:
			labelsOK = false
		}
	}
	return contains, lbls
}

// andEqualities adds the label equalities f requires (not those on the
// error labels, which only the pipeline sets).
func andEqualities(f LabelFilter, m map[string]string) map[string]string {
	switch x := f.(type) {
	case *StringFilter:
		mt := x.Matcher
		if mt.Type == labels.MatchEqual && mt.Value != "" && mt.Name != ErrorLabel && !strings.HasPrefix(mt.Name, "__") {
			if m == nil {
				m = make(map[string]string)
			}
			if old, ok := m[mt.Name]; ok && old != mt.Value {
				// Contradictory: keep one; nothing can match anyway.
				return m
			}
			m[mt.Name] = mt.Value
		}
	case *BinaryFilter:
		if x.And {
			m = andEqualities(x.L, m)
			m = andEqualities(x.R, m)
		}
	}
	return m
}

// logEntry is a line a log query holds.
type logEntry struct {
	t      int64
	line   string
	stream int // index into logCollector.streams
}

// logCollector keeps the Limit best lines: a heap whose root is the
// worst kept line (the oldest for Backward, the newest for Forward).
type logCollector struct {
	forward bool
	limit   int
	worst   atomic.Int64 // time of h[0] once full (see skip)
	full    atomic.Bool
	h       []logEntry
	streams []labels.Labels
	keys    map[string]int
	lbuf    []labels.Label
	kbuf    []byte
}

// better reports whether a should be returned before b.
func (c *logCollector) better(a, b *logEntry) bool {
	if a.t != b.t {
		if c.forward {
			return a.t < b.t
		}
		return a.t > b.t
	}
	if a.stream != b.stream {
		return labels.Compare(c.streams[a.stream], c.streams[b.stream]) < 0
	}
	return a.line < b.line
}

func (c *logCollector) Len() int           { return len(c.h) }
func (c *logCollector) Less(i, j int) bool { return c.better(&c.h[j], &c.h[i]) }
func (c *logCollector) Swap(i, j int)      { c.h[i], c.h[j] = c.h[j], c.h[i] }
func (c *logCollector) Push(x any)         { c.h = append(c.h, x.(logEntry)) }
func (c *logCollector) Pop() any {
	x := c.h[len(c.h)-1]
	c.h = c.h[:len(c.h)-1]
	return x
}

// full reports whether no line in [minT, maxT] can enter the result.
// skip is Selection.Skip: it reads only the atomics add keeps, so a
// source may call it from its reading goroutines while add runs.
func (c *logCollector) skip(minT, maxT int64) bool {
	if !c.full.Load() {
		return false
	}
	worst := c.worst.Load()
	if c.forward {
		return minT > worst
	}
	return maxT < worst
}

// publish updates what skip reads after the heap changed.
func (c *logCollector) publish() {
	if len(c.h) >= c.limit {
		c.worst.Store(c.h[0].t)
		c.full.Store(true)
	}
}

func (c *logCollector) add(t int64, line string, l *lineLabels) {
	if len(c.h) >= c.limit {
		w := c.h[0].t
		if (c.forward && t > w) || (!c.forward && t < w) {
			return
		}
	}
	c.lbuf = l.sorted(c.lbuf)
	c.kbuf = appendKey(c.kbuf[:0], c.lbuf)
	idx, ok := c.keys[string(c.kbuf)]
	if !ok {
		idx = len(c.streams)
		c.streams = append(c.streams, toLabels(c.lbuf))
		c.keys[string(c.kbuf)] = idx
	}
	en := logEntry{t: t, line: line, stream: idx}
	if len(c.h) < c.limit {
		en.line = strings.Clone(line)
		heap.Push(c, en)
		c.publish()
		return
	}
	if !c.better(&en, &c.h[0]) {
		return
	}
	en.line = strings.Clone(line)
	c.h[0] = en
	heap.Fix(c, 0)
	c.publish()
}

func (c *logCollector) result() Streams {
	byStream := make(map[int][]Entry)
	for _, en := range c.h {
		byStream[en.stream] = append(byStream[en.stream], Entry{Time: time.Unix(0, en.t).UTC(), Line: en.line})
	}
	out := make(Streams, 0, len(byStream))
	for idx, es := range byStream {
		slices.SortFunc(es, func(a, b Entry) int {
			if d := a.Time.Compare(b.Time); d != 0 {
				if c.forward {
					return d
				}
				return -d
			}
			return strings.Compare(a.Line, b.Line)
		})
		out = append(out, Stream{Labels: c.streams[idx], Entries: es})
	}
	slices.SortFunc(out, func(a, b Stream) int { return labels.Compare(a.Labels, b.Labels) })
	return out
}

// errStopScan ends a scan early; not returned to callers.
var errStopScan = errors.New("stop scan")

// scan runs the source over sel, counting stats and checking ctx.
func (e *Engine) scan(ctx context.Context, sel Selection, st *Stats, fn func(*logs.Record)) error {
	var ctxErr error
	n := 0
	err := e.src.Select(ctx, sel, func(rec *logs.Record) bool {
		n++
		if n&1023 == 0 {
			if ctxErr = ctx.Err(); ctxErr != nil {
				return false
			}
		}
		st.LinesScanned++
		st.BytesScanned += int64(len(rec.Body))
		fn(rec)
		return true
	})
	if ctxErr != nil {
		return fmt.Errorf("cannot evaluate query: %w", ctxErr)
	}
	if err != nil {
		return fmt.Errorf("cannot read logs: %w", err)
	}
	return nil
}

func (e *Engine) queryLogs(ctx context.Context, le *LogExpr, p Params) (Result, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	if limit > e.o.MaxLines {
		limit = e.o.MaxLines
	}
	start, end := p.Start.UnixNano(), p.End.UnixNano()
	if end > start {
		end-- // [Start, End) as Loki reads log queries
	}
	c := &logCollector{forward: p.Direction == Forward, limit: limit, keys: make(map[string]int)}
	pl := newPipeline(le)
	contains, lbls := hints(le.Stages)
	sel := Selection{Matchers: le.Matchers, Start: start, End: end, LineContains: contains, Labels: lbls, Skip: c.skip}
	var res Result
	err := e.scan(ctx, sel, &res.Stats, func(rec *logs.Record) {
		t := rec.Time.UnixNano()
		if t < start || t > end || !pl.process(rec) {
			return
		}
		c.add(t, pl.line, &pl.lbls)
	})
	if err != nil {
		return Result{}, err
	}
	res.Data = c.result()
	return res, nil
}
