package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// anomalyStatus is GET /api/v1/anomalies, the parts these tests read.
type anomalyStatus struct {
	Status string `json:"status"`
	Data   []struct {
		Name      string  `json:"name"`
		Builtin   bool    `json:"builtin"`
		Threshold float64 `json:"threshold"`
		Series    []struct {
			Labels   map[string]string `json:"labels"`
			Warm     bool              `json:"warm"`
			Season   string            `json:"season"`
			Value    float64           `json:"value"`
			Expected float64           `json:"expected"`
		} `json:"series"`
	} `json:"data"`
}

// synthRule is an anomaly rule over an expression that needs no stored
// data: a daily wave with a faster ripple, stepping up by 400 at step
// (Unix seconds). The ripple is of the whole second, as the backfill
// evaluates it: live evaluations fall between seconds (see
// anomaliesUIFiles). The rule is warmed at its first evaluation from the
// expression's values over anomaly.backfill.
func synthRule(step int64) string {
	return fmt.Sprintf(`groups:
  - name: e2e-anomaly
    interval: 1s
    rules:
      - anomaly: E2EStep
        expr: 100 + 20 * sin(2 * pi() * floor(vector(time())) / 86400) + 2 * sin(floor(vector(time())) * 7.3) + (vector(time()) > bool %d) * 400
        min_history: 1h
        direction: up
        hold_off: 10m
        labels: {severity: page}
`, step)
}

// An anomaly rule in Vigil: warmed from its expression's history at its
// first evaluation, it fires when the series steps up, through the
// embedded Alertmanager to a webhook, with the series, observed value,
// expected value, band, score and start in the annotations; its five
// series are queryable with PromQL; `vigil anomaly backtest` against the
// running server finds the same step; after SIGTERM a restart with no
// history to warm from resumes the saved detector.
func TestAnomalyRuleAlertsWithExplanation(t *testing.T) {
	hook := startWebhookSink(t)
	dir := t.TempDir()
	step := time.Now().Add(20 * time.Second).Unix()
	rules := writeAlertingFile(t, dir, "rules.yml", synthRule(step))
	am := writeAlertingFile(t, dir, "alertmanager.yml", webhookAlertmanagerConfig("hook", hook.URL))
	cfg := func(backfill string) string {
		return fmt.Sprintf("rules:\n  files: [%s]\nalerting:\n  alertmanager_config: %s\nanomaly:\n  backfill: %s\n  save_interval: 1h\n", rules, am, backfill)
	}
	data := t.TempDir()
	v := startAlertingVigil(t, dir, cfg("2h"), withDataDir(data))

	// Warm before the step, with the band around the wave.
	eventually(t, 30*time.Second, func() string {
		var st anomalyStatus
		getJSON(t, v.URL+"/api/v1/anomalies?rule=E2EStep", &st)
		if len(st.Data) != 1 || len(st.Data[0].Series) != 1 {
			return fmt.Sprintf("anomalies: %+v, want E2EStep watching one series", st)
		}
		if s := st.Data[0].Series[0]; !s.Warm {
			return fmt.Sprintf("E2EStep not warm yet: %+v", s)
		}
		return ""
	})
	if time.Now().Unix() >= step {
		t.Fatal("the rule was not warm before the step; raise the step's delay")
	}

	var alert struct {
		Labels      map[string]string
		Annotations map[string]string
		StartsAt    time.Time
	}
	eventually(t, 60*time.Second, func() string {
		m := hook.find("firing", "E2EStep")
		if m == nil {
			return fmt.Sprintf("no firing E2EStep notification yet (%d messages)", len(hook.messages()))
		}
		for _, a := range m.Alerts {
			if a.Labels["alertname"] == "E2EStep" {
				alert.Labels, alert.Annotations, alert.StartsAt = a.Labels, a.Annotations, a.StartsAt
			}
		}
		return ""
	})
	hook.check(t)
	if alert.Labels["anomaly_rule"] != "E2EStep" || alert.Labels["severity"] != "page" {
		t.Errorf("labels %v, want anomaly_rule and the rule's severity", alert.Labels)
	}
	ann := alert.Annotations
	num := func(k string) float64 {
		f, err := strconv.ParseFloat(ann[k], 64)
		if err != nil {
			t.Errorf("annotation %s = %q: not a number", k, ann[k])
		}
		return f
	}
	obs, exp, lo, hi, score := num("observed"), num("expected"), num("lower"), num("upper"), num("score")
	if obs < 450 || exp > 150 || !(lo < exp && exp < hi && hi < obs) || score <= 0 {
		t.Errorf("observed %v, expected %v, band [%v, %v], score %v: want the stepped value above a band around ~100", obs, exp, lo, hi, score)
	}
	started, err := time.Parse(time.RFC3339, ann["started"])
	if err != nil || started.Unix() < step || started.Unix() > step+30 {
		t.Errorf("started %q, want RFC 3339 just after the step at %s", ann["started"], time.Unix(step, 0).UTC().Format(time.RFC3339))
	}
	if ann["series"] != "{}" || !strings.Contains(ann["description"], "was expected") {
		t.Errorf("series %q, description %q", ann["series"], ann["description"])
	}

	// The five series are in the store.
	for _, name := range []string{"anomaly_observed", "anomaly_expected", "anomaly_lower", "anomaly_upper", "anomaly_score"} {
		if d := query(t, v.URL, name+`{anomaly_rule="E2EStep"}`, time.Time{}); len(d.Result) != 1 {
			t.Errorf("%s: %d series, want 1", name, len(d.Result))
		}
	}
	// The built-in rules are loaded beside it.
	var all anomalyStatus
	getJSON(t, v.URL+"/api/v1/anomalies", &all)
	builtin := 0
	for _, r := range all.Data {
		if r.Builtin {
			builtin++
		}
	}
	if builtin != 9 {
		t.Errorf("%d built-in anomaly rules, want 9", builtin)
	}

	// The backtest of the same rule over the running server's API sees
	// the step too.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, vigilBin, "anomaly", "backtest", "--rules", rules, "--rule", "E2EStep",
		"--url", v.URL, "--from", "-2h", "--to", "now", "--format", "summary").CombinedOutput()
	if err != nil {
		t.Fatalf("backtest: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "E2EStep") || strings.Contains(string(out), " 0 alerts would have fired") {
		t.Errorf("backtest summary:\n%s", out)
	}
	stepLine := time.Unix(step, 0).UTC().Format("2006-01-02T15:04")
	if !strings.Contains(string(out), stepLine) {
		t.Errorf("backtest summary has no alert in the minute of the step (%s):\n%s", stepLine, out)
	}

	// SIGTERM saves the detectors; a restart that may not warm from
	// history (backfill 0) is warm at its first evaluation.
	if code := v.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("vigil exited %d on SIGTERM", code)
	}
	if _, err := os.Stat(filepath.Join(data, "anomaly", "detectors.state")); err != nil {
		t.Fatalf("no saved detectors after SIGTERM: %v", err)
	}
	v2 := startAlertingVigil(t, t.TempDir(), cfg("0s"), withDataDir(data))
	eventually(t, 30*time.Second, func() string {
		var st anomalyStatus
		getJSON(t, v2.URL+"/api/v1/anomalies?rule=E2EStep", &st)
		if len(st.Data) != 1 || len(st.Data[0].Series) != 1 {
			return "E2EStep has not evaluated since the restart"
		}
		if s := st.Data[0].Series[0]; !s.Warm {
			return fmt.Sprintf("after restart without backfill the series is cold: %+v (the saved state was not used)", s)
		}
		return ""
	})
}

