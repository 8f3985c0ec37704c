package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/config"
)

// webhook is an Alertmanager webhook receiver that keeps what it got.
type webhook struct {
	srv  *httptest.Server
	mu   sync.Mutex
	msgs []webhookMessage
}

type webhookMessage struct {
	Version  string `json:"version"`
	Status   string `json:"status"`
	Receiver string `json:"receiver"`
	Alerts   []struct {
		Status       string            `json:"status"`
		Labels       map[string]string `json:"labels"`
		GeneratorURL string            `json:"generatorURL"`
	} `json:"alerts"`
}

func newWebhook(t *testing.T) *webhook {
	w := &webhook{}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var m webhookMessage
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(rw, err.Error(), 400)
			return
		}
		w.mu.Lock()
		w.msgs = append(w.msgs, m)
		w.mu.Unlock()
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *webhook) messages() []webhookMessage {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]webhookMessage(nil), w.msgs...)
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func getJSON(t *testing.T, url string, into any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if into != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatalf("%s: %v: %s", url, err, b)
		}
	}
	return resp.StatusCode
}

const alertRules = `groups:
  - name: jobs
    interval: 1s
    rules:
      - alert: JobsDone
        expr: jobs_done_total > 100
        labels: {severity: page}
        annotations: {summary: "{{ $value }} jobs done"}
`

func amConfig(url, receiver string) string {
	return fmt.Sprintf(`route:
  receiver: %s
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: %s
    webhook_configs:
      - url: %s
        send_resolved: true
`, receiver, receiver, url)
}

// A sample that crosses a rule's threshold reaches a webhook through the
// embedded Alertmanager, and the alert's history records firing,
// notified and resolved.
func TestAlertReachesWebhookAndHistory(t *testing.T) {
	hook := newWebhook(t)
	dir := t.TempDir()
	cfg := testConfig(t)
	cfg.Rules.Files = []string{writeFile(t, dir, "rules.yml", alertRules)}
	cfg.Alerting.AlertmanagerConfig = writeFile(t, dir, "alertmanager.yml", amConfig(hook.srv.URL, "team"))
	r := start(t, cfg)

	remoteWrite(t, r.base, "", time.Now().UnixMilli(), 500)
	waitFor(t, "a firing notification", func() bool {
		for _, m := range hook.messages() {
			if m.Status == "firing" && len(m.Alerts) == 1 && m.Alerts[0].Labels["alertname"] == "JobsDone" {
				return true
			}
		}
		return false
	})
	m := hook.messages()[0]
	if m.Version != "4" || m.Receiver != "team" || m.Alerts[0].Labels["severity"] != "page" ||
		!strings.HasPrefix(m.Alerts[0].GeneratorURL, "http://") {
		t.Fatalf("notification %+v", m)
	}

	remoteWrite(t, r.base, "", time.Now().UnixMilli(), 5)
	waitFor(t, "a resolved notification", func() bool {
		for _, m := range hook.messages() {
			if m.Status == "resolved" {
				return true
			}
		}
		return false
	})

	states := func() map[string]bool {
		var h struct {
			Status string `json:"status"`
			Data   []struct {
				State     string `json:"state"`
				AlertName string `json:"alertname"`
				Receiver  string `json:"receiver"`
			} `json:"data"`
		}
		getJSON(t, r.base+`/api/v1/alerts/history?match[]={alertname="JobsDone"}`, &h)
		got := map[string]bool{}
		for _, e := range h.Data {
			got[e.State] = true
			if e.State == "notified" && !strings.HasPrefix(e.Receiver, "team/webhook") {
				t.Errorf("notified by %q", e.Receiver)
			}
		}
		return got
	}
	waitFor(t, "firing, notified and resolved in the history", func() bool {
		s := states()
		if !s["resolved"] {
			resp, _ := http.Get(r.base + "/api/v1/alerts/history")
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Logf("history: %s", b)
		}
		return s["firing"] && s["notified"] && s["resolved"]
	})

	// The Alertmanager API v2 answers with the running configuration.
	var status struct {
		Config struct {
			Original string `json:"original"`
		} `json:"config"`
	}
	if code := getJSON(t, r.base+"/api/v2/status", &status); code != 200 || !strings.Contains(status.Config.Original, "team") {
		t.Fatalf("status %d %q", code, status.Config.Original)
	}
}

