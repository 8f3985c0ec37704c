package e2e

// Alerting with real clients: Debian's Alertmanager 0.25 receiving Vigil's
// alerts, amtool against the embedded Alertmanager, remote-written samples
// through rules, routing, a webhook and a command action, a restart that
// must not notify twice, and `vigil check` with reload.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
)

// amWebhookMessage is the body Alertmanager's webhook receiver posts
// (payload version 4).
type amWebhookMessage struct {
	Version     string            `json:"version"`
	Status      string            `json:"status"`
	Receiver    string            `json:"receiver"`
	GroupKey    string            `json:"groupKey"`
	GroupLabels map[string]string `json:"groupLabels"`
	ExternalURL string            `json:"externalURL"`
	Alerts      []struct {
		Status       string            `json:"status"`
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		StartsAt     time.Time         `json:"startsAt"`
		EndsAt       time.Time         `json:"endsAt"`
		GeneratorURL string            `json:"generatorURL"`
		Fingerprint  string            `json:"fingerprint"`
	} `json:"alerts"`
}

// webhookSink is an HTTP server that keeps every webhook message posted
// to it.
type webhookSink struct {
	URL  string
	mu   sync.Mutex
	msgs []amWebhookMessage
	bad  []string // bodies that were not webhook JSON
}

func startWebhookSink(t *testing.T) *webhookSink {
	t.Helper()
	w := &webhookSink{}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m amWebhookMessage
		w.mu.Lock()
		if err := json.Unmarshal(b, &m); err != nil {
			w.bad = append(w.bad, fmt.Sprintf("%s: %v", b, err))
		} else {
			w.msgs = append(w.msgs, m)
		}
		w.mu.Unlock()
		rw.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	w.URL = srv.URL + "/hook"
	return w
}

func (w *webhookSink) messages() []amWebhookMessage {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.msgs)
}

func (w *webhookSink) check(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.bad) > 0 {
		t.Errorf("the webhook received bodies that are not Alertmanager webhook JSON: %q", w.bad)
	}
}

// find returns the first message with the given status whose alerts
// include alertname.
func (w *webhookSink) find(status, alertname string) *amWebhookMessage {
	for _, m := range w.messages() {
		if m.Status != status {
			continue
		}
		for _, a := range m.Alerts {
			if a.Labels["alertname"] == alertname {
				return &m
			}
		}
	}
	return nil
}

// amAlert is an alert of Alertmanager's API v2 (GET /api/v2/alerts).
type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
	Receivers    []struct {
		Name string `json:"name"`
	} `json:"receivers"`
	Status struct {
		State       string   `json:"state"`
		SilencedBy  []string `json:"silencedBy"`
		InhibitedBy []string `json:"inhibitedBy"`
	} `json:"status"`
}

// amAlertNamed lists base's Alertmanager alerts and returns the one named
// alertname, or nil.
func amAlertNamed(t *testing.T, base, alertname string) *amAlert {
	t.Helper()
	var alerts []amAlert
	getJSON(t, base+"/api/v2/alerts", &alerts)
	for i := range alerts {
		if alerts[i].Labels["alertname"] == alertname {
			return &alerts[i]
		}
	}
	return nil
}

// getJSON decodes a 200 answer of an API without Prometheus's envelope
// (Alertmanager's).
func getJSON(t *testing.T, u string, into any) {
	t.Helper()
	resp, err := insecureClient.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatalf("GET %s: cannot decode %s: %v", u, b, err)
	}
}

// historyEvent is one event of GET /api/v1/alerts/history.
type historyEvent struct {
	Time        time.Time         `json:"time"`
	Fingerprint string            `json:"fingerprint"`
	AlertName   string            `json:"alertname"`
	Labels      map[string]string `json:"labels"`
	State       string            `json:"state"`
	Previous    string            `json:"previous"`
	Value       *float64          `json:"value"`
	Receiver    string            `json:"receiver"`
	Detail      string            `json:"detail"`
	Source      string            `json:"source"`
}

// alertHistory returns the events of one alert name, newest first as the
// API orders them.
func alertHistory(t *testing.T, base, alertname string) []historyEvent {
	t.Helper()
	var ev []historyEvent
	apiGet(t, base, "/api/v1/alerts/history", url.Values{"match[]": {`{alertname="` + alertname + `"}`}}, &ev)
	return ev
}

// historyStates lists the states of events, oldest first.
func historyStates(ev []historyEvent) []string {
	out := make([]string, 0, len(ev))
	for i := len(ev) - 1; i >= 0; i-- {
		out = append(out, ev[i].State)
	}
	return out
}

