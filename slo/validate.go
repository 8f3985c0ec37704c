package slo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/template"
)

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// reservedLabels are set by the generated rules themselves; a spec label
// of the same name would be silently overwritten.
var reservedLabels = []string{"slo", "service", "severity", "long", "short"}

// problem is one thing wrong with an SLO, tied to the field it is about.
type problem struct {
	field string
	msg   string
}

// Validate reports everything wrong with s, one error per problem, each
// prefixed with the file and line Parse found the field at.
func (s SLO) Validate() error {
	var errs []error
	for _, p := range s.problems() {
		if s.src != nil && s.src.bad[p.field] {
			continue // already reported when it failed to decode
		}
		errs = append(errs, s.errorf(p.field, "%s", p.msg))
	}
	return errors.Join(errs...)
}

// errorf formats an error about field of s: "file:line: slos[i] (name): msg".
func (s SLO) errorf(field, format string, args ...any) error {
	var b strings.Builder
	if s.File != "" {
		b.WriteString(s.File)
		if line := s.line(field); line > 0 {
			fmt.Fprintf(&b, ":%d", line)
		}
		b.WriteString(": ")
	}
	if s.src != nil {
		fmt.Fprintf(&b, "slos[%d]", s.src.index)
		if s.Name != "" {
			fmt.Fprintf(&b, " (%s)", s.Name)
		}
	} else {
		fmt.Fprintf(&b, "slo %q", s.Name)
	}
	b.WriteString(": ")
	fmt.Fprintf(&b, format, args...)
	return errors.New(b.String())
}

// line is where field (or its nearest parent Parse saw) was written.
func (s SLO) line(field string) int {
	if s.src != nil {
		for f := field; f != ""; {
			if l, ok := s.src.pos[f]; ok {
				return l
			}
			i := strings.LastIndexByte(f, '.')
			if i < 0 {
				break
			}
			f = f[:i]
		}
	}
	return s.Line
}

func (s SLO) problems() []problem {
	var ps []problem
	add := func(field, format string, args ...any) {
		ps = append(ps, problem{field, fmt.Sprintf(format, args...)})
	}
	switch {
	case s.Name == "":
		add("name", "name is missing")
	case !nameRE.MatchString(s.Name):
		add("name", "name %q may only contain letters, digits, _ and -", s.Name)
	}
	if s.Service == "" {
		add("service", "service is missing")
	} else if !utf8.ValidString(s.Service) {
		add("service", "service is not valid UTF-8")
	}
	switch o := s.Objective; {
	case math.IsNaN(o) || math.IsInf(o, 0) || o <= 0 || o >= 100:
		if o == 0 && !s.has("objective") {
			add("objective", "objective is missing (a percentage such as 99.9)")
		} else {
			add("objective", "objective %s is not between 0 and 100 (it is a percentage: 99.9 means 99.9%%)", formatFloat(o))
		}
	}
	if w := s.window(); w <= longestBurnWindow {
		add("window", "window %s must be longer than %s, the longest burn-rate alert window", w, model.Duration(longestBurnWindow))
	}
	ps = append(ps, labelProblems("labels", s.Labels, reservedLabels)...)

	switch sli := s.SLI; {
	case sli.Events == nil && sli.Latency == nil:
		add("sli", "sli needs one of events or latency")
	case sli.Events != nil && sli.Latency != nil:
		add("sli", "sli has both events and latency; keep one")
	case sli.Events != nil:
		ps = append(ps, sli.Events.problems()...)
	default:
		ps = append(ps, sli.Latency.problems()...)
	}

	for _, a := range []struct {
		name string
		spec AlertSpec
	}{{"page", s.Alerting.Page}, {"ticket", s.Alerting.Ticket}} {
		field := "alerting." + a.name
		ps = append(ps, labelProblems(field+".labels", a.spec.Labels, []string{"slo", "service"})...)
		for _, k := range sortedKeys(a.spec.Annotations) {
			if !model.LegacyValidation.IsValidLabelName(k) {
				add(field+".annotations."+k, "%s.annotations: %q is not a valid annotation name ([a-zA-Z_][a-zA-Z0-9_]*)", field, k)
			} else if err := checkTemplate(a.spec.Annotations[k]); err != nil {
				add(field+".annotations."+k, "%s.annotations.%s: %v", field, k, err)
			}
		}
		for _, k := range sortedKeys(a.spec.Labels) {
			if err := checkTemplate(a.spec.Labels[k]); err != nil {
				add(field+".labels."+k, "%s.labels.%s: %v", field, k, err)
			}
		}
	}
	return ps
}

// has reports whether Parse saw field; an SLO built in code has every field.
func (s SLO) has(field string) bool {
	if s.src == nil {
		return true
	}
	_, ok := s.src.pos[field]
	return ok
}

