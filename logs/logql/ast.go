package logql

import (
	"strconv"
	"strings"
	"time"

	"github.com/grafana/regexp"
	"github.com/prometheus/prometheus/model/labels"
)

// Expr is a parsed LogQL expression: a *LogExpr (log query) or a metric
// expression (*RangeAggExpr, *VectorAggExpr, *BinaryExpr, *LiteralExpr,
// *VectorExpr, *LabelReplaceExpr). Expressions are immutable once parsed
// and safe to share between goroutines. String prints an expression in a
// canonical form that ParseExpr reads back to the same expression.
type Expr interface {
	String() string
	expr()
}

// LogExpr is a stream selector and its pipeline.
type LogExpr struct {
	Matchers []*labels.Matcher
	Stages   []Stage
}

// Stage is one step of a log pipeline: *LineFilter, *JSONStage,
// *LogfmtStage, *RegexpStage, *PatternStage, *LabelFilterStage,
// *LineFormatStage, *LabelFormatStage, *DropStage or *DecolorizeStage.
type Stage interface {
	String() string
	stage()
}

// LineFilter is |= != |~ or !~ with one or more values joined by "or".
type LineFilter struct {
	Op     string
	Values []string
	res    []*regexp.Regexp // for |~ and !~
}

// Extraction is one `label="expression"` of | json or | logfmt.
type Extraction struct {
	Label, Expr string
	path        []pathElem // json only
}

// JSONStage is | json, with no Fields meaning every field.
type JSONStage struct{ Fields []Extraction }

// LogfmtStage is | logfmt, with no Fields meaning every key.
type LogfmtStage struct{ Fields []Extraction }

// RegexpStage is | regexp "...": named groups become labels.
type RegexpStage struct {
	Pattern string
	re      *regexp.Regexp
}

// PatternStage is | pattern "<ip> - <_> ...".
type PatternStage struct {
	Pattern string
	pat     *pattern
}

// LabelFilterStage is | followed by label predicates.
type LabelFilterStage struct{ Filter LabelFilter }

// LineFormatStage is | line_format "template".
type LineFormatStage struct{ Template string }

// LabelFmt is one item of | label_format: Dst=Src renames a label, or
// Dst="template" (Template true) sets it from a template.
type LabelFmt struct {
	Dst, Src string
	Template bool
}

// LabelFormatStage is | label_format a=b, c="{{...}}".
type LabelFormatStage struct{ Items []LabelFmt }

// NameMatcher is one item of | drop or | keep: a label name, and
// optionally a matcher its value must satisfy.
type NameMatcher struct {
	Name    string
	Matcher *labels.Matcher // nil: the name alone
}

// DropStage is | drop (Keep false) or | keep (Keep true).
type DropStage struct {
	Keep  bool
	Items []NameMatcher
}

// DecolorizeStage is | decolorize: ANSI color sequences are removed.
type DecolorizeStage struct{}

// LabelFilter is a predicate on the labels of a line: *StringFilter,
// *NumberFilter or *BinaryFilter.
type LabelFilter interface {
	String() string
	labelFilter()
}

// StringFilter compares a label's value as a string.
type StringFilter struct{ Matcher *labels.Matcher }

// ValueKind says how a NumberFilter reads the label's value.
type ValueKind int

// Value kinds of NumberFilter.
const (
	KindNumber ValueKind = iota
	KindDuration
	KindBytes
)

// NumberFilter compares a label's value as a number, a duration (in
// seconds) or a byte size. Raw is the literal as written.
type NumberFilter struct {
	Name  string
	Op    string // > >= < <= == !=
	Kind  ValueKind
	Value float64
	Raw   string
}

// BinaryFilter is `L and R` or `L or R`.
type BinaryFilter struct {
	And  bool
	L, R LabelFilter
}

// Unwrap takes a sample value from a label: Conv is "", "duration",
// "duration_seconds" or "bytes". Filters are label filters after it.
type Unwrap struct {
	Conv    string
	Label   string
	Filters []LabelFilter
}

