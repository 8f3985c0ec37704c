package slo

import (
	"bytes"
	"flag"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
)

var update = flag.Bool("update", false, "rewrite testdata/*.rules.yml from the specs")

// TestRuleFileGolden compiles testdata/checkout.yml and compares the rule
// file with the committed one; run with -update after an intended change
// and review the diff.
func TestRuleFileGolden(t *testing.T) {
	slos, err := ParseFile("testdata/checkout.yml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := RuleFile(slos)
	if err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/checkout.rules.yml"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("rule file differs from %s (go test ./slo -run Golden -update to rewrite):\n%s", golden, got)
	}
}

// TestRuleFilePassesPrometheus checks the generated file with the parser
// promtool and the rule manager use, under the stricter legacy name rules.
func TestRuleFilePassesPrometheus(t *testing.T) {
	slos, err := ParseFile("testdata/checkout.yml")
	if err != nil {
		t.Fatal(err)
	}
	slos = append(slos, scenarios()[1].slo)
	data, err := RuleFile(slos)
	if err != nil {
		t.Fatal(err)
	}
	rgs, errs := rulefmt.Parse(data, false, model.LegacyValidation)
	if len(errs) > 0 {
		t.Fatalf("rulefmt refuses the generated rules: %v", errs)
	}
	if len(rgs.Groups) != 3 {
		t.Fatalf("got %d groups, want one per SLO", len(rgs.Groups))
	}

	wantRecords := []string{
		"slo:sli_error:ratio_rate5m", "slo:sli_error:ratio_rate30m", "slo:sli_error:ratio_rate1h", "slo:sli_error:ratio_rate2h",
		"slo:sli_error:ratio_rate6h", "slo:sli_error:ratio_rate1d", "slo:sli_error:ratio_rate3d",
		"slo:sli_error:rate5m", "slo:sli_total:rate5m", "slo:sli_error:ratio_rate30d",
		"slo:objective:ratio", "slo:error_budget:ratio", "slo:error_budget_remaining:ratio",
		"slo:burn_rate:ratio5m", "slo:burn_rate:ratio30m", "slo:burn_rate:ratio1h", "slo:burn_rate:ratio2h",
		"slo:burn_rate:ratio6h", "slo:burn_rate:ratio1d", "slo:burn_rate:ratio3d",
	}
	g := rgs.Groups[0]
	if g.Name != "slo:checkout-availability" || g.Interval != EvalInterval {
		t.Errorf("group %s every %s, want slo:checkout-availability every %s", g.Name, g.Interval, EvalInterval)
	}
	var records []string
	var alerts []rulefmt.Rule
	for _, r := range g.Rules {
		if r.Record != "" {
			records = append(records, r.Record)
			if r.Labels["slo"] != "checkout-availability" || r.Labels["service"] != "checkout" || r.Labels["team"] != "payments" {
				t.Errorf("%s has labels %v, want slo, service and team", r.Record, r.Labels)
			}
		} else {
			alerts = append(alerts, r)
		}
	}
	if !slices.Equal(records, wantRecords) {
		t.Errorf("records:\n%v\nwant:\n%v", records, wantRecords)
	}
	wantAlerts := []struct{ long, short, severity, expr string }{
		{"1h", "5m", "critical", `slo:burn_rate:ratio1h{slo="checkout-availability"} > 14.4 and slo:burn_rate:ratio5m{slo="checkout-availability"} > 14.4`},
		{"6h", "30m", "critical", `slo:burn_rate:ratio6h{slo="checkout-availability"} > 6 and slo:burn_rate:ratio30m{slo="checkout-availability"} > 6`},
		{"1d", "2h", "ticket", `slo:burn_rate:ratio1d{slo="checkout-availability"} > 3 and slo:burn_rate:ratio2h{slo="checkout-availability"} > 3`},
		{"3d", "6h", "ticket", `slo:burn_rate:ratio3d{slo="checkout-availability"} > 1 and slo:burn_rate:ratio6h{slo="checkout-availability"} > 1`},
	}
	if len(alerts) != len(wantAlerts) {
		t.Fatalf("got %d alerts, want %d", len(alerts), len(wantAlerts))
	}
	for i, w := range wantAlerts {
		a := alerts[i]
		if a.Alert != AlertName || a.Expr != w.expr || a.Labels["long"] != w.long || a.Labels["short"] != w.short ||
			a.Labels["severity"] != w.severity || a.For != 0 {
			t.Errorf("alert %d = %+v, want %+v", i, a, w)
		}
		if !strings.Contains(a.Annotations["summary"], "{{ $value | humanize }}") || a.Annotations["description"] == "" {
			t.Errorf("alert %d annotations %v", i, a.Annotations)
		}
	}
	// The spec's page annotations are added to the page alerts only.
	if alerts[0].Annotations["runbook_url"] == "" || alerts[2].Annotations["runbook_url"] != "" {
		t.Errorf("runbook_url on page %q, on ticket %q", alerts[0].Annotations["runbook_url"], alerts[2].Annotations["runbook_url"])
	}

	// The latency SLO disables alerting: records only, and its bucket
	// matcher accepts both spellings of the bound 1.
	for _, r := range rgs.Groups[1].Rules {
		if r.Alert != "" {
			t.Errorf("alerting is disabled but got alert %s", r.Expr)
		}
	}
	if e := rgs.Groups[1].Rules[0].Expr; !strings.Contains(e, `http_request_duration_seconds_bucket{le=~"1|1\\.0",route!="/healthz",service="checkout"}[5m]`) ||
		!strings.Contains(e, `http_request_duration_seconds_count{route!="/healthz",service="checkout"}[5m]`) {
		t.Errorf("latency ratio expression %s", e)
	}
	// The bad-events SLO divides bad by total and records bad as the error rate.
	for _, r := range rgs.Groups[2].Rules {
		switch r.Record {
		case "slo:sli_error:ratio_rate1h":
			if want := `(sum(rate(http_requests_total{code=~"5.."}[1h]))) / (sum(rate(http_requests_total[1h])))`; r.Expr != want {
				t.Errorf("bad-events ratio %s, want %s", r.Expr, want)
			}
		case "slo:sli_error:rate5m":
			if want := `sum(rate(http_requests_total{code=~"5.."}[5m]))`; r.Expr != want {
				t.Errorf("bad-events rate %s, want %s", r.Expr, want)
			}
		}
	}
}