func labelProblems(field string, ls map[string]string, reserved []string) []problem {
	var ps []problem
	for _, k := range sortedKeys(ls) {
		f := field + "." + k
		switch {
		case !model.LegacyValidation.IsValidLabelName(k):
			ps = append(ps, problem{f, fmt.Sprintf("%s: %q is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)", field, k)})
		case strings.HasPrefix(k, "__"):
			ps = append(ps, problem{f, fmt.Sprintf("%s: label names starting with __ are reserved (%s)", field, k)})
		case slices.Contains(reserved, k):
			ps = append(ps, problem{f, fmt.Sprintf("%s: label %s is set by the generated rules and cannot be given here", field, k)})
		case ls[k] == "":
			ps = append(ps, problem{f, fmt.Sprintf("%s: label %s has an empty value", field, k)})
		case !utf8.ValidString(ls[k]):
			ps = append(ps, problem{f, fmt.Sprintf("%s: label %s has a value that is not valid UTF-8", field, k)})
		}
	}
	return ps
}

func (e *EventsSLI) problems() []problem {
	var ps []problem
	switch {
	case e.Good == "" && e.Bad == "":
		ps = append(ps, problem{"sli.events", "sli.events needs good or bad (and total)"})
	case e.Good != "" && e.Bad != "":
		ps = append(ps, problem{"sli.events", "sli.events has both good and bad; keep one"})
	case e.Good != "":
		ps = append(ps, exprProblems("sli.events.good", e.Good)...)
	default:
		ps = append(ps, exprProblems("sli.events.bad", e.Bad)...)
	}
	if e.Total == "" {
		ps = append(ps, problem{"sli.events.total", "sli.events.total is missing"})
	} else {
		ps = append(ps, exprProblems("sli.events.total", e.Total)...)
	}
	return ps
}

var windowVar = regexp.MustCompile(`\{\{\s*\.window\s*\}\}`)

// render puts a window into an SLI expression.
func render(expr string, window model.Duration) string {
	return windowVar.ReplaceAllLiteralString(expr, window.String())
}

func exprProblems(field, expr string) []problem {
	bad := func(format string, args ...any) []problem {
		return []problem{{field, field + ": " + fmt.Sprintf(format, args...)}}
	}
	if !windowVar.MatchString(expr) {
		return bad("has no {{.window}}; write the range as [{{.window}}] so that each alert window gets its own rate")
	}
	r := render(expr, 5*minute)
	if i := strings.Index(r, "{{"); i >= 0 {
		return bad("only {{.window}} may be used as a template, found %q", snippet(r[i:]))
	}
	e, err := parser.ParseExpr(r)
	if err != nil {
		return bad("not valid PromQL (with {{.window}} = 5m): %v", err)
	}
	if e.Type() != parser.ValueTypeVector {
		return bad("must return an instant vector (such as sum(rate(...))), not a %s", e.Type())
	}
	return nil
}

func snippet(s string) string {
	if i := strings.Index(s, "}}"); i >= 0 && i < 40 {
		return s[:i+2]
	}
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

func (l *LatencySLI) problems() []problem {
	var ps []problem
	add := func(field, format string, args ...any) {
		ps = append(ps, problem{field, fmt.Sprintf(format, args...)})
	}
	switch m := l.Metric; {
	case m == "":
		add("sli.latency.metric", "sli.latency.metric is missing (the histogram's name without _bucket)")
	case !model.LegacyValidation.IsValidMetricName(m):
		add("sli.latency.metric", "sli.latency.metric %q is not a valid metric name", m)
	case strings.HasSuffix(m, "_bucket") || strings.HasSuffix(m, "_count") || strings.HasSuffix(m, "_sum"):
		add("sli.latency.metric", "sli.latency.metric %q: give the histogram's base name, without _bucket, _count or _sum", m)
	}
	if _, err := l.matchers(); err != nil {
		add("sli.latency.selector", "sli.latency.selector: %v", err)
	}
	if t := l.Threshold; math.IsNaN(t) || math.IsInf(t, 0) || t <= 0 {
		add("sli.latency.threshold", "sli.latency.threshold %s must be a positive number of seconds (a bucket bound)", formatFloat(t))
	}
	return ps
}

// matchers parses the selector, refusing matchers the generated queries
// set themselves.
func (l *LatencySLI) matchers() ([]*labels.Matcher, error) {
	sel := strings.TrimSpace(l.Selector)
	if sel == "" {
		return nil, nil
	}
	if !strings.HasPrefix(sel, "{") {
		return nil, fmt.Errorf("%q must be label matchers in braces, like {service=\"checkout\"}", sel)
	}
	ms, err := parser.ParseMetricSelector(sel)
	if err != nil {
		return nil, fmt.Errorf("%q is not a valid selector: %w", sel, err)
	}
	var out []*labels.Matcher
	for _, m := range ms {
		switch m.Name {
		case model.MetricNameLabel:
			return nil, fmt.Errorf("%q names the metric; put it in sli.latency.metric", sel)
		case model.BucketLabel:
			return nil, fmt.Errorf("%q matches le; the threshold chooses the bucket", sel)
		}
		out = append(out, m)
	}
	return out, nil
}

// checkTemplate parses an alert label or annotation the way Prometheus
// will, so that a broken template is found by `vigil check slo` and not
// when the alert first fires.
func checkTemplate(text string) error {
	defs := "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"
	data := template.AlertTemplateData(map[string]string{}, map[string]string{}, "", promql.Sample{})
	te := template.NewTemplateExpander(context.Background(), defs+text, "slo", data,
		model.Time(timestamp.FromTime(time.Unix(0, 0))), nil, nil, nil)
	return te.ParseTest()
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
