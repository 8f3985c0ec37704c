package logql

import (
	"fmt"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigilhq/vigil/storage/logs"
)

// LineMatcher runs a log query's pipeline over single records, for live
// tail. It keeps scratch state and caches between calls: use it from one
// goroutine at a time.
type LineMatcher struct {
	expr *LogExpr
	pl   *pipeline
	lbuf []labels.Label
}

// NewLineMatcher parses q, which must be a log query (not a metric
// query).
func NewLineMatcher(q string) (*LineMatcher, error) {
	e, err := ParseExpr(q)
	if err != nil {
		return nil, err
	}
	le, ok := e.(*LogExpr)
	if !ok {
		return nil, fmt.Errorf("cannot tail %q: only log queries can be tailed, not metric queries", q)
	}
	return &LineMatcher{expr: le, pl: newPipeline(le)}, nil
}

// Matchers are the query's stream matchers.
func (m *LineMatcher) Matchers() []*labels.Matcher { return m.expr.Matchers }

// Process runs rec through the query: it returns the line's final
// labels, its line (after line_format), and whether it passes the whole
// pipeline. The results do not alias rec.
func (m *LineMatcher) Process(rec *logs.Record) (labels.Labels, string, bool) {
	if !m.pl.process(rec) {
		return labels.EmptyLabels(), "", false
	}
	m.lbuf = m.pl.lbls.sorted(m.lbuf)
	line := m.pl.line
	if line == rec.Body {
		line = string([]byte(line))
	}
	return toLabels(m.lbuf), line, true
}
