package logql

import (
	"fmt"
	"math"
	"regexp/syntax"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/grafana/regexp"
	"github.com/prometheus/prometheus/model/labels"
)

// Range aggregation operators.
const (
	OpCountOverTime    = "count_over_time"
	OpRate             = "rate"
	OpBytesOverTime    = "bytes_over_time"
	OpBytesRate        = "bytes_rate"
	OpAbsentOverTime   = "absent_over_time"
	OpSumOverTime      = "sum_over_time"
	OpAvgOverTime      = "avg_over_time"
	OpMinOverTime      = "min_over_time"
	OpMaxOverTime      = "max_over_time"
	OpFirstOverTime    = "first_over_time"
	OpLastOverTime     = "last_over_time"
	OpStdvarOverTime   = "stdvar_over_time"
	OpStddevOverTime   = "stddev_over_time"
	OpQuantileOverTime = "quantile_over_time"
)

// Vector aggregation operators.
const (
	OpSum      = "sum"
	OpAvg      = "avg"
	OpMin      = "min"
	OpMax      = "max"
	OpCount    = "count"
	OpStddev   = "stddev"
	OpStdvar   = "stdvar"
	OpTopK     = "topk"
	OpBottomK  = "bottomk"
	OpSort     = "sort"
	OpSortDesc = "sort_desc"
)

// rangeOps maps each range aggregation to whether it needs unwrap: 1
// required, 0 forbidden, 2 either.
var rangeOps = map[string]int{
	OpCountOverTime: 0, OpBytesOverTime: 0, OpBytesRate: 0, OpAbsentOverTime: 0,
	OpRate:        2,
	OpSumOverTime: 1, OpAvgOverTime: 1, OpMinOverTime: 1, OpMaxOverTime: 1,
	OpFirstOverTime: 1, OpLastOverTime: 1, OpStdvarOverTime: 1, OpStddevOverTime: 1,
	OpQuantileOverTime: 1,
}

// groupableRangeOps may take by/without (unwrapped only), as in Loki.
var groupableRangeOps = map[string]bool{
	OpRate: true, OpAvgOverTime: true, OpMinOverTime: true, OpMaxOverTime: true,
	OpFirstOverTime: true, OpLastOverTime: true, OpStdvarOverTime: true,
	OpStddevOverTime: true, OpQuantileOverTime: true,
}

var vectorOps = map[string]bool{
	OpSum: true, OpAvg: true, OpMin: true, OpMax: true, OpCount: true, OpStddev: true,
	OpStdvar: true, OpTopK: true, OpBottomK: true, OpSort: true, OpSortDesc: true,
}

// unsupportedFuncs are LogQL functions this engine does not implement.
var unsupportedFuncs = map[string]bool{
	"rate_counter": true, "approx_topk": true, "count_values": true, "quantile": true,
	"label_join": true, "absent": true,
}

// unsupportedStages are LogQL pipeline stages this engine does not
// implement.
var unsupportedStages = map[string]bool{"unpack": true, "distinct": true}

// ParseExpr parses a LogQL query. Errors are *ParseError.
func ParseExpr(q string) (expr Expr, err error) {
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	p := &parser{q: q, toks: toks}
	defer func() {
		if r := recover(); r != nil {
			pe, ok := r.(*ParseError)
			if !ok {
				panic(r)
			}
			expr, err = nil, pe
		}
	}()
	e := p.parseBinary(1)
	if t := p.peek(); t.kind != tEOF {
		p.failAt(t, "unexpected %s", describe(t))
	}
	return e, nil
}

// parser is a recursive-descent parser; errors are raised by panicking
// with a *ParseError, recovered in ParseExpr.
type parser struct {
	q    string
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) peekN(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) failAt(t token, format string, args ...any) {
	panic(newParseError(p.q, t.pos, format, args...))
}

func (p *parser) unsupported(t token, what string) {
	p.failAt(t, "unsupported: %q", what)
}

func describe(t token) string {
	switch t.kind {
	case tEOF:
		return "end of query"
	case tString:
		return "string " + quote(t.text)
	case tIdent:
		return "identifier " + quote(t.text)
	}
	return quote(t.text)
}

func (p *parser) isOp(s string) bool {
	t := p.peek()
	return t.kind == tOp && t.text == s
}

