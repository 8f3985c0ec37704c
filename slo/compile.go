package slo

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"
)

// EvalInterval is the evaluation interval of generated groups. 30s gives
// the 5m window ten evaluations, so the fastest alert reacts within a
// tenth of its shortest window, while the 3d-range rates over raw series
// (the costliest rules, as in Sloth's output) run half as often as at
// Prometheus's common 15s.
const EvalInterval = model.Duration(30 * time.Second)

// Names of the generated series and alert. Every series carries the labels
// slo and service and the spec's labels.
const (
	// ErrorRatioRecord + window (5m … 3d and the SLO window, e.g. 30d) is
	// the ratio of bad to all events over that window.
	ErrorRatioRecord = "slo:sli_error:ratio_rate"
	// ErrorRateRecord and TotalRateRecord are the per-second rates of bad
	// and of all events over 5m, from which the window-long ratio is summed.
	ErrorRateRecord = "slo:sli_error:rate5m"
	TotalRateRecord = "slo:sli_total:rate5m"
	ObjectiveRecord = "slo:objective:ratio"
	BudgetRecord    = "slo:error_budget:ratio"
	// RemainingRecord is 1 - (window error ratio / error budget): 1 with no
	// errors, 0 when the budget is spent, negative past that.
	RemainingRecord = "slo:error_budget_remaining:ratio"
	// BurnRateRecord + window (5m … 3d) is the error ratio over that window
	// divided by the error budget: 1 spends the budget exactly by the end of
	// the SLO window.
	BurnRateRecord = "slo:burn_rate:ratio"
	// AlertName is the name of every burn alert; the labels severity
	// (page, ticket), long and short tell them apart.
	AlertName = "SLOErrorBudgetBurn"
)