// Grouping is by (...) or without (...).
type Grouping struct {
	Without bool
	Labels  []string
}

// RangeAggExpr is a range aggregation such as rate({...}[5m]) or
// quantile_over_time(0.99, {...} | unwrap x [1m]) by (a).
type RangeAggExpr struct {
	Op       string
	Param    float64 // quantile_over_time's φ
	Log      *LogExpr
	Unwrap   *Unwrap // nil unless unwrapped
	Range    time.Duration
	Offset   time.Duration
	Grouping *Grouping
}

// VectorAggExpr is sum, avg, min, max, count, stddev, stdvar, topk,
// bottomk, sort or sort_desc over a metric expression.
type VectorAggExpr struct {
	Op       string
	Param    int // k of topk and bottomk
	Grouping *Grouping
	Inner    Expr
}

// VectorMatching is on(...) (On true) or ignoring(...).
type VectorMatching struct {
	On     bool
	Labels []string
}

// BinaryExpr is LHS Op RHS.
type BinaryExpr struct {
	Op       string
	LHS, RHS Expr
	Bool     bool
	Matching *VectorMatching
}

// LiteralExpr is a number.
type LiteralExpr struct{ Value float64 }

// VectorExpr is vector(v): one sample without labels at every step.
type VectorExpr struct{ Value float64 }

// LabelReplaceExpr is label_replace(inner, dst, replacement, src, regex).
type LabelReplaceExpr struct {
	Inner                     Expr
	Dst, Replacement, Src, Re string
	re                        *regexp.Regexp
}

func (*LogExpr) expr()          {}
func (*RangeAggExpr) expr()     {}
func (*VectorAggExpr) expr()    {}
func (*BinaryExpr) expr()       {}
func (*LiteralExpr) expr()      {}
func (*VectorExpr) expr()       {}
func (*LabelReplaceExpr) expr() {}

func (*LineFilter) stage()       {}
func (*JSONStage) stage()        {}
func (*LogfmtStage) stage()      {}
func (*RegexpStage) stage()      {}
func (*PatternStage) stage()     {}
func (*LabelFilterStage) stage() {}
func (*LineFormatStage) stage()  {}
func (*LabelFormatStage) stage() {}
func (*DropStage) stage()        {}
func (*DecolorizeStage) stage()  {}

func (*StringFilter) labelFilter() {}
func (*NumberFilter) labelFilter() {}
func (*BinaryFilter) labelFilter() {}

func quote(s string) string { return strconv.Quote(s) }

func matcherString(m *labels.Matcher) string {
	return m.Name + m.Type.String() + quote(m.Value)
}

func (e *LogExpr) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, m := range e.Matchers {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(matcherString(m))
	}
	b.WriteByte('}')
	for _, s := range e.Stages {
		b.WriteByte(' ')
		b.WriteString(s.String())
	}
	return b.String()
}

func (s *LineFilter) String() string {
	var b strings.Builder
	b.WriteString(s.Op)
	for i, v := range s.Values {
		if i > 0 {
			b.WriteString(" or")
		}
		b.WriteByte(' ')
		b.WriteString(quote(v))
	}
	return b.String()
}

func extractionsString(name string, fs []Extraction) string {
	var b strings.Builder
	b.WriteString("| ")
	b.WriteString(name)
	for i, f := range fs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte(' ')
		b.WriteString(f.Label)
		b.WriteByte('=')
		b.WriteString(quote(f.Expr))
	}
	return b.String()
}

func (s *JSONStage) String() string        { return extractionsString("json", s.Fields) }
func (s *LogfmtStage) String() string      { return extractionsString("logfmt", s.Fields) }
func (s *RegexpStage) String() string      { return "| regexp " + quote(s.Pattern) }
func (s *PatternStage) String() string     { return "| pattern " + quote(s.Pattern) }
func (s *LabelFilterStage) String() string { return "| " + s.Filter.String() }
func (s *LineFormatStage) String() string  { return "| line_format " + quote(s.Template) }
func (s *DecolorizeStage) String() string  { return "| decolorize" }