func (p *parser) isIdent(s string) bool {
	t := p.peek()
	return t.kind == tIdent && t.text == s
}

func (p *parser) expectOp(s string) token {
	t := p.next()
	if t.kind != tOp || t.text != s {
		p.failAt(t, "unexpected %s, expected %q", describe(t), s)
	}
	return t
}

func (p *parser) expectIdent(what string) token {
	t := p.next()
	if t.kind != tIdent {
		p.failAt(t, "unexpected %s, expected %s", describe(t), what)
	}
	return t
}

func (p *parser) expectString(what string) token {
	t := p.next()
	if t.kind != tString {
		p.failAt(t, "unexpected %s, expected %s", describe(t), what)
	}
	return t
}

func binaryPrecedence(t token) int {
	switch t.kind {
	case tIdent:
		switch t.text {
		case "or":
			return 1
		case "and", "unless":
			return 2
		}
	case tOp:
		switch t.text {
		case "==", "!=", ">", ">=", "<", "<=":
			return 3
		case "+", "-":
			return 4
		case "*", "/", "%":
			return 5
		case "^":
			return 6
		}
	}
	return 0
}

func isComparison(op string) bool {
	switch op {
	case "==", "!=", ">", ">=", "<", "<=":
		return true
	}
	return false
}

func isSetOp(op string) bool { return op == "and" || op == "or" || op == "unless" }

// isScalar reports whether e evaluates to a scalar.
func isScalar(e Expr) bool {
	switch x := e.(type) {
	case *LiteralExpr:
		return true
	case *BinaryExpr:
		return isScalar(x.LHS) && isScalar(x.RHS)
	}
	return false
}

func (p *parser) parseBinary(minPrec int) Expr {
	lhsTok := p.peek()
	lhs := p.parseUnary()
	for {
		opTok := p.peek()
		prec := binaryPrecedence(opTok)
		if prec == 0 || prec < minPrec {
			return lhs
		}
		p.next()
		b := &BinaryExpr{Op: opTok.text}
		if p.isIdent("bool") {
			if !isComparison(b.Op) {
				p.failAt(p.peek(), "bool modifier can only be used on comparison operators")
			}
			p.next()
			b.Bool = true
		}
		if p.isIdent("on") || p.isIdent("ignoring") {
			b.Matching = &VectorMatching{On: p.next().text == "on", Labels: p.parseLabelList()}
		}
		if p.isIdent("group_left") || p.isIdent("group_right") {
			p.unsupported(p.peek(), p.peek().text)
		}
		nextMin := prec + 1
		if b.Op == "^" {
			nextMin = prec
		}
		rhsTok := p.peek()
		rhs := p.parseBinary(nextMin)
		if _, ok := lhs.(*LogExpr); ok {
			p.failAt(lhsTok, "log queries cannot be combined with binary operators; use a range aggregation such as count_over_time")
		}
		if _, ok := rhs.(*LogExpr); ok {
			p.failAt(rhsTok, "log queries cannot be combined with binary operators; use a range aggregation such as count_over_time")
		}
		ls, rs := isScalar(lhs), isScalar(rhs)
		if isSetOp(b.Op) && (ls || rs) {
			p.failAt(opTok, "set operator %q not allowed in binary scalar expression", b.Op)
		}
		if isComparison(b.Op) && ls && rs && !b.Bool {
			p.failAt(opTok, "comparisons between scalars must use bool modifier")
		}
		if b.Matching != nil && (ls || rs) {
			p.failAt(opTok, "vector matching only allowed between vectors")
		}
		b.LHS, b.RHS = lhs, rhs
		lhs = b
	}
}

func (p *parser) parseUnary() Expr {
	if p.isOp("-") || p.isOp("+") {
		neg := p.next().text == "-"
		e := p.parseUnary()
		if !neg {
			return e
		}
		if l, ok := e.(*LiteralExpr); ok {
			return &LiteralExpr{Value: -l.Value}
		}
		if _, ok := e.(*LogExpr); ok {
			p.failAt(p.peek(), "log queries cannot be negated")
		}
		return &BinaryExpr{Op: "*", LHS: &LiteralExpr{Value: -1}, RHS: e}
	}
	return p.parsePrimary()
}

