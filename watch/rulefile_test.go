package watch_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/promqltest"
	"gopkg.in/yaml.v3"

	"github.com/vigilhq/vigil/anomaly"
	"github.com/vigilhq/vigil/ruler"
	"github.com/vigilhq/vigil/watch"
)

// mixedRules holds every kind of rule; the line numbers in
// TestParseMixedFile refer to it.
const mixedRules = `groups:
  - name: mixed
    interval: 2m
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: InstanceDown
        expr: up == 0
        for: 5m
      - anomaly: Traffic
        expr: sum by (job) (rate(requests_total[5m]))
        sensitivity: 0.7
        direction: up
        seasonality: weekly
        timezone: Europe/Berlin
        min_history: 48h
        hold_off: 10m
        labels: {severity: page}
        annotations: {summary: "custom summary", runbook: "https://runbooks.example/traffic"}
      - anomaly: Plain
        expr: requests
`

func TestParseMixedFile(t *testing.T) {
	rgs, found, errs := watch.Parse("mixed.yml", []byte(mixedRules))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(rgs.Groups) != 1 || len(rgs.Groups[0].Rules) != 4 {
		t.Fatalf("groups %+v, want one group of four rules", rgs.Groups)
	}
	rs := rgs.Groups[0].Rules
	if rs[0].Record != "job:up:sum" || rs[1].Alert != "InstanceDown" || time.Duration(rs[1].For) != 5*time.Minute {
		t.Errorf("the Prometheus rules changed: %+v %+v", rs[0], rs[1])
	}
	if len(found) != 2 {
		t.Fatalf("%d anomaly rules, want 2", len(found))
	}

	tr := found[0]
	want := watch.Rule{
		Name: "Traffic", Expr: "sum by (job) (rate(requests_total[5m]))", Sensitivity: 0.7, Direction: "up",
		Seasonality: "weekly", Timezone: "Europe/Berlin", MinHistory: 48 * time.Hour, HoldOff: 10 * time.Minute,
		File: "mixed.yml", Group: "mixed", Line: 10, Interval: 2 * time.Minute,
	}
	if tr.Name != want.Name || tr.Expr != want.Expr || tr.Sensitivity != want.Sensitivity || tr.Direction != want.Direction ||
		tr.Seasonality != want.Seasonality || tr.Timezone != want.Timezone || tr.MinHistory != want.MinHistory ||
		tr.HoldOff != want.HoldOff || tr.File != want.File || tr.Group != want.Group || tr.Line != want.Line || tr.Interval != want.Interval {
		t.Errorf("decoded\n%+v\nwant\n%+v", *tr, want)
	}
	if tr.Labels["severity"] != "page" || len(tr.Labels) != 1 {
		t.Errorf("labels %v", tr.Labels)
	}
	pl := found[1]
	if pl.HoldOff != 30*time.Minute || pl.Line != 20 || pl.Sensitivity != 0 || pl.Direction != "" {
		t.Errorf("a rule with only a name and expr: %+v, want the 30m default hold-off at line 20", *pl)
	}

	// The anomaly rules are replaced, in place, by the alerting rules on
	// their scores, gated on the observed value being outside the band
	// on the rule's side.
	for i, c := range []struct {
		r         rulefmt.Rule
		name      string
		threshold float64
		hold      time.Duration
		gate      string
	}{
		{rs[2], "Traffic", 0.40, 10 * time.Minute, `anomaly_observed{anomaly_rule="Traffic"} > anomaly_upper{anomaly_rule="Traffic"}`},
		{rs[3], "Plain", 0.48, 30 * time.Minute, `anomaly_observed{anomaly_rule="Plain"} > anomaly_upper{anomaly_rule="Plain"} or anomaly_observed{anomaly_rule="Plain"} < anomaly_lower{anomaly_rule="Plain"}`},
	} {
		if c.r.Alert != c.name || c.r.Record != "" || c.r.For != 0 {
			t.Errorf("rule %d: %+v, want alert %s without for", i, c.r, c.name)
		}
		m := regexp.MustCompile(`^anomaly_score\{anomaly_rule="` + c.name + `"\} >= ([0-9.e+-]+)(.*)$`).FindStringSubmatch(c.r.Expr)
		if m == nil {
			t.Errorf("rule %s: expr %q, want anomaly_score{anomaly_rule=%q} >= threshold", c.name, c.r.Expr, c.name)
			continue
		}
		th, err := strconv.ParseFloat(m[1], 64)
		if err != nil || th < c.threshold-1e-9 || th > c.threshold+1e-9 {
			t.Errorf("rule %s: threshold %s, want %v", c.name, m[1], c.threshold)
		}
		if m[2] != " and ("+c.gate+")" {
			t.Errorf("rule %s: after the threshold %q, want the band gate %q", c.name, m[2], c.gate)
		}
		if time.Duration(c.r.KeepFiringFor) != c.hold {
			t.Errorf("rule %s: keep_firing_for %v, want the hold-off %v", c.name, c.r.KeepFiringFor, c.hold)
		}
	}
	if got := found[0].Threshold(); got < 0.4-1e-9 || got > 0.4+1e-9 {
		t.Errorf("Threshold() at sensitivity 0.7 = %v, want 0.40", got)
	}
	if rs[2].Labels["severity"] != "page" {
		t.Errorf("generated alert lost the rule's labels: %v", rs[2].Labels)
	}
	ann := rs[2].Annotations
	if ann["summary"] != "custom summary" || ann["runbook"] != "https://runbooks.example/traffic" {
		t.Errorf("user annotations do not override/add: %v", ann)
	}
	for _, k := range []string{"description", "observed", "expected", "lower", "upper", "score", "started", "series"} {
		if ann[k] == "" {
			t.Errorf("generated annotation %q missing beside the user's", k)
		}
	}
	if rs[3].Annotations["summary"] == "" || rs[3].Annotations["summary"] == "custom summary" {
		t.Errorf("Plain's summary %q, want the generated one", rs[3].Annotations["summary"])
	}
}