func TestBurnFactors(t *testing.T) {
	f := func(window model.Duration, want ...float64) {
		t.Helper()
		for i, a := range burnAlerts {
			if got := a.Factor(window); got != want[i] {
				t.Errorf("window %s, %s/%s: factor %v, want %v", window, a.Long, a.Short, got, want[i])
			}
		}
	}
	f(30*day, 14.4, 6, 3, 1) // the workbook's numbers, exactly
	f(28*day, 13.44, 5.6, 2.8, 28.0/30)
	f(7*day, 3.36, 1.4, 0.7, 7.0/30)
}

func TestObjectiveArithmetic(t *testing.T) {
	f := func(objective, ratio, budget float64) {
		t.Helper()
		s := SLO{Objective: objective}
		if got := s.objectiveRatio(); got != ratio {
			t.Errorf("objective %v: ratio %v, want %v", objective, got, ratio)
		}
		if got := s.errorBudget(); got != budget {
			t.Errorf("objective %v: budget %v, want %v", objective, got, budget)
		}
	}
	f(99.9, 0.999, 0.001)
	f(99.95, 0.9995, 0.0005)
	f(99, 0.99, 0.01)
	f(99.999, 0.99999, 0.00001)
	f(50, 0.5, 0.5)
}

func TestCompileRefusesInvalid(t *testing.T) {
	s := scenarios()[0].slo
	s.Objective = 100
	if _, err := Compile(s); err == nil || !strings.Contains(err.Error(), "objective 100 is not between 0 and 100") {
		t.Errorf("got %v", err)
	}
	if _, err := RuleFile([]SLO{scenarios()[1].slo, s}); err == nil {
		t.Error("RuleFile accepted an invalid SLO")
	}
}

func TestBudgetRangeQuery(t *testing.T) {
	if got, want := BudgetRangeQuery(scenarios()[0].slo), `slo:error_budget_remaining:ratio{slo="checkout-availability"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
