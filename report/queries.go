package report

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Span metric names written by traces/spanmetrics.
const (
	spanCalls         = "traces_spanmetrics_calls_total"
	spanLatencyBucket = "traces_spanmetrics_latency_bucket"
	spanErrorStatus   = "STATUS_CODE_ERROR"
)

// exprs builds the PromQL of one source for any range, written as a PromQL
// duration (30d, 1d, 13h).
type exprs struct {
	total, errors func(rng string) string
	// quantile is nil when the source has no latency histogram.
	quantile func(q float64, rng string) string
	// anyData is an expression that has a value when any service has data
	// of this source in the range, or nil when that cannot be told.
	anyData func(rng string) string
}

func spanExprs(r Request) exprs {
	kinds := make([]string, len(r.SpanKinds))
	for i, k := range r.SpanKinds {
		kinds[i] = regexp.QuoteMeta(k)
	}
	base := []*labels.Matcher{
		labels.MustNewMatcher(labels.MatchEqual, "service", r.Service),
		labels.MustNewMatcher(labels.MatchRegexp, "span_kind", strings.Join(kinds, "|")),
	}
	if len(r.SpanKinds) == 1 {
		base[1] = labels.MustNewMatcher(labels.MatchEqual, "span_kind", r.SpanKinds[0])
	}
	all := selector(spanCalls, base...)
	failed := selector(spanCalls, append(base, labels.MustNewMatcher(labels.MatchEqual, "status_code", spanErrorStatus))...)
	buckets := selector(spanLatencyBucket, base...)
	return exprs{
		total:  func(rng string) string { return "sum(increase(" + all + "[" + rng + "]))" },
		errors: func(rng string) string { return "sum(increase(" + failed + "[" + rng + "]))" },
		quantile: func(q float64, rng string) string {
			return "histogram_quantile(" + fmtQuantile(q) + ", sum by (le) (increase(" + buckets + "[" + rng + "])))"
		},
		anyData: func(rng string) string { return "count(last_over_time(" + spanCalls + "[" + rng + "]))" },
	}
}

// customExprs checks the caller's queries and builds them; errors are
// *InvalidRequestError.
func customExprs(r Request) (exprs, error) {
	total, err := counterExpr(r.TotalQuery)
	if err != nil {
		return exprs{}, invalid("TotalQuery", "%v", err)
	}
	failed, err := counterExpr(r.ErrorQuery)
	if err != nil {
		return exprs{}, invalid("ErrorQuery", "%v", err)
	}
	e := exprs{total: total, errors: failed}
	if r.LatencyHistogram != "" {
		ms, err := parseSelector(r.LatencySelector)
		if err != nil {
			return exprs{}, invalid("LatencySelector", "%v", err)
		}
		classic, native := selector(r.LatencyHistogram+"_bucket", ms...), selector(r.LatencyHistogram, ms...)
		// One expression for both kinds of histogram: a classic one has
		// no series named like its base, a native one no _bucket series.
		e.quantile = func(q float64, rng string) string {
			qs := fmtQuantile(q)
			return "histogram_quantile(" + qs + ", sum by (le) (increase(" + classic + "[" + rng + "]))) or histogram_quantile(" + qs + ", sum(increase(" + native + "[" + rng + "])))"
		}
	}
	// Catch what the engine would refuse now, as a request error.
	for _, c := range []struct {
		field string
		f     func(string) string
	}{{"TotalQuery", e.total}, {"ErrorQuery", e.errors}} {
		if _, err := parser.ParseExpr(c.f("1d")); err != nil {
			return exprs{}, invalid(c.field, "%v", err)
		}
	}
	if e.quantile != nil {
		if _, err := parser.ParseExpr(e.quantile(0.5, "1d")); err != nil {
			return exprs{}, invalid("LatencySelector", "%v", err)
		}
	}
	return e, nil
}

var rangePlaceholder = regexp.MustCompile(`\{\{\s*\.range\s*\}\}`)

// counterExpr turns a counter selector or a PromQL template using
// {{.range}} into a function of the range. A plain string replacement
// rather than text/template: the template comes from the request, and a
// template language could loop.
func counterExpr(q string) (func(rng string) string, error) {
	if rangePlaceholder.MatchString(q) {
		probe := rangePlaceholder.ReplaceAllLiteralString(q, "1d")
		if strings.Contains(probe, "{{") {
			return nil, fmt.Errorf("%q has a placeholder other than {{.range}}", q)
		}
		e, err := parser.ParseExpr(probe)
		if err != nil {
			return nil, fmt.Errorf("cannot parse %q: %w", q, err)
		}
		if t := e.Type(); t != parser.ValueTypeVector && t != parser.ValueTypeScalar {
			return nil, fmt.Errorf("%q is a %s expression; want an instant vector of one series", q, t)
		}
		return func(rng string) string { return rangePlaceholder.ReplaceAllLiteralString(q, rng) }, nil
	}
	e, err := parser.ParseExpr(q)
	if err != nil {
		return nil, fmt.Errorf("cannot parse %q: %w", q, err)
	}
	vs, ok := e.(*parser.VectorSelector)
	if !ok {
		return nil, fmt.Errorf("%q is neither a counter selector (http_requests_total{job=\"api\"}) nor an expression using {{.range}}", q)
	}
	if vs.OriginalOffset != 0 || vs.Timestamp != nil || vs.StartOrEnd != 0 {
		return nil, fmt.Errorf("%q has an offset or @ modifier; the report chooses the time", q)
	}
	sel := vs.String()
	return func(rng string) string { return "sum(increase(" + sel + "[" + rng + "]))" }, nil
}

// parseSelector reads label matchers with or without their braces.
func parseSelector(s string) ([]*labels.Matcher, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if !strings.HasPrefix(s, "{") {
		s = "{" + s + "}"
	}
	ms, err := parser.ParseMetricSelector(s)
	if err != nil {
		return nil, fmt.Errorf("cannot parse selector %q: %w", s, err)
	}
	for _, m := range ms {
		if m.Name == labels.MetricName {
			return nil, fmt.Errorf("selector %q names the metric; give the name as the latency histogram instead", s)
		}
	}
	return ms, nil
}

// selector prints name{ms...} with PromQL's quoting, so any label value
// (a hostile service name included) stays inside its string.
func selector(name string, ms ...*labels.Matcher) string {
	if len(ms) == 0 {
		return name
	}
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.String()
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}

func fmtQuantile(q float64) string { return strconv.FormatFloat(q, 'f', -1, 64) }