func (p *parser) parseNumber(t token) float64 {
	v, err := strconv.ParseFloat(t.text, 64)
	if err != nil || math.IsInf(v, 0) {
		p.failAt(t, "invalid number %q", t.text)
	}
	return v
}

func (p *parser) parsePrimary() Expr {
	t := p.peek()
	switch t.kind {
	case tNumber:
		p.next()
		return &LiteralExpr{Value: p.parseNumber(t)}
	case tOp:
		switch t.text {
		case "(":
			p.next()
			e := p.parseBinary(1)
			p.expectOp(")")
			return e
		case "{":
			e := p.parseLogExpr(false)
			if p.isOp("[") {
				p.failAt(p.peek(), "a range vector must be inside a range aggregation such as count_over_time")
			}
			return e
		}
	case tIdent:
		switch {
		case isRangeOp(t.text):
			return p.parseRangeAgg()
		case vectorOps[t.text]:
			return p.parseVectorAgg()
		case t.text == "vector":
			p.next()
			p.expectOp("(")
			v := p.parseSignedNumber()
			p.expectOp(")")
			return &VectorExpr{Value: v}
		case t.text == "label_replace":
			return p.parseLabelReplace()
		case unsupportedFuncs[t.text]:
			p.unsupported(t, t.text)
		}
	}
	p.failAt(t, "unexpected %s", describe(t))
	return nil
}

func (p *parser) parseSignedNumber() float64 {
	neg := false
	if p.isOp("-") {
		p.next()
		neg = true
	}
	t := p.next()
	if t.kind != tNumber {
		p.failAt(t, "unexpected %s, expected a number", describe(t))
	}
	v := p.parseNumber(t)
	if neg {
		v = -v
	}
	return v
}

func (p *parser) parseLabelList() []string {
	p.expectOp("(")
	var names []string
	for !p.isOp(")") {
		if len(names) > 0 {
			p.expectOp(",")
		}
		names = append(names, p.expectIdent("a label name").text)
	}
	p.next()
	return names
}

func (p *parser) parseGrouping() *Grouping {
	if p.isIdent("by") || p.isIdent("without") {
		without := p.next().text == "without"
		return &Grouping{Without: without, Labels: p.parseLabelList()}
	}
	return nil
}

func (p *parser) parseVectorAgg() Expr {
	opTok := p.next()
	e := &VectorAggExpr{Op: opTok.text}
	e.Grouping = p.parseGrouping()
	p.expectOp("(")
	if e.Op == OpTopK || e.Op == OpBottomK {
		kt := p.next()
		if kt.kind != tNumber {
			p.failAt(kt, "unexpected %s, %s needs a number of series as first parameter", describe(kt), e.Op)
		}
		k := p.parseNumber(kt)
		if k < 1 || k != math.Trunc(k) || k > 1e9 {
			p.failAt(kt, "invalid parameter %s for %s: must be a positive integer", kt.text, e.Op)
		}
		e.Param = int(k)
		p.expectOp(",")
	}
	innerTok := p.peek()
	e.Inner = p.parseBinary(1)
	p.expectOp(")")
	if g := p.parseGrouping(); g != nil {
		if e.Grouping != nil {
			p.failAt(p.toks[p.i-1], "grouping given twice")
		}
		e.Grouping = g
	}
	if _, ok := e.Inner.(*LogExpr); ok {
		p.failAt(innerTok, "%s needs a metric expression, not a log query; wrap it in a range aggregation such as count_over_time", e.Op)
	}
	if isScalar(e.Inner) {
		p.failAt(innerTok, "%s needs a vector, not a scalar", e.Op)
	}
	if (e.Op == OpSort || e.Op == OpSortDesc) && e.Grouping != nil {
		p.failAt(opTok, "%s does not take by or without", e.Op)
	}
	return e
}

func (p *parser) parseLabelReplace() Expr {
	p.next()
	p.expectOp("(")
	innerTok := p.peek()
	e := &LabelReplaceExpr{Inner: p.parseBinary(1)}
	if _, ok := e.Inner.(*LogExpr); ok || isScalar(e.Inner) {
		p.failAt(innerTok, "label_replace needs a vector expression")
	}
	args := make([]string, 4)
	var reTok token
	for i := range args {
		p.expectOp(",")
		reTok = p.expectString("a string argument of label_replace")
		args[i] = reTok.text
	}
	p.expectOp(")")
	e.Dst, e.Replacement, e.Src, e.Re = args[0], args[1], args[2], args[3]
	if !isLabelName(e.Dst) {
		p.failAt(innerTok, "invalid destination label name %q in label_replace", e.Dst)
	}
	re, err := regexp.Compile("^(?s:" + e.Re + ")$")
	if err != nil {
		p.failAt(reTok, "invalid regular expression %q in label_replace: %v", e.Re, err)
	}
	e.re = re
	return e
}