// auditRecord is one record of GET /api/v1/actions/audit.
type auditRecord struct {
	ID        string `json:"id"`
	Action    string `json:"action"`
	Phase     string `json:"phase"`
	AlertName string `json:"alertname"`
	Outcome   string `json:"outcome"`
	ExitCode  *int   `json:"exit_code"`
	Error     string `json:"error"`
}

// writeAlertingFile writes body to dir/name and returns the path.
func writeAlertingFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// startAlertingVigil starts Vigil with vigil.yml (written to dir) holding
// cfg.
func startAlertingVigil(t *testing.T, dir, cfg string, opts ...vigilOpt) *vigil {
	t.Helper()
	p := writeAlertingFile(t, dir, "vigil.yml", cfg)
	return startVigil(t, append([]vigilOpt{withArgs("--config", p, "--host-metrics=false")}, opts...)...)
}

// alwaysFiringRules is a rule file whose alert fires at the first
// evaluation: vector(1) is never empty and `for` is 0.
func alwaysFiringRules(alertname string) string {
	return fmt.Sprintf(`groups:
  - name: e2e
    interval: 1s
    rules:
      - alert: %s
        expr: vector(1)
        labels: {severity: page, team: e2e}
        annotations: {summary: "%s is always on"}
`, alertname, alertname)
}