func (s *LabelFormatStage) String() string {
	var b strings.Builder
	b.WriteString("| label_format")
	for i, it := range s.Items {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte(' ')
		b.WriteString(it.Dst)
		b.WriteByte('=')
		if it.Template {
			b.WriteString(quote(it.Src))
		} else {
			b.WriteString(it.Src)
		}
	}
	return b.String()
}

func (s *DropStage) String() string {
	var b strings.Builder
	if s.Keep {
		b.WriteString("| keep")
	} else {
		b.WriteString("| drop")
	}
	for i, it := range s.Items {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte(' ')
		if it.Matcher != nil {
			b.WriteString(matcherString(it.Matcher))
		} else {
			b.WriteString(it.Name)
		}
	}
	return b.String()
}

func (f *StringFilter) String() string { return matcherString(f.Matcher) }
func (f *NumberFilter) String() string { return f.Name + " " + f.Op + " " + f.Raw }
func (f *BinaryFilter) String() string {
	op := " or "
	if f.And {
		op = " and "
	}
	return "(" + f.L.String() + op + f.R.String() + ")"
}

func (g *Grouping) String() string {
	if g.Without {
		return "without (" + strings.Join(g.Labels, ", ") + ")"
	}
	return "by (" + strings.Join(g.Labels, ", ") + ")"
}

func (e *RangeAggExpr) String() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteByte('(')
	if e.Op == OpQuantileOverTime {
		b.WriteString(formatFloat(e.Param))
		b.WriteString(", ")
	}
	b.WriteString(e.Log.String())
	if u := e.Unwrap; u != nil {
		b.WriteString(" | unwrap ")
		if u.Conv != "" {
			b.WriteString(u.Conv + "(" + u.Label + ")")
		} else {
			b.WriteString(u.Label)
		}
		for _, f := range u.Filters {
			b.WriteString(" | ")
			b.WriteString(f.String())
		}
	}
	b.WriteString(" [" + formatDuration(e.Range) + "]")
	if e.Offset != 0 {
		b.WriteString(" offset " + formatDuration(e.Offset))
	}
	b.WriteByte(')')
	if e.Grouping != nil {
		b.WriteByte(' ')
		b.WriteString(e.Grouping.String())
	}
	return b.String()
}

func (e *VectorAggExpr) String() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Grouping != nil {
		b.WriteByte(' ')
		b.WriteString(e.Grouping.String())
		b.WriteByte(' ')
	}
	b.WriteByte('(')
	if e.Op == OpTopK || e.Op == OpBottomK {
		b.WriteString(strconv.Itoa(e.Param))
		b.WriteString(", ")
	}
	b.WriteString(e.Inner.String())
	b.WriteByte(')')
	return b.String()
}

func operandString(e Expr) string {
	if _, ok := e.(*BinaryExpr); ok {
		return "(" + e.String() + ")"
	}
	return e.String()
}

func (e *BinaryExpr) String() string {
	var b strings.Builder
	b.WriteString(operandString(e.LHS))
	b.WriteString(" " + e.Op)
	if e.Bool {
		b.WriteString(" bool")
	}
	if m := e.Matching; m != nil {
		if m.On {
			b.WriteString(" on (")
		} else {
			b.WriteString(" ignoring (")
		}
		b.WriteString(strings.Join(m.Labels, ", "))
		b.WriteByte(')')
	}
	b.WriteByte(' ')
	b.WriteString(operandString(e.RHS))
	return b.String()
}

func (e *LiteralExpr) String() string { return formatFloat(e.Value) }
func (e *VectorExpr) String() string  { return "vector(" + formatFloat(e.Value) + ")" }
func (e *LabelReplaceExpr) String() string {
	return "label_replace(" + e.Inner.String() + ", " + quote(e.Dst) + ", " + quote(e.Replacement) + ", " + quote(e.Src) + ", " + quote(e.Re) + ")"
}