func isLabelName(s string) bool {
	if s == "" || !isIdentStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isIdentChar(s[i]) {
			return false
		}
	}
	return true
}

func (p *parser) parseRangeAgg() Expr {
	opTok := p.next()
	e := &RangeAggExpr{Op: opTok.text}
	p.expectOp("(")
	if e.Op == OpQuantileOverTime {
		e.Param = p.parseSignedNumber()
		p.expectOp(",")
	}
	haveRange := false
	parseRange := func() {
		p.expectOp("[")
		dt := p.next()
		if dt.kind != tDuration {
			p.failAt(dt, "unexpected %s, expected a duration such as 5m", describe(dt))
		}
		d, _ := parseDuration(dt.text)
		if d <= 0 {
			p.failAt(dt, "range must be positive, got %s", dt.text)
		}
		p.expectOp("]")
		e.Range = d
		haveRange = true
		if p.isIdent("offset") {
			p.next()
			ot := p.next()
			if ot.kind != tDuration {
				p.failAt(ot, "unexpected %s, expected a duration after offset", describe(ot))
			}
			e.Offset, _ = parseDuration(ot.text)
		}
	}
	if p.isOp("(") {
		p.next()
		e.Log, e.Unwrap = p.parseLogPipeline(true, nil)
		p.expectOp(")")
		parseRange()
	} else {
		logTok := p.peek()
		if !p.isOp("{") {
			p.failAt(logTok, "unexpected %s, %s needs a log selector such as {app=\"x\"}", describe(logTok), e.Op)
		}
		e.Log, e.Unwrap = p.parseLogPipeline(true, func() {
			if p.isOp("[") && !haveRange {
				parseRange()
			}
		})
		if !haveRange {
			parseRange()
		}
	}
	p.expectOp(")")
	e.Grouping = p.parseGrouping()
	switch need := rangeOps[e.Op]; {
	case need == 1 && e.Unwrap == nil:
		p.failAt(opTok, "invalid aggregation %s without unwrap", e.Op)
	case need == 0 && e.Unwrap != nil:
		p.failAt(opTok, "invalid aggregation %s with unwrap", e.Op)
	}
	if e.Grouping != nil && (!groupableRangeOps[e.Op] || e.Unwrap == nil) {
		p.failAt(opTok, "grouping not allowed for %s aggregation", e.Op)
	}
	return e
}

// parseLogExpr parses a selector and its pipeline (no unwrap).
func (p *parser) parseLogExpr(allowUnwrap bool) *LogExpr {
	e, _ := p.parseLogPipeline(allowUnwrap, nil)
	return e
}