// webhookAlertmanagerConfig routes everything to one webhook at once and
// repeats only after an hour, so each notification in a test is caused
// by a change, not by the clock.
func webhookAlertmanagerConfig(receiver, hookURL string) string {
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
`, receiver, receiver, hookURL)
}

// firingInVigil reports "" when Vigil's rules list alertname as firing.
func firingInVigil(t *testing.T, base, alertname string) string {
	t.Helper()
	var d struct {
		Alerts []struct {
			Labels map[string]string `json:"labels"`
			State  string            `json:"state"`
		} `json:"alerts"`
	}
	apiGet(t, base, "/api/v1/alerts", nil, &d)
	for _, a := range d.Alerts {
		if a.Labels["alertname"] == alertname && a.State == "firing" {
			return ""
		}
	}
	return fmt.Sprintf("%s is not firing in /api/v1/alerts: %+v", alertname, d.Alerts)
}

// Debian's Alertmanager 0.25, outside Vigil, receives the alerts of
// Vigil's rules through alerting.alertmanagers (Prometheus's notifier,
// API v2) and notifies its own webhook receiver.
func TestAlertingExternalAlertmanager(t *testing.T) {
	amBin := tool(t, "prometheus-alertmanager", "/usr/bin/prometheus-alertmanager")
	hook := startWebhookSink(t)
	dir := t.TempDir()
	amAddr := freePort(t)
	amCfg := writeAlertingFile(t, dir, "external-am.yml", webhookAlertmanagerConfig("external-hook", hook.URL))
	background(t, nil, amBin, "--config.file="+amCfg, "--storage.path="+filepath.Join(dir, "am-data"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=")
	waitHTTP(t, "http://"+amAddr+"/-/ready")

	// The alert waits for a sample the test writes once the notifier has
	// discovered the external Alertmanager: an alert that fires before
	// that is dropped by Prometheus's notifier (it has nowhere to send
	// it) and sent again only after the 1 m resend delay.
	rules := writeAlertingFile(t, dir, "rules.yml", `groups:
  - name: e2e
    interval: 1s
    rules:
      - alert: E2EExternal
        expr: e2e_external_trigger > 0
        labels: {severity: page, team: e2e}
        annotations: {summary: "E2EExternal is on"}
`)
	v := startAlertingVigil(t, dir, fmt.Sprintf(`rules:
  files: [%s]
alerting:
  alertmanagers:
    - static_configs: [{targets: [%q]}]
      api_version: v2
`, rules, amAddr))
	eventually(t, 30*time.Second, func() string {
		if m := scrapeMetric(t, v.URL, "prometheus_notifications_alertmanagers_discovered"); m != "1" {
			return fmt.Sprintf("Vigil's notifier has discovered %q external Alertmanagers, want 1", m)
		}
		return ""
	})
	pushGauge(t, v.URL, "e2e_external_trigger", 1, time.Now())

	var got *amAlert
	eventually(t, 60*time.Second, func() string {
		if got = amAlertNamed(t, "http://"+amAddr, "E2EExternal"); got == nil {
			return "the external Alertmanager has no E2EExternal alert yet"
		}
		return ""
	})
	if got.Labels["severity"] != "page" || got.Labels["team"] != "e2e" || got.Labels["job"] != "e2e" {
		t.Errorf("labels at the external Alertmanager: %v, want severity=page team=e2e job=e2e", got.Labels)
	}
	if got.Annotations["summary"] != "E2EExternal is on" {
		t.Errorf("annotations at the external Alertmanager: %v", got.Annotations)
	}
	checkGeneratorURL(t, got.GeneratorURL, v.URL, "e2e_external_trigger > 0")
	if got.Status.State != "active" || len(got.Receivers) != 1 || got.Receivers[0].Name != "external-hook" {
		t.Errorf("at the external Alertmanager: state %q receivers %+v, want active at external-hook", got.Status.State, got.Receivers)
	}

	var msg *amWebhookMessage
	eventually(t, 30*time.Second, func() string {
		if msg = hook.find("firing", "E2EExternal"); msg == nil {
			return fmt.Sprintf("the external Alertmanager's webhook got no firing E2EExternal message; got %+v", hook.messages())
		}
		return ""
	})
	hook.check(t)
	if msg.Version != "4" || msg.Receiver != "external-hook" {
		t.Errorf("webhook message version %q receiver %q, want 4 and external-hook", msg.Version, msg.Receiver)
	}
	checkGeneratorURL(t, msg.Alerts[0].GeneratorURL, v.URL, "e2e_external_trigger > 0")
}

// scrapeMetric returns the value of an unlabelled metric on base's
// /metrics, or "" when it is not there.
func scrapeMetric(t *testing.T, base, name string) string {
	t.Helper()
	resp, err := insecureClient.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == name {
			return f[1]
		}
	}
	return ""
}

// checkGeneratorURL: a generator URL leads to Vigil's query page for the
// rule's expression.
func checkGeneratorURL(t *testing.T, gen, vigilURL, expr string) {
	t.Helper()
	u, err := url.Parse(gen)
	if err != nil {
		t.Errorf("generatorURL %q: %v", gen, err)
		return
	}
	if u.Scheme+"://"+u.Host != vigilURL {
		t.Errorf("generatorURL %q does not point at Vigil (%s)", gen, vigilURL)
	}
	if got := u.Query().Get("g0.expr"); got != expr {
		t.Errorf("generatorURL %q queries %q, want %q", gen, got, expr)
	}
}

// runAmtool runs amtool against base and returns its standard output; a
// failure is returned with the standard error, so callers may poll.
func runAmtool(bin, base string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--alertmanager.url=" + base}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("amtool %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

var silenceIDPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// amtool, Alertmanager's own client, works against Vigil's embedded
// Alertmanager: it lists the firing alert, adds, lists and expires a
// silence that suppresses it, checks the very file Vigil runs, and reads
// that configuration back from Vigil.
func TestAlertingAmtool(t *testing.T) {
	amtool := tool(t, "amtool", "/usr/bin/amtool")
	dir := t.TempDir()
	hook := startWebhookSink(t)
	amCfg := writeAlertingFile(t, dir, "alertmanager.yml", webhookAlertmanagerConfig("e2e-oncall", hook.URL))
	rules := writeAlertingFile(t, dir, "rules.yml", alwaysFiringRules("E2EAmtool"))
	v := startAlertingVigil(t, dir, fmt.Sprintf(`rules:
  files: [%s]
alerting:
  alertmanager_config: %s
`, rules, amCfg))
	must := func(args ...string) string {
		t.Helper()
		out, err := runAmtool(amtool, v.URL, args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	// The same file passes Alertmanager's own checker.
	if out, err := exec.Command(amtool, "check-config", amCfg).CombinedOutput(); err != nil || !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("amtool check-config %s: %v\n%s", amCfg, err, out)
	}

	eventually(t, 60*time.Second, func() string {
		out, err := runAmtool(amtool, v.URL, "alert", "query")
		if err != nil {
			return err.Error()
		}
		if !strings.Contains(out, "E2EAmtool") || !strings.Contains(out, "E2EAmtool is always on") {
			return "amtool alert query does not list E2EAmtool:\n" + out
		}
		return ""
	})

	id := strings.TrimSpace(must("silence", "add", "alertname=E2EAmtool", "--comment=e2e silences E2EAmtool", "--duration=1h", "--author=e2e"))
	if !silenceIDPattern.MatchString(id) {
		t.Fatalf("amtool silence add printed %q, not a silence ID", id)
	}
	if out := must("silence", "query", "-q"); !slices.Contains(strings.Fields(out), id) {
		t.Errorf("amtool silence query -q does not list %s:\n%s", id, out)
	}
	if out := must("silence", "query"); !strings.Contains(out, "e2e silences E2EAmtool") || !strings.Contains(out, `alertname="E2EAmtool"`) {
		t.Errorf("amtool silence query does not show the silence's comment and matcher:\n%s", out)
	}
	eventually(t, 30*time.Second, func() string {
		a := amAlertNamed(t, v.URL, "E2EAmtool")
		if a == nil {
			return "E2EAmtool is gone from /api/v2/alerts"
		}
		if a.Status.State != "suppressed" || !slices.Contains(a.Status.SilencedBy, id) {
			return fmt.Sprintf("E2EAmtool status %+v, want suppressed by %s", a.Status, id)
		}
		return ""
	})
	// amtool shows only active alerts unless asked for silenced ones.
	if out := must("alert", "query"); strings.Contains(out, "E2EAmtool") {
		t.Errorf("amtool alert query lists the silenced E2EAmtool:\n%s", out)
	}
	if out := must("alert", "query", "--silenced"); !strings.Contains(out, "E2EAmtool") {
		t.Errorf("amtool alert query --silenced does not list E2EAmtool:\n%s", out)
	}
	eventually(t, 30*time.Second, func() string {
		for _, e := range alertHistory(t, v.URL, "E2EAmtool") {
			if e.State == "silenced" && strings.Contains(e.Detail, id) {
				return ""
			}
		}
		return fmt.Sprintf("no silenced event naming %s in the history: %v", id, historyStates(alertHistory(t, v.URL, "E2EAmtool")))
	})

	must("silence", "expire", id)
	eventually(t, 30*time.Second, func() string {
		a := amAlertNamed(t, v.URL, "E2EAmtool")
		if a == nil || a.Status.State != "active" || len(a.Status.SilencedBy) != 0 {
			return fmt.Sprintf("E2EAmtool after expiring the silence: %+v, want active", a)
		}
		return ""
	})
	var sil struct {
		Status struct {
			State string `json:"state"`
		} `json:"status"`
	}
	getJSON(t, v.URL+"/api/v2/silence/"+id, &sil)
	if sil.Status.State != "expired" {
		t.Errorf("silence %s state %q after amtool silence expire, want expired", id, sil.Status.State)
	}
	if out := must("silence", "query", "-q"); strings.Contains(out, id) {
		t.Errorf("amtool silence query -q still lists the expired %s", id)
	}
	eventually(t, 30*time.Second, func() string {
		if s := historyStates(alertHistory(t, v.URL, "E2EAmtool")); !slices.Contains(s, "unsilenced") {
			return fmt.Sprintf("no unsilenced event in the history: %v", s)
		}
		return ""
	})

	// The configuration round-trips through GET /api/v2/status.
	out := must("config", "show")
	if !strings.Contains(out, "e2e-oncall") || !strings.Contains(out, "repeat_interval: 1h") {
		t.Errorf("amtool config show does not show the running configuration:\n%s", out)
	}
	// Not `amtool config routes`: it parses that text with Alertmanager
	// 0.25's loader, which refuses 0.31's newer global fields
	// (smtp_tls_config, slack_app_url, ...), as it would from a real
	// Alertmanager 0.31.
	hook.check(t)
}

// pushGauge remote-writes one sample of a gauge, as Prometheus would.
func pushGauge(t *testing.T, base, name string, v float64, at time.Time) {
	t.Helper()
	body := rw1(prompb.TimeSeries{
		Labels:  []prompb.Label{{Name: "__name__", Value: name}, {Name: "job", Value: "e2e"}},
		Samples: []prompb.Sample{{Timestamp: at.UnixMilli(), Value: v}},
	})
	resp, text, err := postRW(base, "application/x-protobuf", body)
	if err != nil {
		t.Fatalf("remote write %s=%v: %v", name, v, err)
	}
	if resp.StatusCode/100 != 2 {
		t.Fatalf("remote write %s=%v: %d %s", name, v, resp.StatusCode, text)
	}
}

// waitEvaluatedAfter waits until every rule group has been evaluated
// after t0, so what the rules saw includes everything written before t0.
func waitEvaluatedAfter(t *testing.T, base string, t0 time.Time) {
	t.Helper()
	eventually(t, 30*time.Second, func() string {
		var d struct {
			Groups []struct {
				Name           string    `json:"name"`
				File           string    `json:"file"`
				LastEvaluation time.Time `json:"lastEvaluation"`
			} `json:"groups"`
		}
		apiGet(t, base, "/api/v1/rules", nil, &d)
		if len(d.Groups) == 0 {
			return "no rule groups"
		}
		for _, g := range d.Groups {
			// The built-in anomaly rules evaluate once a minute and
			// are not what these tests wait for.
			if g.File == "builtin:anomaly-defaults.yml" {
				continue
			}
			if !g.LastEvaluation.After(t0) {
				return fmt.Sprintf("group %s last evaluated at %s, not after %s", g.Name, g.LastEvaluation, t0)
			}
		}
		return ""
	})
}

func waitFile(t *testing.T, p string) {
	t.Helper()
	eventually(t, 30*time.Second, func() string {
		if _, err := os.Stat(p); err != nil {
			return "the action did not create its file: " + err.Error()
		}
		return ""
	})
}

// The whole chain: samples remote-written to Vigil cross a rule's
// threshold, the embedded Alertmanager routes the alert to a webhook, a
// command action runs for it and its resolve step runs when the samples
// fall back, and the history and the audit log tell the story.
func TestAlertingRemoteWriteToWebhookAndAction(t *testing.T) {
	touch, err := exec.LookPath("touch")
	if err != nil {
		t.Fatal("touch not found: ", err)
	}
	hook := startWebhookSink(t)
	dir := t.TempDir()
	out := t.TempDir() // where the action leaves its files
	amCfg := writeAlertingFile(t, dir, "alertmanager.yml", webhookAlertmanagerConfig("queue-team", hook.URL))
	rules := writeAlertingFile(t, dir, "rules.yml", `groups:
  - name: queues
    interval: 1s
    rules:
      - alert: E2EQueueDeep
        expr: e2e_queue_depth > 100
        for: 0s
        labels: {severity: page}
        annotations: {summary: "queue depth {{ $value }}"}
`)
	actions := writeAlertingFile(t, dir, "actions.yml", fmt.Sprintf(`actions:
  - name: drain-queue
    match: ['alertname="E2EQueueDeep"']
    cooldown: 0s
    command:
      argv: [%q, "%s/fired-{{ .Labels.alertname }}"]
    resolve:
      command:
        argv: [%q, "%s/resolved-{{ .Labels.alertname }}"]
`, touch, out, touch, out))
	v := startAlertingVigil(t, dir, fmt.Sprintf(`rules:
  files: [%s]
alerting:
  alertmanager_config: %s
actions:
  files: [%s]
`, rules, amCfg, actions))

	// Below the threshold: evaluated, and nothing fires.
	pushGauge(t, v.URL, "e2e_queue_depth", 5, time.Now())
	waitValue(t, v.URL, "e2e_queue_depth", 5)
	waitEvaluatedAfter(t, v.URL, time.Now())
	if firingInVigil(t, v.URL, "E2EQueueDeep") == "" || len(hook.messages()) > 0 {
		t.Fatalf("E2EQueueDeep fired at depth 5; webhook got %+v", hook.messages())
	}

	pushGauge(t, v.URL, "e2e_queue_depth", 500, time.Now())
	var fired *amWebhookMessage
	eventually(t, 60*time.Second, func() string {
		if fired = hook.find("firing", "E2EQueueDeep"); fired == nil {
			return fmt.Sprintf("no firing webhook message for E2EQueueDeep; got %+v", hook.messages())
		}
		return ""
	})
	if fired.Version != "4" || fired.Receiver != "queue-team" || fired.GroupLabels["alertname"] != "E2EQueueDeep" {
		t.Errorf("firing message: version %q receiver %q groupLabels %v", fired.Version, fired.Receiver, fired.GroupLabels)
	}
	if a := fired.Alerts[0]; a.Labels["severity"] != "page" || a.Annotations["summary"] != "queue depth 500" || a.Status != "firing" {
		t.Errorf("firing alert: %+v", a)
	}
	checkGeneratorURL(t, fired.Alerts[0].GeneratorURL, v.URL, "e2e_queue_depth > 100")
	waitFile(t, filepath.Join(out, "fired-E2EQueueDeep"))
	eventually(t, 30*time.Second, func() string { return auditOutcome(t, v.URL, "drain-queue", "fire", "succeeded") })

	pushGauge(t, v.URL, "e2e_queue_depth", 5, time.Now())
	var resolved *amWebhookMessage
	eventually(t, 60*time.Second, func() string {
		if resolved = hook.find("resolved", "E2EQueueDeep"); resolved == nil {
			return fmt.Sprintf("no resolved webhook message for E2EQueueDeep; got %d messages", len(hook.messages()))
		}
		return ""
	})
	if a := resolved.Alerts[0]; a.Status != "resolved" || a.EndsAt.IsZero() || a.EndsAt.Before(a.StartsAt) {
		t.Errorf("resolved alert: %+v", a)
	}
	waitFile(t, filepath.Join(out, "resolved-E2EQueueDeep"))
	eventually(t, 30*time.Second, func() string { return auditOutcome(t, v.URL, "drain-queue", "resolve", "succeeded") })
	hook.check(t)

	// The history, newest first, holds the episode: firing (perhaps after
	// pending), notified, resolved and the resolved notification.
	var ev []historyEvent
	eventually(t, 30*time.Second, func() string {
		ev = alertHistory(t, v.URL, "E2EQueueDeep")
		s := historyStates(ev)
		fi, ri := slices.Index(s, "firing"), slices.Index(s, "resolved")
		if fi < 0 || ri < fi || !slices.Contains(s[fi:], "notified") || !slices.Contains(s[ri:], "notified") {
			return fmt.Sprintf("history of E2EQueueDeep, oldest first: %v", s)
		}
		return ""
	})
	t.Logf("history of E2EQueueDeep, oldest first: %v", historyStates(ev))
	for i := 1; i < len(ev); i++ {
		if ev[i].Time.After(ev[i-1].Time) {
			t.Errorf("history is not newest first: %s before %s", ev[i-1].Time, ev[i].Time)
		}
	}
	for _, e := range ev {
		switch e.State {
		case "firing":
			if e.Value == nil || *e.Value != 500 || e.Labels["severity"] != "page" {
				t.Errorf("firing event %+v, want value 500 and the rule's labels", e)
			}
		case "notified":
			if !strings.HasPrefix(e.Receiver, "queue-team/") {
				t.Errorf("notified event names receiver %q, want queue-team/...", e.Receiver)
			}
		}
	}
}

// auditOutcome reports "" when the audit log has a record of action's
// phase with outcome.
func auditOutcome(t *testing.T, base, action, phase, outcome string) string {
	t.Helper()
	var recs []auditRecord
	apiGet(t, base, "/api/v1/actions/audit", nil, &recs)
	for _, r := range recs {
		if r.Action == action && r.Phase == phase {
			if r.Outcome == outcome {
				return ""
			}
			if r.Outcome != "running" {
				return fmt.Sprintf("audit of %s %s: outcome %q (error %q), want %s", action, phase, r.Outcome, r.Error, outcome)
			}
		}
	}
	return fmt.Sprintf("no audit record of %s %s with outcome %s: %+v", action, phase, outcome, recs)
}

// A restart is not a new alert to Alertmanager: the notification log
// outlives it, so an alert that fires on both sides of a restart is
// notified once; silences outlive it too.
func TestAlertingRestartNoDuplicateNotification(t *testing.T) {
	hook := startWebhookSink(t)
	dir := t.TempDir()
	amCfg := writeAlertingFile(t, dir, "alertmanager.yml", webhookAlertmanagerConfig("restart-hook", hook.URL))
	// `for: 0s`: the alert fires at the first evaluation after the
	// restart too. With a `for`, the restored state waits out the 10 m
	// grace period (Prometheus's ForGracePeriod) and the test could not
	// tell "not notified again" from "not firing yet".
	rules := writeAlertingFile(t, dir, "rules.yml", alwaysFiringRules("E2ERestart"))
	v := startAlertingVigil(t, dir, fmt.Sprintf(`rules:
  files: [%s]
alerting:
  alertmanager_config: %s
`, rules, amCfg))

	count := func() int {
		n := 0
		for _, m := range hook.messages() {
			if m.Status == "firing" && len(m.Alerts) > 0 && m.Alerts[0].Labels["alertname"] == "E2ERestart" {
				n++
			}
		}
		return n
	}
	eventually(t, 60*time.Second, func() string {
		if count() == 0 {
			return "E2ERestart was not notified"
		}
		return ""
	})
	// A silence of another alert, so it does not stop the notification
	// this test counts.
	silence := map[string]any{
		"matchers":  []map[string]any{{"name": "alertname", "value": "E2ENeverFires", "isRegex": false, "isEqual": true}},
		"startsAt":  time.Now().UTC().Format(time.RFC3339),
		"endsAt":    time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		"createdBy": "e2e",
		"comment":   "must survive the restart",
	}
	b, _ := json.Marshal(silence)
	resp, err := insecureClient.Post(v.URL+"/api/v2/silences", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var created struct {
		SilenceID string `json:"silenceID"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(rb, &created) != nil || created.SilenceID == "" {
		t.Fatalf("POST /api/v2/silences %s: %d %s", b, resp.StatusCode, rb)
	}
	// group_interval is 1s: three more flushes that must not notify.
	time.Sleep(3 * time.Second)
	if n := count(); n != 1 {
		t.Fatalf("%d firing notifications of E2ERestart before the restart, want 1: %+v", n, hook.messages())
	}

	if code := v.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("vigil exited with %d on SIGTERM:\n%s", code, tail(v.log.String(), 30))
	}
	v.restart()
	eventually(t, 60*time.Second, func() string { return firingInVigil(t, v.URL, "E2ERestart") })
	eventually(t, 30*time.Second, func() string {
		if a := amAlertNamed(t, v.URL, "E2ERestart"); a == nil || a.Status.State != "active" {
			return fmt.Sprintf("the embedded Alertmanager does not hold E2ERestart active after the restart: %+v", a)
		}
		return ""
	})
	// The group is flushed at once (group_wait 0s) and every second after;
	// three seconds give it every chance to notify again.
	time.Sleep(3 * time.Second)
	if n := count(); n != 1 {
		t.Errorf("%d firing notifications of E2ERestart after the restart, want still 1: %+v", n, hook.messages())
	}
	var sil struct {
		ID      string `json:"id"`
		Comment string `json:"comment"`
		Status  struct {
			State string `json:"state"`
		} `json:"status"`
	}
	getJSON(t, v.URL+"/api/v2/silence/"+created.SilenceID, &sil)
	if sil.Status.State != "active" || sil.Comment != "must survive the restart" {
		t.Errorf("silence %s after the restart: %+v, want active with its comment", created.SilenceID, sil)
	}
	hook.check(t)
}

