package watch

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"github.com/vigilhq/vigil/anomaly"
)

// Rule is one anomaly rule: `anomaly: NAME` in a rule group, beside
// Prometheus's `record:` and `alert:` rules.
type Rule struct {
	Name        string
	Expr        string
	Sensitivity float64
	Direction   string
	Seasonality string
	Timezone    string
	MinHistory  time.Duration
	// HoldOff is how long an alert stays firing after the last point that
	// scored above the threshold, and how long the detector holds back
	// a second alert within one incident.
	HoldOff     time.Duration
	Labels      map[string]string
	Annotations map[string]string

	// File and Group place the rule; Line is where `anomaly:` is.
	File, Group string
	Line        int
	// Interval is the group's evaluation interval (0 until the manager's
	// default is known).
	Interval time.Duration
}

// DefaultHoldOff is an anomaly rule's hold-off when it sets none.
const DefaultHoldOff = 30 * time.Minute

// Config is the detector configuration of the rule at an evaluation
// interval.
func (r *Rule) Config(interval time.Duration) anomaly.Config {
	loc, err := time.LoadLocation(r.Timezone)
	if err != nil || r.Timezone == "" {
		loc = time.UTC
	}
	hold := -1
	if r.HoldOff > 0 && interval > 0 {
		hold = int((r.HoldOff + interval - 1) / interval)
	}
	return anomaly.Config{
		Seasonality:   r.Seasonality,
		Location:      loc,
		Sensitivity:   r.Sensitivity,
		Direction:     r.Direction,
		MinHistory:    r.MinHistory,
		HoldOffPoints: hold,
		BandGate:      true,
	}
}

// Threshold is the anomaly score at which the rule alerts.
func (r *Rule) Threshold() float64 {
	return r.Config(time.Minute).Threshold()
}

// fingerprint changes when anything that shapes the detector's state
// changes; saved state with another fingerprint is not reused.
func (r *Rule) fingerprint(interval time.Duration) string {
	return fmt.Sprintf("%s\x00%s\x00%g\x00%s\x00%s\x00%s\x00%d\x00%d\x00%d", r.Name, r.Expr, r.Sensitivity, r.Direction, r.Seasonality, r.Timezone, r.MinHistory, r.HoldOff, interval)
}

// Series names an anomaly rule writes for each series its expression
// returns, labelled with the series' labels and anomaly_rule.
const (
	ObservedName = "anomaly_observed"
	ExpectedName = "anomaly_expected"
	LowerName    = "anomaly_lower"
	UpperName    = "anomaly_upper"
	ScoreName    = "anomaly_score"
	RuleLabel    = "anomaly_rule"
)

var ruleKeys = []string{"anomaly", "expr", "sensitivity", "direction", "seasonality", "timezone", "min_history", "hold_off", "labels", "annotations"}

// ParseFile reads a rule file that may hold anomaly rules. It returns the
// groups as Prometheus's rule manager loads them (each anomaly rule
// replaced by the alerting rule that fires on its score) and the anomaly
// rules. Errors name the file and, where known, the line.
func ParseFile(path string) (*rulefmt.RuleGroups, []*Rule, []error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, []error{fmt.Errorf("%s: %w", path, err)}
	}
	return Parse(path, b)
}

