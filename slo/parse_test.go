package slo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// validSLO is a minimal valid spec body; cases below edit copies of it.
const validSLO = `slos:
  - name: checkout
    service: checkout
    objective: 99.9
    sli:
      events:
        good: sum(rate(http_requests_total{code!~"5.."}[{{.window}}]))
        total: sum(rate(http_requests_total[{{.window}}]))
`

func TestParseErrors(t *testing.T) {
	f := func(name, spec string, want ...string) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			slos, err := Parse([]byte(spec), "slo.yml")
			if err == nil {
				t.Fatalf("no error; parsed %+v", slos)
			}
			if slos != nil {
				t.Errorf("got SLOs together with an error")
			}
			got := strings.Split(err.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("errors:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		})
	}

	f("objective out of range", strings.Replace(validSLO, "99.9", "100.5", 1),
		"slo.yml:4: slos[0] (checkout): objective 100.5 is not between 0 and 100 (it is a percentage: 99.9 means 99.9%)")
	f("objective written with a percent sign", strings.Replace(validSLO, "99.9", "99.9%", 1),
		`slo.yml:4: slos[0] (checkout): objective "99.9%" is not a number (write 99.9 for 99.9%)`)
	f("objective missing", strings.Replace(validSLO, "    objective: 99.9\n", "", 1),
		"slo.yml:2: slos[0] (checkout): objective is missing (a percentage such as 99.9)")
	f("every problem is reported at its line, in file order", `slos:
  - name: checkout
    objectiv: 99.9
    window: 1d
    labels: {slo: x, "bad-name": y}
    sli:
      events:
        good: sum(rate(http_requests_total[5m]))
        bad: sum(rate(errors_total[{{.window}}]))
        total: sum(rate(http_requests_total[{{.window}}]) by
`,
		"slo.yml:2: slos[0] (checkout): service is missing",
		"slo.yml:2: slos[0] (checkout): objective is missing (a percentage such as 99.9)",
		`slo.yml:3: slos[0] (checkout): unknown field "objectiv" (known: name, service, description, objective, window, labels, sli, alerting)`,
		"slo.yml:4: slos[0] (checkout): window 1d must be longer than 3d, the longest burn-rate alert window",
		`slo.yml:5: slos[0] (checkout): labels: "bad-name" is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)`,
		"slo.yml:5: slos[0] (checkout): labels: label slo is set by the generated rules and cannot be given here",
		"slo.yml:7: slos[0] (checkout): sli.events has both good and bad; keep one",
		`slo.yml:10: slos[0] (checkout): sli.events.total: not valid PromQL (with {{.window}} = 5m): 1:35: parse error: unexpected <by> in aggregation`)
	f("window is not a duration", strings.Replace(validSLO, "objective: 99.9", "objective: 99.9\n    window: 30 days", 1),
		`slo.yml:5: slos[0] (checkout): window "30 days" is not a duration such as 30d or 4w`)
	f("expression without the window", strings.Replace(validSLO, "[{{.window}}]))\n", "[5m]))\n", 1),
		"slo.yml:7: slos[0] (checkout): sli.events.good: has no {{.window}}; write the range as [{{.window}}] so that each alert window gets its own rate")
	f("unknown template variable", strings.Replace(validSLO, `code!~"5.."}`, `code!~"5..",env="{{.env}}"}`, 1),
		`slo.yml:7: slos[0] (checkout): sli.events.good: only {{.window}} may be used as a template, found "{{.env}}"`)
	f("expression that is not a vector", strings.Replace(validSLO, "total: sum(rate(http_requests_total[{{.window}}]))", "total: scalar(sum(rate(http_requests_total[{{.window}}])))", 1),
		"slo.yml:8: slos[0] (checkout): sli.events.total: must return an instant vector (such as sum(rate(...))), not a scalar")
	f("no SLI", `slos:
  - name: checkout
    service: checkout
    objective: 99.9
`,
		"slo.yml:2: slos[0] (checkout): sli needs one of events or latency")
	f("both SLI kinds", validSLO+`      latency: {metric: http_request_duration_seconds, threshold: 0.3}
`,
		"slo.yml:5: slos[0] (checkout): sli has both events and latency; keep one")
	f("latency problems", `slos:
  - name: checkout-latency
    service: checkout
    objective: 99
    sli:
      latency:
        metric: http_request_duration_seconds_bucket
        selector: '{service="checkout",le="0.3"}'
        threshold: -1
`,
		`slo.yml:7: slos[0] (checkout-latency): sli.latency.metric "http_request_duration_seconds_bucket": give the histogram's base name, without _bucket, _count or _sum`,
		`slo.yml:8: slos[0] (checkout-latency): sli.latency.selector: "{service=\"checkout\",le=\"0.3\"}" matches le; the threshold chooses the bucket`,
		"slo.yml:9: slos[0] (checkout-latency): sli.latency.threshold -1 must be a positive number of seconds (a bucket bound)")
	f("alerting problems", validSLO+`    alerting:
      page:
        labels: {service: x}
        annotations:
          summary: "{{ $value | nosuchfunc }}"
          bad-name: x
      disabled: maybe
`,
		"slo.yml:11: slos[0] (checkout): alerting.page.labels: label service is set by the generated rules and cannot be given here",
		`slo.yml:13: slos[0] (checkout): alerting.page.annotations.summary: template: slo:1: function "nosuchfunc" not defined`,
		`slo.yml:14: slos[0] (checkout): alerting.page.annotations: "bad-name" is not a valid annotation name ([a-zA-Z_][a-zA-Z0-9_]*)`,
		`slo.yml:15: slos[0] (checkout): alerting.disabled "maybe" must be true or false`)
	f("problems in two SLOs", strings.Replace(validSLO, "99.9", "0", 1)+`  - name: search
    service: search
    objective: 99
    window: 2d
    sli: {latency: {metric: h, threshold: 0.5}}
`,
		"slo.yml:4: slos[0] (checkout): objective 0 is not between 0 and 100 (it is a percentage: 99.9 means 99.9%)",
		"slo.yml:12: slos[1] (search): window 2d must be longer than 3d, the longest burn-rate alert window")
	f("names must be unique", validSLO+strings.TrimPrefix(validSLO, "slos:\n"),
		`slo.yml:9: slos[1] (checkout): name "checkout" is already used at line 2; SLO names must be unique`)
	f("bad name", strings.Replace(validSLO, "name: checkout", "name: check out", 1),
		`slo.yml:2: slos[0] (check out): name "check out" may only contain letters, digits, _ and -`)
	f("slos is not a list", "slos: {name: x}\n",
		"slo.yml:1: slos must be a list")
	f("an SLO is not a mapping", "slos:\n  - just a string\n",
		"slo.yml:2: slos[0] must be a mapping with keys name, service, description, objective, window, labels, sli, alerting")
	f("no slos list", "rules: []\n",
		`slo.yml:1: the file: unknown field "rules" (known: slos)`,
		"slo.yml:1: the file has no slos list")
	f("invalid YAML", "slos:\n  - name: x\n    service: \"unterminated\n",
		"slo.yml:3: invalid YAML: found unexpected end of stream")
	f("two documents", validSLO+"---\n"+validSLO,
		"slo.yml:9: a spec file holds one YAML document; put every SLO in its slos list")
}

func TestParseEmpty(t *testing.T) {
	for _, in := range []string{"", "# nothing yet\n", "slos:\n", "slos: []\n"} {
		slos, err := Parse([]byte(in), "empty.yml")
		if err != nil || len(slos) != 0 {
			t.Errorf("Parse(%q) = %v, %v; want no SLOs and no error", in, slos, err)
		}
	}
}

func TestParseFile(t *testing.T) {
	slos, err := ParseFile("testdata/checkout.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(slos) != 2 {
		t.Fatalf("got %d SLOs, want 2", len(slos))
	}
	a, l := slos[0], slos[1]
	if a.Name != "checkout-availability" || a.Service != "checkout" || a.Objective != 99.9 ||
		a.Window != model.Duration(30*24*time.Hour) || a.Labels["team"] != "payments" || a.Line != 4 || a.File != "testdata/checkout.yml" {
		t.Errorf("first SLO decoded as %+v", a)
	}
	if e := a.SLI.Events; e == nil || !strings.HasPrefix(e.Good, "sum(rate(") || !strings.Contains(e.Total, "# every request") {
		t.Errorf("events SLI decoded as %+v", a.SLI.Events)
	}
	if a.Alerting.Page.Labels["severity"] != "critical" || a.Alerting.Page.Annotations["runbook_url"] == "" || a.Alerting.Disabled {
		t.Errorf("alerting decoded as %+v", a.Alerting)
	}
	if lat := l.SLI.Latency; lat == nil || lat.Metric != "http_request_duration_seconds" || lat.Threshold != 1 || lat.Selector == "" {
		t.Errorf("latency SLI decoded as %+v", l.SLI.Latency)
	}
	if !l.Alerting.Disabled || l.Window != model.Duration(28*24*time.Hour) {
		t.Errorf("second SLO decoded as %+v", l)
	}

	if _, err := ParseFile("testdata/no-such-file.yml"); err == nil || !strings.Contains(err.Error(), "cannot read SLO file") {
		t.Errorf("missing file: got %v", err)
	}
}

func TestValidateWithoutFile(t *testing.T) {
	s := SLO{Name: "x", Service: "x", Objective: 0, SLI: SLI{Latency: &LatencySLI{Metric: "h", Threshold: 0.5}}}
	err := s.Validate()
	want := `slo "x": objective 0 is not between 0 and 100 (it is a percentage: 99.9 means 99.9%)`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestLoadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("a.yml", validSLO)
	other := strings.ReplaceAll(validSLO, "checkout", "search")
	write("b.yml", other)

	slos, err := LoadFiles([]string{filepath.Join(dir, "*.yml"), a, filepath.Join(dir, "none-*.yml")})
	if err != nil {
		t.Fatal(err)
	}
	if len(slos) != 2 || slos[0].Name != "checkout" || slos[1].Name != "search" {
		t.Fatalf("got %+v, want checkout and search once each", slos)
	}

	c := write("c.yml", "\n"+validSLO)
	_, err = LoadFiles([]string{a, c})
	want := c + `:3: slos[0] (checkout): name "checkout" is already used at ` + a + ":2; SLO names must be unique across files"
	if err == nil || err.Error() != want {
		t.Errorf("duplicate across files: got %v, want %s", err, want)
	}

	_, err = LoadFiles([]string{filepath.Join(dir, "missing.yml")})
	if err == nil || !strings.Contains(err.Error(), "missing.yml: no such file") {
		t.Errorf("missing file: got %v", err)
	}

	bad := write("bad.yml", strings.Replace(validSLO, "99.9", "0", 1))
	_, err = LoadFiles([]string{bad})
	if err == nil || !strings.HasPrefix(err.Error(), bad+":4: ") {
		t.Errorf("invalid file: got %v, want an error at %s:4", err, bad)
	}
}