// Compile turns a valid SLO into one rule group named "slo:<name>",
// evaluated every EvalInterval. One group, because Prometheus evaluates a
// group's rules in order and each sees the previous ones' results at the
// same timestamp, so the burn rates and alerts never mix old and new
// ratios.
//
// The rules are, in order:
//   - ErrorRatioRecord for each burn window, from the SLI's raw series;
//   - ErrorRateRecord and TotalRateRecord;
//   - ErrorRatioRecord for the SLO window, as sum_over_time of the 5m error
//     rate over sum_over_time of the 5m total rate. Summing the recorded 5m
//     rates reads 30s-spaced samples instead of 30 days of raw series each
//     evaluation (Sloth's reason for averaging the 5m ratio), and summing
//     rates rather than averaging ratios weighs each 5m by its traffic, so
//     a bad quiet night counts for its few requests, as the increase over
//     the window (Pyrra's choice) would count it. The window starts when
//     the rules first ran: until they have run a whole window it is the
//     ratio since then;
//   - ObjectiveRecord, BudgetRecord, RemainingRecord, and BurnRateRecord for
//     each burn window;
//   - unless alerting is disabled, four AlertName alerts, one per window
//     pair of the SRE workbook (see burnAlert), without `for`: as in Sloth
//     and the workbook, the short window already keeps a blip from paging
//     and a `for` would only delay the page.
func Compile(s SLO) (rulefmt.RuleGroups, error) {
	if err := s.Validate(); err != nil {
		return rulefmt.RuleGroups{}, err
	}
	q := s.queries()
	budget := formatFloat(s.errorBudget())
	sel := s.selector()
	lbls := s.seriesLabels()

	var rs []rulefmt.Rule
	record := func(name, expr string) {
		rs = append(rs, rulefmt.Rule{Record: name, Expr: expr, Labels: maps.Clone(lbls)})
	}
	var errs []error
	canon := func(expr string) string {
		c, err := canonical(expr)
		if err != nil {
			errs = append(errs, s.errorf("sli", "cannot compile SLI: %v", err))
		}
		return c
	}
	for _, w := range burnWindows {
		record(ErrorRatioRecord+w.String(), canon(q.errorRatio(w)))
	}
	record(ErrorRateRecord, canon(q.errorRate(5*minute)))
	record(TotalRateRecord, canon(render(q.total, 5*minute)))
	win := s.window()
	record(ErrorRatioRecord+win.String(), fmt.Sprintf("sum_over_time(%s%s[%s]) / sum_over_time(%s%s[%s])",
		ErrorRateRecord, sel, win, TotalRateRecord, sel, win))
	record(ObjectiveRecord, fmt.Sprintf("vector(%s)", formatFloat(s.objectiveRatio())))
	record(BudgetRecord, fmt.Sprintf("vector(%s)", budget))
	record(RemainingRecord, fmt.Sprintf("1 - %s%s%s / %s", ErrorRatioRecord, win, sel, budget))
	for _, w := range burnWindows {
		record(BurnRateRecord+w.String(), fmt.Sprintf("%s%s%s / %s", ErrorRatioRecord, w, sel, budget))
	}
	if !s.Alerting.Disabled {
		for _, a := range burnAlerts {
			rs = append(rs, s.alertRule(a))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return rulefmt.RuleGroups{}, err
	}
	return rulefmt.RuleGroups{Groups: []rulefmt.RuleGroup{{
		Name:     "slo:" + s.Name,
		Interval: EvalInterval,
		Rules:    rs,
	}}}, nil
}

// RuleFile compiles SLOs into one Prometheus rule file, a group per SLO.
func RuleFile(slos []SLO) ([]byte, error) {
	var all rulefmt.RuleGroups
	var errs []error
	for _, s := range slos {
		g, err := Compile(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		all.Groups = append(all.Groups, g.Groups...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("# Generated by Vigil from SLO specs: edit the specs, not this file.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(all); err != nil {
		return nil, fmt.Errorf("cannot encode SLO rules: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("cannot encode SLO rules: %w", err)
	}
	return b.Bytes(), nil
}

// BudgetRangeQuery is the PromQL expression the UI draws as the SLO's
// burn-down chart: the recorded error budget remaining, a ratio (1 is all
// of it, below 0 overspent). It has data from when the rules first ran;
// reconstructing earlier history from raw series would evaluate a
// window-long range at every step, too costly for a chart.
func BudgetRangeQuery(s SLO) string {
	return RemainingRecord + s.selector()
}

// selector picks the series recorded for s. Names are unique and match
// [a-zA-Z0-9_-]+, so quoting is plain.
func (s SLO) selector() string {
	return fmt.Sprintf(`{slo="%s"}`, s.Name)
}

func (s SLO) seriesLabels() map[string]string {
	l := make(map[string]string, len(s.Labels)+2)
	maps.Copy(l, s.Labels)
	l["slo"] = s.Name
	l["service"] = s.Service
	return l
}

func (s SLO) alertRule(a burnAlert) rulefmt.Rule {
	win := s.window()
	factor := formatFloat(a.Factor(win))
	sel := s.selector()
	spec := s.Alerting.Page
	if a.Severity == "ticket" {
		spec = s.Alerting.Ticket
	}
	lbls := map[string]string{"severity": a.Severity, "long": a.Long.String(), "short": a.Short.String()}
	maps.Copy(lbls, spec.Labels)
	ann := map[string]string{
		"summary": "SLO {{ $labels.slo }} of {{ $labels.service }} is burning its error budget {{ $value | humanize }}x too fast",
		"description": fmt.Sprintf("The error ratio over the last %s and over the last %s is more than %s times the %s error budget of the %s%% objective. "+
			"Kept up, that spends %d%% of the %s budget every %s. Burn rate over %s: {{ $value | humanize }}.",
			a.Long, a.Short, factor, formatFloat(s.errorBudget()), formatFloat(s.Objective), a.BudgetPercent, win, a.Long, a.Long),
	}
	maps.Copy(ann, spec.Annotations)
	return rulefmt.Rule{
		Alert: AlertName,
		Expr: fmt.Sprintf("%s%s%s > %s and %s%s%s > %s",
			BurnRateRecord, a.Long, sel, factor, BurnRateRecord, a.Short, sel, factor),
		Labels:      lbls,
		Annotations: ann,
	}
}

// sliQueries is an SLI as PromQL templates containing {{.window}}; exactly
// one of good and bad is set.
type sliQueries struct{ good, bad, total string }

func (s SLO) queries() sliQueries {
	if e := s.SLI.Events; e != nil {
		return sliQueries{good: e.Good, bad: e.Bad, total: e.Total}
	}
	l := s.SLI.Latency
	ms, _ := l.matchers() // checked by Validate
	base := make([]string, 0, len(ms)+1)
	for _, m := range ms {
		base = append(base, m.String())
	}
	bucket := append(base[:len(base):len(base)], leMatcher(l.Threshold).String())
	return sliQueries{
		good:  fmt.Sprintf("sum(rate(%s_bucket{%s}[{{.window}}]))", l.Metric, strings.Join(bucket, ", ")),
		total: fmt.Sprintf("sum(rate(%s_count{%s}[{{.window}}]))", l.Metric, strings.Join(base, ", ")),
	}
}

// leMatcher matches the bucket bound t however it is written: Prometheus 3
// writes le="1.0" for a bound a client exposes as le="1", and
// le="0.3" stays as it is.
func leMatcher(t float64) *labels.Matcher {
	plain, om := formatFloat(t), labels.FormatOpenMetricsFloat(t)
	if plain == om {
		return labels.MustNewMatcher(labels.MatchEqual, model.BucketLabel, plain)
	}
	return labels.MustNewMatcher(labels.MatchRegexp, model.BucketLabel, regexp.QuoteMeta(plain)+"|"+regexp.QuoteMeta(om))
}

// errorRatio is the PromQL ratio of bad to all events over w.
func (q sliQueries) errorRatio(w model.Duration) string {
	if q.bad != "" {
		return fmt.Sprintf("(%s) / (%s)", wrap(render(q.bad, w)), wrap(render(q.total, w)))
	}
	return fmt.Sprintf("1 - (%s) / (%s)", wrap(render(q.good, w)), wrap(render(q.total, w)))
}

// errorRate is the PromQL per-second rate of bad events over w.
func (q sliQueries) errorRate(w model.Duration) string {
	if q.bad != "" {
		return render(q.bad, w)
	}
	return fmt.Sprintf("(%s) - (%s)", wrap(render(q.total, w)), wrap(render(q.good, w)))
}

// wrap puts a user's expression on lines of its own, so that a trailing
// PromQL # comment in it cannot swallow the closing parenthesis.
func wrap(expr string) string { return "\n" + expr + "\n" }

// canonical parses expr and prints it back on one line, without comments.
func canonical(expr string) (string, error) {
	e, err := parser.ParseExpr(expr)
	if err != nil {
		return "", err
	}
	return e.String(), nil
}