// Parse is ParseFile on content read already; name is the file's name.
func Parse(name string, content []byte) (*rulefmt.RuleGroups, []*Rule, []error) {
	prefix := func(errs []error) []error {
		for i, e := range errs {
			if !strings.HasPrefix(e.Error(), name) {
				errs[i] = fmt.Errorf("%s: %w", name, e)
			}
		}
		return errs
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(content, &doc); err != nil {
		return nil, nil, prefix([]error{err})
	}
	found, errs := rewrite(&doc, name)
	if len(errs) > 0 {
		return nil, nil, prefix(errs)
	}
	lines := map[int]int(nil)
	if len(found) > 0 {
		// Prometheus's parser sees the generated alerting rules in
		// place of the anomaly rules. Its errors name lines of the
		// rewritten text, mapped back to the file's own below.
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(&doc); err != nil {
			return nil, nil, prefix([]error{err})
		}
		content = buf.Bytes()
		var again yaml.Node
		if err := yaml.Unmarshal(content, &again); err == nil {
			lines = make(map[int]int)
			mapLines(&doc, &again, 0, lines)
		}
	}
	rgs, perrs := rulefmt.Parse(content, false, model.UTF8Validation)
	if len(perrs) > 0 {
		for i, e := range perrs {
			perrs[i] = remapLine(e, lines)
		}
		return nil, nil, prefix(perrs)
	}
	return rgs, found, nil
}

// mapLines records, for each node of the re-encoded document, the line
// of the same node in the file (a generated node takes its anomaly
// rule's line, which its nearest placed ancestor has).
func mapLines(orig, again *yaml.Node, anc int, m map[int]int) {
	line := orig.Line
	if line == 0 {
		line = anc
	}
	if _, ok := m[again.Line]; !ok && line != 0 {
		m[again.Line] = line
	}
	for i := 0; i < len(orig.Content) && i < len(again.Content); i++ {
		mapLines(orig.Content[i], again.Content[i], line, m)
	}
}

var lineColPrefix = regexp.MustCompile(`^(\d+):(\d+): `)

// remapLine rewrites rulefmt's leading "line:column: " to the file's line.
func remapLine(err error, m map[int]int) error {
	if m == nil {
		return err
	}
	msg := err.Error()
	loc := lineColPrefix.FindStringSubmatchIndex(msg)
	if loc == nil {
		return err
	}
	n, _ := strconv.Atoi(msg[loc[2]:loc[3]])
	orig, ok := m[n]
	if !ok {
		return err
	}
	return fmt.Errorf("%d:%s", orig, msg[loc[3]+1:])
}

// rewrite replaces each anomaly rule in the document by its alerting rule
// and returns the anomaly rules.
func rewrite(doc *yaml.Node, file string) ([]*Rule, []error) {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	groups := mapValue(doc.Content[0], "groups")
	if groups == nil || groups.Kind != yaml.SequenceNode {
		return nil, nil // rulefmt reports what is wrong
	}
	var found []*Rule
	var errs []error
	for _, g := range groups.Content {
		if g.Kind != yaml.MappingNode {
			continue
		}
		var group string
		if n := mapValue(g, "name"); n != nil {
			group = n.Value
		}
		var interval time.Duration
		if n := mapValue(g, "interval"); n != nil {
			if d, err := model.ParseDuration(n.Value); err == nil {
				interval = time.Duration(d)
			}
		}
		rs := mapValue(g, "rules")
		if rs == nil || rs.Kind != yaml.SequenceNode {
			continue
		}
		for i, rn := range rs.Content {
			if rn.Kind != yaml.MappingNode || mapValue(rn, "anomaly") == nil {
				continue
			}
			r, err := decodeRule(rn)
			if err != nil {
				line, col := rn.Line, rn.Column
				var le *lineError
				if errors.As(err, &le) {
					line, col, err = le.line, le.col, le.err
				}
				// Placed as rulefmt places its errors: line:column.
				errs = append(errs, fmt.Errorf("%d:%d: group %q, rule %d: %w", line, col, group, i+1, err))
				continue
			}
			r.File, r.Group, r.Line, r.Interval = file, group, rn.Line, interval
			var alert yaml.Node
			if err := alert.Encode(r.alertingRule()); err != nil {
				errs = append(errs, err)
				continue
			}
			*rn = alert
			found = append(found, r)
		}
	}
	return found, errs
}

// lineError places an anomaly rule's error on the line of its field.
type lineError struct {
	line, col int
	err       error
}

func (e *lineError) Error() string { return fmt.Sprintf("%d:%d: %v", e.line, e.col, e.err) }

func atLine(n *yaml.Node, format string, args ...any) error {
	return &lineError{line: n.Line, col: n.Column, err: fmt.Errorf(format, args...)}
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// decodeRule reads and checks one anomaly rule's fields.
func decodeRule(n *yaml.Node) (*Rule, error) {
	for i := 0; i < len(n.Content); i += 2 {
		k := n.Content[i]
		if !slices.Contains(ruleKeys, k.Value) {
			if k.Value == "for" || k.Value == "keep_firing_for" || k.Value == "alert" || k.Value == "record" {
				return nil, atLine(k, "an anomaly rule has no %q: its hold_off decides how long an alert stays firing", k.Value)
			}
			return nil, atLine(k, "unknown field %q in an anomaly rule (known: %s)", k.Value, strings.Join(ruleKeys, ", "))
		}
	}
	var raw struct {
		Anomaly     string            `yaml:"anomaly"`
		Expr        string            `yaml:"expr"`
		Sensitivity *float64          `yaml:"sensitivity"`
		Direction   string            `yaml:"direction"`
		Seasonality string            `yaml:"seasonality"`
		Timezone    string            `yaml:"timezone"`
		MinHistory  string            `yaml:"min_history"`
		HoldOff     string            `yaml:"hold_off"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	}
	if err := n.Decode(&raw); err != nil {
		return nil, err
	}
	line := func(key string) *yaml.Node {
		if v := mapValue(n, key); v != nil {
			return v
		}
		return n
	}
	r := &Rule{
		Name: raw.Anomaly, Expr: raw.Expr, Direction: raw.Direction, Seasonality: raw.Seasonality,
		Timezone: raw.Timezone, Labels: raw.Labels, Annotations: raw.Annotations, HoldOff: DefaultHoldOff,
	}
	if strings.TrimSpace(r.Name) == "" {
		return nil, atLine(line("anomaly"), "anomaly: the rule needs a name")
	}
	if strings.TrimSpace(r.Expr) == "" {
		return nil, atLine(n, "anomaly rule %q: expr is empty", r.Name)
	}
	expr, err := parser.ParseExpr(r.Expr)
	if err != nil {
		return nil, atLine(line("expr"), "anomaly rule %q: expr: %w", r.Name, err)
	}
	if t := expr.Type(); t != parser.ValueTypeVector && t != parser.ValueTypeScalar {
		return nil, atLine(line("expr"), "anomaly rule %q: expr must give an instant vector or a scalar, not a %s", r.Name, t)
	}
	if raw.Sensitivity != nil {
		r.Sensitivity = *raw.Sensitivity
		if !(r.Sensitivity > 0 && r.Sensitivity <= 1) { // NaN too
			return nil, atLine(line("sensitivity"), "anomaly rule %q: sensitivity %v: want a value in (0,1]", r.Name, r.Sensitivity)
		}
	}
	if r.Timezone != "" {
		if _, err := time.LoadLocation(r.Timezone); err != nil {
			return nil, atLine(line("timezone"), "anomaly rule %q: timezone %q: %w", r.Name, r.Timezone, err)
		}
	}
	dur := func(key, s string, dst *time.Duration) error {
		if s == "" {
			return nil
		}
		d, err := model.ParseDuration(s)
		if err != nil {
			return atLine(line(key), "anomaly rule %q: %s: %w", r.Name, key, err)
		}
		*dst = time.Duration(d)
		return nil
	}
	if err := dur("min_history", raw.MinHistory, &r.MinHistory); err != nil {
		return nil, err
	}
	if err := dur("hold_off", raw.HoldOff, &r.HoldOff); err != nil {
		return nil, err
	}
	if err := (anomaly.Config{Seasonality: r.Seasonality}).Validate(); err != nil {
		return nil, atLine(line("seasonality"), "anomaly rule %q: %w", r.Name, err)
	}
	if err := (anomaly.Config{Direction: r.Direction}).Validate(); err != nil {
		return nil, atLine(line("direction"), "anomaly rule %q: %w", r.Name, err)
	}
	for k := range r.Labels {
		if k == RuleLabel || k == model.MetricNameLabel {
			return nil, atLine(line("labels"), "anomaly rule %q: label %q is set by Vigil", r.Name, k)
		}
	}
	return r, nil
}

// alertingRule is the Prometheus alerting rule that fires on the rule's
// score. The annotations read the observed, expected and band values the
// evaluation wrote at the same timestamp, for the alert's own series.
func (r *Rule) alertingRule() rulefmt.Rule {
	ann := map[string]string{
		"summary":     "{{ $labels." + RuleLabel + " }}: " + seriesTmpl + " departs from its baseline: observed " + valueTmpl(ObservedName) + ", expected " + valueTmpl(ExpectedName),
		"description": "Anomaly rule {{ $labels." + RuleLabel + " }} on " + seriesTmpl + ": observed " + valueTmpl(ObservedName) + " where " + valueTmpl(ExpectedName) + " was expected (normal band " + valueTmpl(LowerName) + " to " + valueTmpl(UpperName) + "); anomaly score {{ printf \"%.3f\" $value }}, detected at " + startedTmpl + ".",
		"observed":    valueTmpl(ObservedName),
		"expected":    valueTmpl(ExpectedName),
		"lower":       valueTmpl(LowerName),
		"upper":       valueTmpl(UpperName),
		"score":       `{{ printf "%.3f" $value }}`,
		"started":     startedTmpl,
		"series":      seriesTmpl,
	}
	for k, v := range r.Annotations {
		ann[k] = v
	}
	return rulefmt.Rule{
		Alert:         r.Name,
		Expr:          r.alertExpr(),
		KeepFiringFor: model.Duration(r.HoldOff),
		Labels:        r.Labels,
		Annotations:   ann,
	}
}

// alertExpr fires when the score reaches the threshold while the value
// is outside its band on the rule's side. The band gate keeps alerts to
// what their explanation can show: the detector also scores departures
// inside the band (a new rhythm, a shape never seen), which on clean
// seasonal data at a one-minute step gave about one alert every two days
// per series (cmd/vigil TestBacktestRuleOverHTTP). Those still show in
// anomaly_score.
func (r *Rule) alertExpr() string {
	sel := func(name string) string {
		return fmt.Sprintf("%s{%s=%s}", name, RuleLabel, strconv.Quote(r.Name))
	}
	above := sel(ObservedName) + " > " + sel(UpperName)
	below := sel(ObservedName) + " < " + sel(LowerName)
	var outside string
	switch r.Direction {
	case "up":
		outside = above
	case "down":
		outside = below
	default:
		outside = above + " or " + below
	}
	return fmt.Sprintf("%s >= %s and (%s)", sel(ScoreName), strconv.FormatFloat(r.Threshold(), 'g', -1, 64), outside)
}

// Alerting is whether a result at value v makes the rule's alert fire:
// the score at the threshold and v outside the band on the rule's side.
// It is alertExpr in Go, for backtests and the status.
func (r *Rule) Alerting(res anomaly.Result, v float64) bool {
	if !res.Anomalous {
		return false
	}
	switch r.Direction {
	case "up":
		return v > res.Upper
	case "down":
		return v < res.Lower
	}
	return v > res.Upper || v < res.Lower
}

// selectorTmpl builds, inside an annotation template, a PromQL selector
// body matching every label of the alert's series.
const selectorTmpl = `{{ $sel := "" -}}{{- range $k, $v := $labels -}}{{- if ne $k "__name__" -}}{{- $sel = printf "%s%q=%q," $sel $k $v -}}{{- end -}}{{- end -}}`

func valueTmpl(name string) string {
	return selectorTmpl + `{{- with query (printf "` + name + `{%s}" $sel) -}}{{- . | first | value | printf "%.6g" -}}{{- else -}}unknown{{- end }}`
}

// seriesTmpl is the watched series' labels, as {a="b", c="d"}.
const seriesTmpl = `{{ $first := true -}}{{ "{" }}` +
	`{{- range $k, $v := $labels -}}{{- if and (ne $k "__name__") (ne $k "` + RuleLabel + `") -}}` +
	`{{- if not $first }}, {{ end -}}{{- $first = false -}}{{ $k }}="{{ $v }}"{{- end -}}{{- end -}}{{ "}" }}`

const startedTmpl = `{{ with toTime now -}}{{- .UTC.Format "2006-01-02T15:04:05Z" -}}{{- end }}`

// CheckUnique reports anomaly rules that share a name: the name is the
// anomaly_rule label of every series they write.
func CheckUnique(rules []*Rule) error {
	seen := make(map[string]*Rule)
	var errs []error
	for _, r := range rules {
		if p, ok := seen[r.Name]; ok {
			errs = append(errs, fmt.Errorf("%s:%d: anomaly rule %q is also defined at %s:%d; anomaly rule names must be unique", r.File, r.Line, r.Name, p.File, p.Line))
			continue
		}
		seen[r.Name] = r
	}
	return errors.Join(errs...)
}
