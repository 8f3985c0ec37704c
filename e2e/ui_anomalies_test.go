package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// anomalyStepLead is how far after the rule file is written the synthetic
// series steps up: time enough for Vigil to start and warm the rule from
// its backfill, so that the step is scored live rather than learned.
const anomalyStepLead = 40 * time.Second

// anomaliesUIFiles writes the configuration TestAnomaliesUI runs Vigil
// with and returns its path and the time the series steps up. The anomaly
// rule's expression needs no stored data: a daily sine with a little
// deterministic noise, and a step of +400 at t0. The rule is warm at its
// first evaluation from the backfill of the expression's own values (7
// days at its 1s interval), so the step is an anomaly that fires. The
// noise is a function of the whole second, floor(time()): the backfill
// evaluates the expression on whole seconds and the rule's evaluations
// fall between them, and noise of the exact time differs between the two
// enough for the detector's shape memory to call the first live points an
// anomaly, whose hold-off would then hide the step. A label holding markup
// checks that the page shows rule labels as text.
func anomaliesUIFiles(t *testing.T) (string, time.Time) {
	t.Helper()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t0 := time.Now().Add(anomalyStepLead).Truncate(time.Second)
	now := "floor(vector(time()))"
	expr := fmt.Sprintf("100 + 20 * sin(2 * pi() * %[1]s / 86400) + 2 * sin(%[1]s * 7.3) + (vector(time()) > bool %[2]d) * 400", now, t0.Unix())
	rules := write("rules.yml", `groups:
  - name: e2e-anomaly
    interval: 1s
    rules:
      - anomaly: E2ESynthetic
        expr: `+expr+`
        min_history: 1h
        hold_off: 5m
        labels:
          team: "<img src=x onerror=window.__xss=1>"
`)
	return write("vigil.yml", `rules:
  files: [`+rules+`]
`), t0
}

// TestAnomaliesUI checks the anomalies page in headless Chromium (see
// ui/anomalies.mjs): the synthetic rule's card with its settings, its
// chart with the observed and expected lines, the band and a marker on
// the anomalous step, the series shown as anomalous, the built-in rules
// that watch nothing collapsed, and the link from the rule's alert on
// /alerts to its charts.
func TestAnomaliesUI(t *testing.T) {
	node := tool(t, "node")
	tool(t, "chromium", "/usr/bin/chromium")
	if _, err := os.Stat("ui/node_modules/playwright-core"); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		run(t, ctx, nil, tool(t, "npm"), "ci", "--prefix", "ui", "--no-audit", "--no-fund")
	}
	cfg, t0 := anomaliesUIFiles(t)
	v := startVigil(t, withArgs("--config", cfg, "--host-metrics=false"))

	type series struct {
		Warm        bool       `json:"warm"`
		LastAnomaly *time.Time `json:"lastAnomaly"`
	}
	type rule struct {
		Name   string   `json:"name"`
		Series []series `json:"series"`
	}
	// The rule must be warm before the step, or the step is learned as
	// history instead of scored.
	eventually(t, anomalyStepLead+30*time.Second, func() string {
		var rs []rule
		apiGet(t, v.URL, "/api/v1/anomalies", url.Values{"rule": {"E2ESynthetic"}}, &rs)
		if len(rs) != 1 || len(rs[0].Series) != 1 || !rs[0].Series[0].Warm {
			return fmt.Sprintf("E2ESynthetic is not watching one warm series: %+v", rs)
		}
		return ""
	})
	if time.Now().After(t0) {
		t.Fatalf("the rule was warm only after the step at %v: raise anomalyStepLead", t0)
	}
	// The browser starts once the step has been scored an anomaly and its
	// alert fires.
	eventually(t, anomalyStepLead+60*time.Second, func() string {
		var rs []rule
		apiGet(t, v.URL, "/api/v1/anomalies", url.Values{"rule": {"E2ESynthetic"}}, &rs)
		if len(rs) != 1 || len(rs[0].Series) != 1 || rs[0].Series[0].LastAnomaly == nil || rs[0].Series[0].LastAnomaly.Before(t0) {
			return fmt.Sprintf("no anomaly of E2ESynthetic after the step at %v: %+v", t0, rs)
		}
		var d struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		}
		apiGet(t, v.URL, "/api/v1/alerts", nil, &d)
		for _, a := range d.Alerts {
			if a.Labels["alertname"] == "E2ESynthetic" && a.State == "firing" {
				return ""
			}
		}
		return fmt.Sprintf("alert E2ESynthetic is not firing: %+v", d.Alerts)
	})

	shots := t.TempDir()
	if dir := os.Getenv("SCREENSHOT_DIR"); dir != "" {
		shots = dir
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "ui/anomalies.mjs", v.URL, strconv.FormatInt(t0.Unix(), 10))
	cmd.Env = append(os.Environ(), "SCREENSHOT_DIR="+shots)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("anomalies UI check failed: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