// parseLogPipeline parses {matchers} and the stages after it; with
// allowUnwrap an unwrap stage may end the pipeline. afterSelector is
// called right after the selector (the range may be written there).
func (p *parser) parseLogPipeline(allowUnwrap bool, afterSelector func()) (*LogExpr, *Unwrap) {
	e := &LogExpr{Matchers: p.parseSelector()}
	if afterSelector != nil {
		afterSelector()
	}
	for {
		t := p.peek()
		if t.kind != tOp {
			return e, nil
		}
		switch t.text {
		case "|=", "!=", "|~", "!~":
			e.Stages = append(e.Stages, p.parseLineFilter())
			continue
		case "|":
		default:
			return e, nil
		}
		p.next()
		st := p.peek()
		if st.kind == tIdent {
			switch st.text {
			case "unwrap":
				if !allowUnwrap {
					p.failAt(st, "unwrap is only allowed inside a range aggregation such as sum_over_time")
				}
				return e, p.parseUnwrap()
			case "json", "logfmt":
				e.Stages = append(e.Stages, p.parseExtractionStage())
				continue
			case "regexp":
				p.next()
				s := p.expectString("a regular expression")
				re, err := regexp.Compile(s.text)
				if err != nil {
					p.failAt(s, "invalid regular expression %q in regexp stage: %v", s.text, err)
				}
				if !hasNamedGroup(re) {
					p.failAt(s, "regexp stage %q needs at least one named capture group such as (?P<name>...)", s.text)
				}
				for _, n := range re.SubexpNames() {
					if n != "" && !isLabelName(n) {
						p.failAt(s, "invalid label name %q in regexp stage", n)
					}
				}
				e.Stages = append(e.Stages, &RegexpStage{Pattern: s.text, re: re})
				continue
			case "pattern":
				p.next()
				s := p.expectString("a pattern")
				pat, err := compilePattern(s.text)
				if err != nil {
					p.failAt(s, "invalid pattern %q: %v", s.text, err)
				}
				e.Stages = append(e.Stages, &PatternStage{Pattern: s.text, pat: pat})
				continue
			case "line_format":
				p.next()
				s := p.expectString("a template")
				if err := checkTemplate(s.text); err != nil {
					p.failAt(s, "invalid template %q in line_format: %v", s.text, err)
				}
				e.Stages = append(e.Stages, &LineFormatStage{Template: s.text})
				continue
			case "label_format":
				e.Stages = append(e.Stages, p.parseLabelFormat())
				continue
			case "drop", "keep":
				e.Stages = append(e.Stages, p.parseDropKeep())
				continue
			case "decolorize":
				p.next()
				e.Stages = append(e.Stages, &DecolorizeStage{})
				continue
			case "ip":
				p.unsupported(st, "ip()")
			}
			if unsupportedStages[st.text] {
				p.unsupported(t, "| "+st.text)
			}
		}
		if st.kind == tIdent || (st.kind == tOp && st.text == "(") {
			e.Stages = append(e.Stages, &LabelFilterStage{Filter: p.parseLabelFilter()})
			continue
		}
		p.failAt(st, "unexpected %s after |", describe(st))
	}
}

func isRangeOp(s string) bool {
	_, ok := rangeOps[s]
	return ok
}

func hasNamedGroup(re *regexp.Regexp) bool {
	for _, n := range re.SubexpNames() {
		if n != "" {
			return true
		}
	}
	return false
}

func (p *parser) parseSelector() []*labels.Matcher {
	open := p.expectOp("{")
	var ms []*labels.Matcher
	for !p.isOp("}") {
		if len(ms) > 0 {
			p.expectOp(",")
		}
		ms = append(ms, p.parseMatcher())
	}
	p.next()
	for _, m := range ms {
		if !m.Matches("") {
			return ms
		}
	}
	p.failAt(open, "stream selector %s needs at least one matcher that does not match the empty string: app=~\".*\" matches it, app=~\".+\" and app=\"x\" do not", selectorString(ms))
	return nil
}

func selectorString(ms []*labels.Matcher) string {
	return (&LogExpr{Matchers: ms}).String()
}

func (p *parser) parseMatcher() *labels.Matcher {
	nt := p.expectIdent("a label name")
	ot := p.next()
	var typ labels.MatchType
	switch {
	case ot.kind == tOp && ot.text == "=":
		typ = labels.MatchEqual
	case ot.kind == tOp && ot.text == "!=":
		typ = labels.MatchNotEqual
	case ot.kind == tOp && ot.text == "=~":
		typ = labels.MatchRegexp
	case ot.kind == tOp && ot.text == "!~":
		typ = labels.MatchNotRegexp
	default:
		p.failAt(ot, "unexpected %s, expected one of = != =~ !~", describe(ot))
	}
	vt := p.expectString("a quoted label value")
	m, err := labels.NewMatcher(typ, nt.text, vt.text)
	if err != nil {
		p.failAt(vt, "invalid regular expression %q for label %s: %v", vt.text, nt.text, err)
	}
	return m
}

func (p *parser) parseLineFilter() *LineFilter {
	f := &LineFilter{Op: p.next().text}
	for {
		t := p.next()
		if t.kind == tIdent && t.text == "ip" {
			p.unsupported(t, "ip()")
		}
		if t.kind != tString {
			p.failAt(t, "unexpected %s, expected a quoted string after %s", describe(t), f.Op)
		}
		if f.Op == "|~" || f.Op == "!~" {
			re, err := regexp.Compile(t.text)
			if err != nil {
				p.failAt(t, "invalid regular expression %q in line filter: %v", t.text, err)
			}
			f.res = append(f.res, re)
		}
		f.Values = append(f.Values, t.text)
		if p.isIdent("or") && p.peekN(1).kind == tString {
			p.next()
			continue
		}
		return f
	}
}

