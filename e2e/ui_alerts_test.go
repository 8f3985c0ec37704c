package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// alertsUIFiles writes the configuration TestAlertsUI runs Vigil with and
// returns its path: a rule group evaluated every second with an alert
// that fires at once, one that stays pending for an hour and two counters
// (requests, and errors at 5% of them) for an SLO of 90%; an
// Alertmanager configuration that sends to webhook; and a dry-run action
// for the firing alert.
func alertsUIFiles(t *testing.T, webhook string) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rules := write("rules.yml", `groups:
  - name: e2e-alerts
    interval: 1s
    rules:
      - record: e2e:requests_total
        expr: vector(time())
      - record: e2e:errors_total
        expr: vector(time() * 0.05)
      - alert: E2EAlwaysFiring
        expr: vector(1)
        for: 0s
        labels: {severity: page, team: e2e}
        annotations:
          summary: "<img src=x onerror=window.__xss=1> fires at once"
          description: "the browser check silences this alert"
      - alert: E2EPendingLong
        expr: vector(2)
        for: 1h
        labels: {severity: ticket, team: e2e}
        annotations: {summary: "pending for an hour"}
`)
	am := write("alertmanager.yml", `route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: `+webhook+`
        send_resolved: true
`)
	slos := write("slo.yml", `slos:
  - name: e2e-availability
    service: e2e
    description: Requests of the e2e counters that do not fail.
    objective: 90
    sli:
      events:
        bad: sum(rate(e2e:errors_total[{{.window}}]))
        total: sum(rate(e2e:requests_total[{{.window}}]))
`)
	actions := write("actions.yml", `actions:
  - name: e2e-remediate
    match: ['alertname="E2EAlwaysFiring"']
    dry_run: true
    command:
      argv: ["systemctl", "restart", "{{ .Labels.team }}"]
`)
	return write("vigil.yml", `rules:
  files: [`+rules+`]
alerting:
  alertmanager_config: `+am+`
slo:
  files: [`+slos+`]
actions:
  files: [`+actions+`]
`)
}

// TestAlertsUI checks the alerting pages in headless Chromium (see
// ui/alerts.mjs): the firing and pending alerts are listed, a silence
// created from the firing alert's row silences it and expiring it ends
// that, the history timeline shows the alert firing, silenced and
// notified, the SLO page draws the SLO's burn-down chart and the actions
// page shows the dry-run action's audit record.
func TestAlertsUI(t *testing.T) {
	node := tool(t, "node")
	tool(t, "chromium", "/usr/bin/chromium")
	if _, err := os.Stat("ui/node_modules/playwright-core"); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		run(t, ctx, nil, tool(t, "npm"), "ci", "--prefix", "ui", "--no-audit", "--no-fund")
	}
	var notified atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		notified.Add(1)
	}))
	defer hook.Close()
	v := startVigil(t, withArgs("--config", alertsUIFiles(t, hook.URL), "--host-metrics=false"))

	// The browser starts from a known state: both alerts active, the
	// webhook notified and the action's dry run recorded.
	eventually(t, 60*time.Second, func() string {
		var d struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		}
		apiGet(t, v.URL, "/api/v1/alerts", nil, &d)
		states := map[string]string{}
		for _, a := range d.Alerts {
			states[a.Labels["alertname"]] = a.State
		}
		if states["E2EAlwaysFiring"] != "firing" || states["E2EPendingLong"] != "pending" {
			return fmt.Sprintf("alert states %v, want E2EAlwaysFiring firing and E2EPendingLong pending", states)
		}
		return ""
	})
	eventually(t, 60*time.Second, func() string {
		if notified.Load() == 0 {
			return "the webhook was not notified"
		}
		var recs []struct {
			Outcome string `json:"outcome"`
		}
		apiGet(t, v.URL, "/api/v1/actions/audit", nil, &recs)
		for _, r := range recs {
			if r.Outcome == "dry_run" {
				return ""
			}
		}
		return "no dry_run audit record"
	})

	shots := t.TempDir()
	if dir := os.Getenv("SCREENSHOT_DIR"); dir != "" {
		shots = dir
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "ui/alerts.mjs", v.URL)
	cmd.Env = append(os.Environ(), "SCREENSHOT_DIR="+shots)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("alerting UI check failed: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