// vigilCheck runs `vigil check KIND FILE...` and returns its exit code
// and output.
func vigilCheck(t *testing.T, kind string, files ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(vigilBin, append([]string{"check", kind}, files...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("vigil check %s: %v", kind, err)
		}
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// `vigil check` passes good files and names the file and line of a YAML
// mistake in each kind; a reload with a broken Alertmanager file answers
// 500 and keeps the running configuration, and the fixed file is loaded.
func TestAlertingCheckAndReload(t *testing.T) {
	amtool := tool(t, "amtool", "/usr/bin/amtool")
	dir := t.TempDir()
	w := func(name, body string) string { return writeAlertingFile(t, dir, name, body) }
	// Each bad file has a tab where YAML wants spaces, on the line given.
	// The line before it ends in a flow collection or a key: after a plain
	// scalar, yaml.v3 reports the tab at the scalar's line instead.
	goodRules := w("rules.yml", alwaysFiringRules("E2ECheck"))
	goodAM := w("alertmanager.yml", webhookAlertmanagerConfig("first-receiver", "http://127.0.0.1:1/hook"))
	goodSLO := w("slo.yml", `slos:
  - name: api-availability
    service: api
    objective: 99.9
    window: 30d
    sli:
      events:
        good: sum(rate(http_requests_total{code!~"5.."}[{{.window}}]))
        total: sum(rate(http_requests_total[{{.window}}]))
`)
	goodActions := w("actions.yml", `actions:
  - name: page-webhook
    match: ['severity="page"']
    http:
      url: http://127.0.0.1:1/page
`)
	goodConfig := w("vigil-good.yml", fmt.Sprintf(`rules:
  files: [%s]
alerting:
  alertmanager_config: %s
slo:
  files: [%s]
actions:
  files: [%s]
`, goodRules, goodAM, goodSLO, goodActions))
	tab := "\t"
	cases := []struct {
		kind, good, bad string
		badLine         int
	}{
		{"rules", goodRules, w("bad-rules.yml", "groups:\n  - name: g\n    rules:\n"+tab+"- record: x\n"), 4},
		{"alertmanager", goodAM, w("bad-am.yml", "route:\n  receiver: r\n"+tab+"group_by: [a]\nreceivers:\n  - name: r\n"), 3},
		{"slo", goodSLO, w("bad-slo.yml", "slos:\n  - name: x\n    labels: {team: a}\n"+tab+"service: api\n"), 4},
		{"actions", goodActions, w("bad-actions.yml", "actions:\n  - name: x\n    match: ['a=\"b\"']\n"+tab+"http: {url: http://127.0.0.1:1/}\n"), 4},
		{"config", goodConfig, w("bad-vigil.yml", "rules:\n  files: []\n"+tab+"alerting: {}\n"), 3},
	}
	for _, c := range cases {
		if code, out := vigilCheck(t, c.kind, c.good); code != 0 || !strings.Contains(out, "SUCCESS") {
			t.Errorf("vigil check %s %s: exit %d, want 0 and SUCCESS:\n%s", c.kind, c.good, code, out)
		}
		code, out := vigilCheck(t, c.kind, c.bad)
		if code != 1 || !strings.Contains(out, c.bad) || strings.Contains(out, "SUCCESS") {
			t.Errorf("vigil check %s %s: exit %d, want 1 and the file named:\n%s", c.kind, c.bad, code, out)
		}
		if !strings.Contains(out, fmt.Sprintf("line %d", c.badLine)) && !strings.Contains(out, fmt.Sprintf("%s:%d", c.bad, c.badLine)) {
			t.Errorf("vigil check %s %s does not name line %d:\n%s", c.kind, c.bad, c.badLine, out)
		}
	}
	// Mistakes that are not YAML's: each is found, in its file.
	for _, c := range []struct{ kind, file string }{
		{"rules", w("bad-expr.yml", "groups:\n  - name: g\n    rules:\n      - alert: X\n        expr: sum(\n")},
		{"alertmanager", w("bad-receiver.yml", "route:\n  receiver: nobody\nreceivers:\n  - name: somebody\n")},
		{"actions", w("no-match.yml", "actions:\n  - name: x\n    http: {url: http://127.0.0.1:1/}\n")},
		{"config", w("vigil-bad-am.yml", "alerting:\n  alertmanager_config: "+filepath.Join(dir, "bad-receiver.yml")+"\n")},
	} {
		code, out := vigilCheck(t, c.kind, c.file)
		want := c.file
		if c.kind == "config" {
			want = filepath.Join(dir, "bad-receiver.yml") // the file that is wrong, not the one naming it
		}
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("vigil check %s %s: exit %d, want 1 naming %s:\n%s", c.kind, c.file, code, want, out)
		}
	}
	// Vigil and amtool agree on Alertmanager files.
	for _, c := range []struct {
		file string
		ok   bool
	}{{goodAM, true}, {filepath.Join(dir, "bad-am.yml"), false}, {filepath.Join(dir, "bad-receiver.yml"), false}} {
		err := exec.Command(amtool, "check-config", c.file).Run()
		if (err == nil) != c.ok {
			t.Errorf("amtool check-config %s: %v, want ok=%v", c.file, err, c.ok)
		}
	}

	v := startAlertingVigil(t, dir, fmt.Sprintf("rules:\n  files: [%s]\nalerting:\n  alertmanager_config: %s\n", goodRules, goodAM))
	receiverInStatus := func() string {
		var st struct {
			Config struct {
				Original string `json:"original"`
			} `json:"config"`
		}
		getJSON(t, v.URL+"/api/v2/status", &st)
		return st.Config.Original
	}
	if s := receiverInStatus(); !strings.Contains(s, "first-receiver") {
		t.Fatalf("/api/v2/status does not show the configured receiver:\n%s", s)
	}
	reload := func() (int, string) {
		resp, err := insecureClient.Post(v.URL+"/-/reload", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	good := readFile(t, goodAM)
	writeAlertingFile(t, dir, "alertmanager.yml", "route:\n  receiver: r\n"+tab+"group_by: [a]\n")
	if code, body := reload(); code != http.StatusInternalServerError || !strings.Contains(body, goodAM) {
		t.Errorf("POST /-/reload with a broken %s: %d %q, want 500 naming the file", goodAM, code, body)
	}
	if s := receiverInStatus(); !strings.Contains(s, "first-receiver") {
		t.Errorf("after a failed reload /api/v2/status lost the running configuration:\n%s", s)
	}
	eventually(t, 30*time.Second, func() string { return firingInVigil(t, v.URL, "E2ECheck") })

	writeAlertingFile(t, dir, "alertmanager.yml", strings.ReplaceAll(good, "first-receiver", "second-receiver"))
	if code, body := reload(); code != http.StatusOK {
		t.Fatalf("POST /-/reload with a fixed file: %d %s", code, body)
	}
	if s := receiverInStatus(); !strings.Contains(s, "second-receiver") || strings.Contains(s, "first-receiver") {
		t.Errorf("after the reload /api/v2/status does not show the new receiver only:\n%s", s)
	}
	var receivers []struct {
		Name string `json:"name"`
	}
	getJSON(t, v.URL+"/api/v2/receivers", &receivers)
	if len(receivers) != 1 || receivers[0].Name != "second-receiver" {
		t.Errorf("/api/v2/receivers after the reload: %+v, want second-receiver", receivers)
	}
	// The alert is routed by the new tree.
	eventually(t, 30*time.Second, func() string {
		a := amAlertNamed(t, v.URL, "E2ECheck")
		if a == nil || len(a.Receivers) != 1 || a.Receivers[0].Name != "second-receiver" {
			return fmt.Sprintf("E2ECheck after the reload: %+v, want routed to second-receiver", a)
		}
		return ""
	})
}
