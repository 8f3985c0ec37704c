package alert

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/notifier"
)

func ruleAlert(name string) *notifier.Alert {
	// Milliseconds: the precision of Alertmanager's API v2 times.
	start := time.Date(2030, 1, 2, 3, 4, 5, int(7*time.Millisecond), time.UTC)
	return &notifier.Alert{
		Labels:       labels.FromStrings("alertname", name, "severity", "page"),
		Annotations:  labels.FromStrings("summary", "it broke", "runbook", "https://runbooks.example/x"),
		StartsAt:     start,
		EndsAt:       start.Add(4 * time.Minute),
		GeneratorURL: "http://vigil.local/graph?g0.expr=up",
	}
}

func TestConvert(t *testing.T) {
	now := time.Now()
	a := ruleAlert("Broken")
	got := Convert(a, now)
	if want := (model.LabelSet{"alertname": "Broken", "severity": "page"}); !got.Labels.Equal(want) {
		t.Errorf("labels %v, want %v", got.Labels, want)
	}
	if want := (model.LabelSet{"summary": "it broke", "runbook": "https://runbooks.example/x"}); !got.Annotations.Equal(want) {
		t.Errorf("annotations %v, want %v", got.Annotations, want)
	}
	if !got.StartsAt.Equal(a.StartsAt) || !got.EndsAt.Equal(a.EndsAt) || got.GeneratorURL != a.GeneratorURL || !got.UpdatedAt.Equal(now) {
		t.Errorf("times/generator: %v–%v %q updated %v", got.StartsAt, got.EndsAt, got.GeneratorURL, got.UpdatedAt)
	}
	if got.Timeout {
		t.Error("an alert with an end from its rule is marked as timing out")
	}
	// The fingerprint is the labels', so the embedded Alertmanager and
	// an external one that receives the same alert agree on identity.
	if got.Fingerprint() != model.LabelSet(got.Labels).Fingerprint() {
		t.Error("fingerprint is not the labels'")
	}
}

// fakeAlertmanager serves POST /api/v2/alerts as an external
// Alertmanager would, collecting what Prometheus's notifier sends.
type fakeAlertmanager struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []postedAlert
	errs []string
}

type postedAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
}

func newFakeAlertmanager(t *testing.T) *fakeAlertmanager {
	f := &fakeAlertmanager{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var alerts []postedAlert
		err := json.NewDecoder(r.Body).Decode(&alerts)
		f.mu.Lock()
		defer f.mu.Unlock()
		if r.Method != http.MethodPost || r.URL.Path != "/api/v2/alerts" || err != nil {
			f.errs = append(f.errs, r.Method+" "+r.URL.Path)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		f.got = append(f.got, alerts...)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAlertmanager) received(t *testing.T) []postedAlert {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.errs) > 0 {
		t.Fatalf("the external Alertmanager got unexpected requests: %v", f.errs)
	}
	return append([]postedAlert(nil), f.got...)
}

// runExternal creates an External with the alerting section yml and runs
// it until the test ends.
func runExternal(t *testing.T, reg prometheus.Registerer, yml string) *External {
	t.Helper()
	cfg, err := promconfig.Load(yml, nil)
	if err != nil {
		t.Fatalf("Prometheus configuration: %v", err)
	}
	ext, err := NewExternal(reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ext.ApplyConfig(cfg); err != nil {
		t.Fatalf("ApplyConfig: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ext.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("External.Run: %v", err)
		}
	})
	return ext
}

func TestSenderToEmbeddedAndExternal(t *testing.T) {
	t.Parallel()
	fake := newFakeAlertmanager(t)
	u, _ := url.Parse(fake.srv.URL)
	ext := runExternal(t, nil, `
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['`+u.Host+`']
      api_version: v2
`)
	// Alerts sent before discovery has found the Alertmanager are
	// dropped by Prometheus's notifier, as in Prometheus.
	waitFor(t, "the external Alertmanager to be discovered", func() bool { return len(ext.Alertmanagers()) == 1 })
	if got := ext.Alertmanagers()[0]; got != fake.srv.URL+"/api/v2/alerts" {
		t.Errorf("external Alertmanager %s, want %s/api/v2/alerts", got, fake.srv.URL)
	}
	am := startAM(t, Options{}, "")

	s := &Sender{Embedded: am.Alertmanager, External: ext}
	a := ruleAlert("Sent")
	s.Send(a)

	stored := listAlerts(t, am)
	if len(stored) != 1 {
		t.Fatalf("embedded Alertmanager has %d alerts, want 1", len(stored))
	}
	for _, got := range stored {
		if got.Labels["alertname"] != "Sent" || got.Annotations["summary"] != "it broke" || string(got.GeneratorURL) != a.GeneratorURL {
			t.Errorf("embedded alert %+v", got)
		}
	}

	var got []postedAlert
	waitFor(t, "the external Alertmanager to receive the alert", func() bool {
		got = fake.received(t)
		return len(got) > 0
	})
	p := got[0]
	if p.Labels["alertname"] != "Sent" || p.Labels["severity"] != "page" || p.Annotations["runbook"] != "https://runbooks.example/x" ||
		!p.StartsAt.Equal(a.StartsAt) || !p.EndsAt.Equal(a.EndsAt) || p.GeneratorURL != a.GeneratorURL {
		t.Errorf("external Alertmanager received %+v", p)
	}
}

// Without alertmanagers in the configuration, External sends nothing
// and queues nothing.
func TestExternalWithoutAlertmanagers(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	ext := runExternal(t, reg, "global:\n  scrape_interval: 15s\n")
	ext.Send(ruleAlert("Nowhere"))
	(&Sender{External: ext}).Send(ruleAlert("Nowhere"))
	if got := ext.Alertmanagers(); len(got) != 0 {
		t.Errorf("alertmanagers %v, want none", got)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		name := mf.GetName()
		if !strings.HasPrefix(name, "prometheus_notifications_") || strings.HasSuffix(name, "_capacity") {
			continue
		}
		for _, m := range mf.GetMetric() {
			if v := m.GetCounter().GetValue() + m.GetGauge().GetValue(); v != 0 {
				t.Errorf("%s = %v, want 0", name, v)
			}
		}
	}
	if n, err := testutil.GatherAndCount(reg, "prometheus_notifications_alertmanagers_discovered"); err != nil || n != 1 {
		t.Errorf("the notifier's metrics are not in the registry given (%d series, %v): nothing was checked", n, err)
	}
	// Queued, sent and dropped are per Alertmanager: no series at all.
	for _, name := range []string{"prometheus_notifications_queue_length", "prometheus_notifications_sent_total", "prometheus_notifications_dropped_total"} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != 0 {
			t.Errorf("%s: %d series (%v), want none", name, n, err)
		}
	}
}

// A Sender with neither side set drops alerts without failing.
func TestSenderWithNothing(t *testing.T) {
	(&Sender{}).Send(ruleAlert("Nobody"))
}