// oneRule places extra at line 6 of a file whose anomaly rule starts at
// line 4 and whose expr is at line 5.
func oneRule(name, expr, extra string) string {
	s := "groups:\n  - name: g\n    rules:\n      - anomaly: " + name + "\n        expr: " + expr + "\n"
	if extra != "" {
		s += "        " + extra + "\n"
	}
	return s
}

// placedAt is whether msg places its problem at line, as rulefmt does
// ("file: line:column: ...") or as "line N:" after the rule's place.
func placedAt(msg, file string, line int) bool {
	n := strconv.Itoa(line)
	return strings.HasPrefix(msg, file+": "+n+":") || strings.Contains(msg, "line "+n+":")
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		name, content string
		line          int
		problem       string
	}{
		{"unknown field", oneRule("A", "up", "frobnicate: yes"), 6, `unknown field "frobnicate"`},
		{"for given", oneRule("A", "up", "for: 5m"), 6, `no "for"`},
		{"keep_firing_for given", oneRule("A", "up", "keep_firing_for: 5m"), 6, `no "keep_firing_for"`},
		{"empty name", oneRule(`""`, "up", ""), 4, "needs a name"},
		{"blank name", oneRule(`"  "`, "up", ""), 4, "needs a name"},
		{"empty expr", oneRule("A", `""`, ""), 4, "expr is empty"},
		{"expr syntax error", oneRule("A", `"sum(rate(x[5m]"`, ""), 5, "expr:"},
		{"range vector expr", oneRule("A", "up[5m]", ""), 5, "not a matrix"},
		{"sensitivity 0", oneRule("A", "up", "sensitivity: 0"), 6, "sensitivity 0"},
		{"sensitivity 1.5", oneRule("A", "up", "sensitivity: 1.5"), 6, "sensitivity 1.5"},
		{"sensitivity negative", oneRule("A", "up", "sensitivity: -0.2"), 6, "sensitivity -0.2"},
		{"direction sideways", oneRule("A", "up", "direction: sideways"), 6, `"sideways"`},
		{"seasonality hourly", oneRule("A", "up", "seasonality: hourly"), 6, `"hourly"`},
		{"timezone", oneRule("A", "up", "timezone: Mars/Base"), 6, `"Mars/Base"`},
		{"bad hold_off", oneRule("A", "up", "hold_off: 5 minutes"), 6, "hold_off"},
		{"bad min_history", oneRule("A", "up", "min_history: 3days"), 6, "min_history"},
		{"anomaly_rule label", oneRule("A", "up", "labels: {anomaly_rule: mine}"), 6, `label "anomaly_rule"`},
		{"__name__ label", oneRule("A", "up", "labels: {__name__: mine}"), 6, `label "__name__"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, found, errs := watch.Parse("bad.yml", []byte(c.content))
			if len(errs) != 1 {
				t.Fatalf("%d errors %v (found %v), want 1", len(errs), errs, found)
			}
			msg := errs[0].Error()
			if !strings.HasPrefix(msg, "bad.yml: ") {
				t.Errorf("%q does not start with the file", msg)
			}
			if !placedAt(msg, "bad.yml", c.line) {
				t.Errorf("%q does not name line %d", msg, c.line)
			}
			if !strings.Contains(msg, c.problem) {
				t.Errorf("%q does not say %q", msg, c.problem)
			}
		})
	}
}

// NaN passes both `<= 0` and `> 1`; the generated alert then compares
// with NaN and never fires.
func TestParseRejectsNaNSensitivity(t *testing.T) {
	_, found, errs := watch.Parse("nan.yml", []byte(oneRule("A", "up", "sensitivity: .nan")))
	if len(errs) == 0 {
		t.Fatalf("sensitivity .nan accepted: threshold %v (the alert `anomaly_score >= NaN` can never fire)", found[0].Threshold())
	}
	if msg := errs[0].Error(); !placedAt(msg, "nan.yml", 6) || !strings.Contains(msg, "sensitivity") {
		t.Errorf("%q: want line 6 and sensitivity", msg)
	}
}

// Prometheus's own checks still run on the rest of the file, whatever
// side of the anomaly rule the bad rule is on.
func TestParsePrometheusErrorBesideAnomalyRule(t *testing.T) {
	const before = `groups:
  - name: g
    rules:
      - alert: Broken
        expr: up ==
      - anomaly: A
        expr: up
`
	const after = `groups:
  - name: g
    rules:
      - anomaly: A
        expr: up
        labels: {severity: page}
      - alert: Broken
        expr: up ==
`
	for _, c := range []struct {
		name, content string
		line          int
	}{{"before", before, 5}, {"after", after, 8}} {
		t.Run(c.name, func(t *testing.T) {
			_, found, errs := watch.Parse("prom.yml", []byte(c.content))
			if len(errs) == 0 {
				t.Fatalf("no error for a broken alert rule beside an anomaly rule (found %v)", found)
			}
			msg := errs[0].Error()
			if !strings.HasPrefix(msg, "prom.yml: ") || !strings.Contains(msg, `"Broken"`) || !strings.Contains(msg, "parse") {
				t.Errorf("%q: want the file, the rule and the parse error", msg)
			}
			if !regexp.MustCompile(`(^|[^0-9])` + strconv.Itoa(c.line) + `:[0-9]+:`).MatchString(msg) {
				t.Errorf("%q does not place the error at line %d", msg, c.line)
			}
		})
	}
}

func TestParseDocumentErrors(t *testing.T) {
	for _, c := range []struct{ name, content, problem string }{
		{"not yaml", "groups: [\n", "yaml"},
		{"duplicate group", "groups:\n  - name: g\n    rules: [{anomaly: A, expr: up}]\n  - name: g\n    rules: [{anomaly: B, expr: up}]\n", "repeated in the same file"},
		{"duplicate key", oneRule("A", "up", "expr: down"), "already"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, errs := watch.Parse("doc.yml", []byte(c.content))
			if len(errs) == 0 {
				t.Fatal("no error")
			}
			if msg := errs[0].Error(); !strings.HasPrefix(msg, "doc.yml") || !strings.Contains(msg, c.problem) {
				t.Errorf("%q: want the file and %q", msg, c.problem)
			}
		})
	}
}

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckUniqueAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.yml", oneRule("Same", "up", ""))
	b := writeFile(t, dir, "b.yml", "# another file\n"+oneRule("Same", "down", ""))
	_, ra, errs := watch.ParseFile(a)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	_, rb, errs := watch.ParseFile(b)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if err := watch.CheckUnique(ra); err != nil {
		t.Errorf("one rule is not a duplicate: %v", err)
	}
	err := watch.CheckUnique(append(ra, rb...))
	if err == nil {
		t.Fatal("two rules named Same in two files accepted")
	}
	if msg := err.Error(); !strings.Contains(msg, b+":5") || !strings.Contains(msg, a+":4") || !strings.Contains(msg, `"Same"`) {
		t.Errorf("%q: want both places (%s:5 and %s:4) and the name", msg, b, a)
	}
}

func TestRulerCheckWithAnomalyRules(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yml", mixedRules)
	if errs := ruler.Check(good); len(errs) > 0 {
		t.Errorf("a valid file with anomaly rules: %v", errs)
	}
	bad := writeFile(t, dir, "bad.yml", oneRule("A", "up", "direction: sideways"))
	errs := ruler.Check(good, bad)
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), bad+": ") || !strings.Contains(errs[0].Error(), "sideways") {
		t.Errorf("errors %v, want one naming %s and the direction", errs, bad)
	}
	dup := writeFile(t, dir, "dup.yml", oneRule("Traffic", "up", ""))
	errs = ruler.Check(good, dup)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), dup+":4") || !strings.Contains(errs[0].Error(), good+":10") {
		t.Errorf("errors %v, want one naming both places of Traffic", errs)
	}
	if errs := ruler.Check(filepath.Join(dir, "missing.yml")); len(errs) != 1 {
		t.Errorf("a missing file: %v, want one error", errs)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(mixedRules))
	f.Add([]byte(oneRule("A", "up", "sensitivity: 1")))
	f.Add([]byte(oneRule("A", `"rate(x[5m]) > 0"`, "hold_off: 0s")))
	f.Add([]byte(oneRule(`"we\"ird \\ name"`, "vector(1)", "labels: {a: b}")))
	f.Add([]byte(oneRule("A", "1", "annotations: {summary: '{{ $value }}'}")))
	f.Add([]byte("groups:\n  - name: a\n    rules:\n      - &x {anomaly: A, expr: up}\n      - *x\n"))
	f.Add([]byte(""))
	f.Add([]byte("groups:\n  - name: a\n    interval: 30s\n    rules:\n      - anomaly: M\n        expr: |\n          sum by (job) (\n            rate(x[5m])\n          ) > -1\n        seasonality: daily\n        timezone: Asia/Tokyo\n        min_history: 1d\n"))
	f.Fuzz(func(t *testing.T, content []byte) {
		rgs, found, errs := watch.Parse("fuzz.yml", content)
		if len(errs) > 0 {
			for _, e := range errs {
				if !strings.HasPrefix(e.Error(), "fuzz.yml") {
					t.Errorf("error %q does not name the file", e)
				}
			}
			return
		}
		out, err := yaml.Marshal(rgs)
		if err != nil {
			t.Fatalf("cannot marshal the groups: %v", err)
		}
		if _, perrs := rulefmt.Parse(out, false, model.UTF8Validation); len(perrs) > 0 {
			t.Fatalf("the returned groups do not re-parse: %v\n%s", perrs, out)
		}
		for _, r := range found {
			if th := r.Threshold(); !(th > 0 && th < 1) {
				t.Fatalf("rule %q: threshold %v outside (0,1)", r.Name, th)
			}
		}
	})
}

// The generated alert expression and Rule.Alerting (its Go twin, used by
// backtests and the status) must agree on every side of the threshold
// and the band, for each direction.
func TestAlertExprMatchesAlerting(t *testing.T) {
	for _, dir := range []string{"", "both", "up", "down"} {
		t.Run("direction="+dir, func(t *testing.T) {
			content := oneRule("R", "up", "")
			if dir != "" {
				content = oneRule("R", "up", "direction: "+dir)
			}
			rgs, found, errs := watch.Parse("r.yml", []byte(content))
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			r := found[0]
			th := r.Threshold()
			type point struct{ score, value float64 }
			var pts []point
			for _, sc := range []float64{th / 2, th, 0.99} {
				for _, v := range []float64{80, 90, 100, 110, 120} {
					pts = append(pts, point{sc, v})
				}
			}
			var load strings.Builder
			load.WriteString("load 1m\n")
			for i, p := range pts {
				sel := fmt.Sprintf(`{anomaly_rule="R",case="%d"}`, i)
				fmt.Fprintf(&load, "  anomaly_score%s %v\n  anomaly_observed%s %v\n  anomaly_lower%s 90\n  anomaly_upper%s 110\n", sel, p.score, sel, p.value, sel, sel)
			}
			stor := promqltest.LoadedStorage(t, load.String())
			t.Cleanup(func() { stor.Close() })
			engine := promqltest.NewTestEngine(t, false, 5*time.Minute, 100000)
			q, err := engine.NewInstantQuery(context.Background(), stor, nil, rgs.Groups[0].Rules[0].Expr, time.Unix(0, 0))
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			res := q.Exec(context.Background())
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			vec, err := res.Vector()
			if err != nil {
				t.Fatal(err)
			}
			fired := map[string]bool{}
			for _, s := range vec {
				fired[s.Metric.Get("case")] = true
			}
			for i, p := range pts {
				want := r.Alerting(anomaly.Result{Score: p.score, Lower: 90, Upper: 110, Expected: 100, Anomalous: p.score >= th, Warm: true}, p.value)
				if got := fired[strconv.Itoa(i)]; got != want {
					t.Errorf("score %v value %v (band 90..110): expression fires %v, Alerting says %v", p.score, p.value, got, want)
				}
			}
			if dir != "down" && !fired["14"] || dir == "down" && !fired["10"] {
				t.Errorf("nothing fired at score 0.99 outside the band on the rule's side: %v", fired)
			}
		})
	}
}

// A user anomaly rule with the name of a built-in one would share its
// detectors (the Watcher keys them by name) and, its expression differing,
// reset them at every evaluation of either group; Reload must refuse it
// as it refuses two user rules of one name.
func TestRulerRejectsUserRuleNamedLikeBuiltin(t *testing.T) {
	file := writeFile(t, t.TempDir(), "rules.yml", oneRule("ServiceRequestRateAnomaly", "up", ""))
	stor := promqltest.LoadedStorage(t, "")
	t.Cleanup(func() { stor.Close() })
	r, err := ruler.New(ruler.Options{
		Files: []string{file}, Interval: time.Minute, Engine: promqltest.NewTestEngine(t, false, 5*time.Minute, 1000),
		Appendable: stor, Queryable: stor, Anomalies: watch.New(watch.Options{Appendable: stor}), DefaultAnomalyRules: true,
	})
	if err == nil {
		r.Close()
		t.Fatal("a user rule named like a built-in anomaly rule was loaded beside it")
	}
	if !strings.Contains(err.Error(), "ServiceRequestRateAnomaly") || !strings.Contains(err.Error(), file) {
		t.Errorf("error %q: want the name and the user's file", err)
	}
}