// A reload with a broken Alertmanager configuration keeps the running one
// and says why; a good one replaces it.
func TestReloadAlertmanagerConfig(t *testing.T) {
	hook := newWebhook(t)
	dir := t.TempDir()
	cfg := testConfig(t)
	amFile := writeFile(t, dir, "alertmanager.yml", amConfig(hook.srv.URL, "first"))
	cfg.Alerting.AlertmanagerConfig = amFile
	r := start(t, cfg)
	r.srv.SetReloader(func() (config.Config, error) { return cfg, nil })

	original := func() string {
		var st struct {
			Config struct {
				Original string `json:"original"`
			} `json:"config"`
		}
		getJSON(t, r.base+"/api/v2/status", &st)
		return st.Config.Original
	}
	writeFile(t, dir, "alertmanager.yml", "route:\n  receiver: nobody\nreceivers: []\n")
	err := r.srv.Reload()
	if err == nil || !strings.Contains(err.Error(), "nobody") || !strings.Contains(err.Error(), amFile) {
		t.Fatalf("reload of a broken file: %v", err)
	}
	if !strings.Contains(original(), "first") {
		t.Fatalf("the running configuration changed: %s", original())
	}
	writeFile(t, dir, "alertmanager.yml", amConfig(hook.srv.URL, "second"))
	if err := r.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(original(), "second") {
		t.Fatalf("not reloaded: %s", original())
	}
}

// The SLO, actions and SLA endpoints answer from the configured files:
// an SLO's status before its rules have history, a dry-run action's audit
// record after its alert fires, and Prometheus-shaped errors for bad
// parameters.
func TestSLOActionsAndSLAEndpoints(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t)
	cfg.Rules.Files = []string{writeFile(t, dir, "rules.yml", alertRules)}
	cfg.SLO.Files = []string{writeFile(t, dir, "slo.yml", `slos:
  - name: jobs-availability
    service: batch
    objective: 99
    window: 7d
    sli:
      events:
        good: sum(rate(jobs_done_total[{{.window}}]))
        total: sum(rate(jobs_done_total[{{.window}}]))
`)}
	cfg.Actions.Files = []string{writeFile(t, dir, "actions.yml", `actions:
  - name: page-restart
    match: ['alertname="JobsDone"']
    dry_run: true
    command:
      argv: [systemctl, restart, 'jobs-{{ .Labels.job }}']
`)}
	r := start(t, cfg)

	var slos struct {
		Status string `json:"status"`
		Data   []struct {
			Name        string  `json:"name"`
			Objective   float64 `json:"objective"`
			ErrorBudget float64 `json:"error_budget"`
		} `json:"data"`
	}
	if code := getJSON(t, r.base+"/api/v1/slos", &slos); code != 200 || len(slos.Data) != 1 ||
		slos.Data[0].Name != "jobs-availability" || slos.Data[0].Objective != 0.99 || slos.Data[0].ErrorBudget < 0.0099 || slos.Data[0].ErrorBudget > 0.0101 {
		t.Fatalf("slos: %d %+v", code, slos)
	}
	if code := getJSON(t, r.base+"/api/v1/slos/nope", nil); code != 404 {
		t.Fatalf("unknown SLO: %d", code)
	}
	// The compiled SLO rules run with the others.
	var rules struct {
		Data struct {
			Groups []struct {
				Name string `json:"name"`
			} `json:"groups"`
		} `json:"data"`
	}
	getJSON(t, r.base+"/api/v1/rules", &rules)
	var groups []string
	for _, g := range rules.Data.Groups {
		groups = append(groups, g.Name)
	}
	if !strings.Contains(strings.Join(groups, ","), "slo:jobs-availability") {
		t.Fatalf("rule groups %v", groups)
	}

	remoteWrite(t, r.base, "", time.Now().UnixMilli(), 500)
	type audit struct {
		Data []struct {
			Action  string `json:"action"`
			Outcome string `json:"outcome"`
			Target  struct {
				Argv []string `json:"argv"`
			} `json:"target"`
		} `json:"data"`
	}
	waitFor(t, "a dry-run audit record", func() bool {
		var a audit
		getJSON(t, r.base+"/api/v1/actions/audit?action=page-restart", &a)
		for _, rec := range a.Data {
			if rec.Outcome == "dry_run" {
				if strings.Join(rec.Target.Argv, " ") != "systemctl restart jobs-batch" {
					t.Fatalf("rendered argv %v", rec.Target.Argv)
				}
				return true
			}
		}
		return false
	})
	if code := getJSON(t, r.base+"/api/v1/actions/audit?limit=x", nil); code != 400 {
		t.Fatalf("bad limit: %d", code)
	}
	var acts struct {
		Data []map[string]any `json:"data"`
	}
	if code := getJSON(t, r.base+"/api/v1/actions", &acts); code != 200 || len(acts.Data) != 1 || acts.Data[0]["name"] != "page-restart" {
		t.Fatalf("actions: %d %+v", code, acts)
	}
	if code := getJSON(t, r.base+"/api/v1/sla", nil); code != 400 {
		t.Fatalf("sla without a service: %d", code)
	}
}