func (p *parser) parseExtractionStage() Stage {
	kind := p.next().text
	if p.isOp("-") {
		flag := "--"
		if p.peekN(1).kind == tOp && p.peekN(1).text == "-" && p.peekN(2).kind == tIdent {
			flag += p.peekN(2).text
		}
		p.unsupported(p.peek(), "| "+kind+" "+flag)
	}
	var fs []Extraction
	for p.peek().kind == tIdent {
		nt := p.next()
		ex := Extraction{Label: nt.text, Expr: nt.text}
		if p.isOp("=") {
			p.next()
			ex.Expr = p.expectString("a quoted expression").text
		}
		if kind == "json" {
			path, err := parseJSONPath(ex.Expr)
			if err != nil {
				p.failAt(nt, "invalid json expression %q: %v", ex.Expr, err)
			}
			ex.path = path
		}
		fs = append(fs, ex)
		if !p.isOp(",") {
			break
		}
		p.next()
		if p.peek().kind != tIdent {
			p.failAt(p.peek(), "unexpected %s, expected a label name", describe(p.peek()))
		}
	}
	if kind == "json" {
		return &JSONStage{Fields: fs}
	}
	return &LogfmtStage{Fields: fs}
}

func (p *parser) parseLabelFormat() Stage {
	p.next()
	s := &LabelFormatStage{}
	for {
		dt := p.expectIdent("a label name")
		p.expectOp("=")
		it := LabelFmt{Dst: dt.text}
		vt := p.next()
		switch vt.kind {
		case tIdent:
			it.Src = vt.text
		case tString:
			it.Src, it.Template = vt.text, true
			if err := checkTemplate(vt.text); err != nil {
				p.failAt(vt, "invalid template %q in label_format: %v", vt.text, err)
			}
		default:
			p.failAt(vt, "unexpected %s, expected a label name or a template string", describe(vt))
		}
		for _, prev := range s.Items {
			if prev.Dst == it.Dst {
				p.failAt(dt, "label %s is formatted twice in label_format", it.Dst)
			}
		}
		s.Items = append(s.Items, it)
		if !p.isOp(",") {
			return s
		}
		p.next()
	}
}

func (p *parser) parseDropKeep() Stage {
	s := &DropStage{Keep: p.next().text == "keep"}
	for {
		nt := p.expectIdent("a label name")
		it := NameMatcher{Name: nt.text}
		if t := p.peek(); t.kind == tOp && (t.text == "=" || t.text == "!=" || t.text == "=~" || t.text == "!~") {
			p.i--
			it.Matcher = p.parseMatcher()
		}
		s.Items = append(s.Items, it)
		if !p.isOp(",") {
			return s
		}
		p.next()
	}
}

func (p *parser) parseUnwrap() *Unwrap {
	p.next()
	u := &Unwrap{}
	nt := p.expectIdent("a label name after unwrap")
	switch nt.text {
	case "duration", "duration_seconds", "bytes":
		if p.isOp("(") {
			p.next()
			u.Conv = nt.text
			nt = p.expectIdent("a label name")
			p.expectOp(")")
		}
	}
	u.Label = nt.text
	for p.isOp("|") {
		p.next()
		t := p.peek()
		isFilter := (t.kind == tIdent && p.peekN(1).kind == tOp && isFilterOp(p.peekN(1).text)) || (t.kind == tOp && t.text == "(")
		if !isFilter {
			p.failAt(t, "only label filters may follow unwrap, got %s", describe(t))
		}
		u.Filters = append(u.Filters, p.parseLabelFilter())
	}
	return u
}

func isFilterOp(s string) bool {
	switch s {
	case "=", "!=", "=~", "!~", "==", ">", ">=", "<", "<=":
		return true
	}
	return false
}

func (p *parser) parseLabelFilter() LabelFilter {
	l := p.parseAndFilter()
	for p.isIdent("or") {
		p.next()
		l = &BinaryFilter{L: l, R: p.parseAndFilter()}
	}
	return l
}