// With no configuration, the built-in rules watch each service that
// sends spans: its request rate, from the span metrics, is a watched
// series within a few evaluations.
func TestAnomalyDefaultRulesWatchServices(t *testing.T) {
	dir := t.TempDir()
	v := startAlertingVigil(t, dir, "anomaly:\n  default_rules_interval: 2s\n")
	send := func(i int) {
		now := time.Now()
		spans := make([]otlpSpan, 0, 5)
		for j := range 5 {
			spans = append(spans, otlpSpan{
				TraceID: fmt.Sprintf("%032x", i*10+j+1), SpanID: fmt.Sprintf("%016x", i*10+j+1),
				Name: "GET /cart", Kind: 2,
				StartTimeUnixNano: strconv.FormatInt(now.Add(-20*time.Millisecond).UnixNano(), 10),
				EndTimeUnixNano:   strconv.FormatInt(now.UnixNano(), 10),
			})
		}
		postOTLPJSON(t, v.OTLPHTTP, otlpTraces(otlpResourceSpans([]otlpKV{otlpStr("service.name", "checkout")}, "e2e", "1", spans...)))
	}
	i := 0
	eventually(t, 90*time.Second, func() string {
		send(i)
		i++
		var st anomalyStatus
		getJSON(t, v.URL+"/api/v1/anomalies", &st)
		for _, r := range st.Data {
			if r.Name != "ServiceRequestRateAnomaly" {
				continue
			}
			for _, s := range r.Series {
				if s.Labels["service"] == "checkout" {
					if s.Warm {
						return "a service seen for seconds is already warm: it could page"
					}
					return ""
				}
			}
			return fmt.Sprintf("ServiceRequestRateAnomaly watches %d series, not yet checkout", len(r.Series))
		}
		return "no ServiceRequestRateAnomaly rule"
	})
	// The service's latency is watched too.
	eventually(t, 30*time.Second, func() string {
		send(i)
		i++
		var st anomalyStatus
		getJSON(t, v.URL+"/api/v1/anomalies?rule=ServiceLatencyP99Anomaly", &st)
		if len(st.Data) == 1 && len(st.Data[0].Series) == 1 && st.Data[0].Series[0].Labels["service"] == "checkout" {
			return ""
		}
		return fmt.Sprintf("p99 rule: %+v", st.Data)
	})
}