func (p *parser) parseAndFilter() LabelFilter {
	l := p.parsePrimaryFilter()
	for {
		switch {
		case p.isIdent("and"), p.isOp(","):
			p.next()
		case p.peek().kind == tIdent && p.peekN(1).kind == tOp && isFilterOp(p.peekN(1).text):
			// Juxtaposition means and: | a="x" b="y".
		default:
			return l
		}
		l = &BinaryFilter{And: true, L: l, R: p.parsePrimaryFilter()}
	}
}

func (p *parser) parsePrimaryFilter() LabelFilter {
	if p.isOp("(") {
		p.next()
		f := p.parseLabelFilter()
		p.expectOp(")")
		return f
	}
	nt := p.expectIdent("a label name")
	if nt.text == "ip" && p.isOp("(") {
		p.unsupported(nt, "ip()")
	}
	ot := p.next()
	if ot.kind != tOp || !isFilterOp(ot.text) {
		p.failAt(ot, "unexpected %s after label %s, expected a comparison such as = or >", describe(ot), nt.text)
	}
	neg := false
	if p.isOp("-") {
		p.next()
		neg = true
	}
	vt := p.next()
	switch vt.kind {
	case tString:
		if neg {
			p.failAt(vt, "unexpected string after -")
		}
		var typ labels.MatchType
		switch ot.text {
		case "=", "==":
			typ = labels.MatchEqual
		case "!=":
			typ = labels.MatchNotEqual
		case "=~":
			typ = labels.MatchRegexp
		case "!~":
			typ = labels.MatchNotRegexp
		default:
			p.failAt(ot, "operator %s cannot compare label %s with a string", ot.text, nt.text)
		}
		m, err := labels.NewMatcher(typ, nt.text, vt.text)
		if err != nil {
			p.failAt(vt, "invalid regular expression %q for label %s: %v", vt.text, nt.text, err)
		}
		return &StringFilter{Matcher: m}
	case tNumber, tDuration, tBytes:
		op := ot.text
		switch op {
		case "=~", "!~":
			p.failAt(ot, "operator %s needs a quoted regular expression", op)
		case "=":
			op = "=="
		}
		f := &NumberFilter{Name: nt.text, Op: op, Raw: vt.text}
		switch vt.kind {
		case tNumber:
			f.Kind, f.Value = KindNumber, p.parseNumber(vt)
		case tDuration:
			d, _ := parseDuration(vt.text)
			f.Kind, f.Value = KindDuration, d.Seconds()
		case tBytes:
			f.Kind, f.Value = KindBytes, mustBytes(vt.text)
		}
		if neg {
			f.Value, f.Raw = -f.Value, "-"+f.Raw
		}
		return f
	}
	p.failAt(vt, "unexpected %s, expected a value to compare label %s with", describe(vt), nt.text)
	return nil
}

func mustBytes(s string) float64 {
	v, _ := parseBytes(s)
	return v
}

// checkTemplate reports whether a line_format or label_format template
// parses.
func checkTemplate(text string) error {
	_, err := template.New("").Option("missingkey=zero").Funcs(templateFuncs(nil)).Parse(text)
	return err
}

// requiredLiterals returns substrings every match of the regular
// expression re must contain: the case-sensitive literal parts of a
// top-level concatenation. It returns nil when unsure.
func requiredLiterals(re string) []string {
	r, err := syntax.Parse(re, syntax.Perl)
	if err != nil {
		return nil
	}
	r = r.Simplify()
	var out []string
	add := func(n *syntax.Regexp) {
		if n.Op == syntax.OpLiteral && n.Flags&syntax.FoldCase == 0 && len(n.Rune) > 0 {
			out = append(out, string(n.Rune))
		}
	}
	switch r.Op {
	case syntax.OpLiteral:
		add(r)
	case syntax.OpConcat:
		for _, s := range r.Sub {
			add(s)
		}
	case syntax.OpCapture:
		if len(r.Sub) == 1 {
			add(r.Sub[0])
		}
	}
	return out
}

// durationSeconds converts a duration label value, as Loki's
// duration() conversion does.
func durationSeconds(s string) (float64, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("cannot parse duration %q", s)
	}
	return d.Seconds(), nil
}
