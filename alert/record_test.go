package alert

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	apialert "github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/alertmanager/types"

	"github.com/vigilhq/vigil/alert/history"
)

const localPrefix = "http://vigil.local/"

// waitEvents waits for at least one event of alertname in state.
func waitEvents(t *testing.T, log *eventLog, alertname, state string) []history.Event {
	t.Helper()
	var got []history.Event
	waitFor(t, alertname+" "+state+" event", func() bool {
		got = log.find(alertname, state)
		return len(got) > 0
	})
	return got
}

// Notifications are recorded per alert and integration; firing and
// resolved are recorded only for alerts that Vigil's rules did not
// generate (the ruler records its own).
func TestHistoryNotifiedFiringResolved(t *testing.T) {
	t.Parallel()
	sink := newWebhookSink(t)
	log := &eventLog{}
	am := startAM(t, Options{History: log, LocalGeneratorPrefix: localPrefix}, hookConfig(sink, webhookConfig))

	external := firing("alertname", "External", "instance", "x")
	local := firing("alertname", "Local", "instance", "l")
	local.GeneratorURL = localPrefix + "graph?g0.expr=up"
	put(t, am, external, local)
	// The provider records while storing, so the events are there when
	// Put returns.
	if got := log.find("External", history.StateFiring); len(got) != 1 || !got[0].Time.Equal(external.StartsAt) ||
		got[0].Fingerprint != external.Fingerprint().String() || got[0].Labels["instance"] != "x" {
		t.Errorf("firing events of the external alert: %+v, want one at its start", got)
	}
	if got := log.find("Local", history.StateFiring); len(got) != 0 {
		t.Errorf("firing events of an alert from Vigil's rules: %+v, want none", got)
	}
	// Sent again, as Prometheus does each evaluation: no new change.
	again := *external
	again.UpdatedAt = time.Now()
	put(t, am, &again)
	if got := log.find("External", history.StateFiring); len(got) != 1 {
		t.Errorf("%d firing events after the alert was sent again, want 1", len(got))
	}

	for _, name := range []string{"External", "Local"} {
		e := waitEvents(t, log, name, history.StateNotified)[0]
		if e.Receiver != "hook/webhook[0]" || e.Detail != "firing" || e.Source != history.SourceAlertmanager {
			t.Errorf("%s notified event: %+v, want receiver hook/webhook[0], detail firing, source alertmanager", name, e)
		}
	}

	end := time.Now()
	for _, a := range []*types.Alert{external, local} {
		r := *a
		r.EndsAt, r.UpdatedAt = end, end
		put(t, am, &r)
	}
	if got := log.find("External", history.StateResolved); len(got) != 1 || !got[0].Time.Equal(end) {
		t.Errorf("resolved events of the external alert: %+v, want one at its end", got)
	}
	if got := log.find("Local", history.StateResolved); len(got) != 0 {
		t.Errorf("resolved events of an alert from Vigil's rules: %+v, want none", got)
	}
	// send_resolved: the resolved notification is recorded too.
	waitFor(t, "the resolved notification to be recorded", func() bool {
		return slices.ContainsFunc(log.find("External", history.StateNotified), func(e history.Event) bool { return e.Detail == "resolved" })
	})
}

func TestHistoryNotifyFailed(t *testing.T) {
	t.Parallel()
	sink := newWebhookSink(t)
	sink.status.Store(http.StatusInternalServerError)
	log := &eventLog{}
	am := startAM(t, Options{History: log}, hookConfig(sink, apiConfig))
	put(t, am, firing("alertname", "Failing", "instance", "x"))
	// Alertmanager retries a 5xx; each failed attempt is an event.
	e := waitEvents(t, log, "Failing", history.StateNotifyFailed)[0]
	if e.Receiver != "hook/webhook[0]" || !strings.Contains(e.Detail, "500") {
		t.Errorf("notify_failed event: %+v, want receiver hook/webhook[0] and the status in the detail", e)
	}
	if got := log.find("Failing", history.StateNotified); len(got) != 0 {
		t.Errorf("notified events for a webhook that answers 500: %+v", got)
	}
}

// Silences and inhibitions that start and end are recorded by Run's
// status tracker.
func TestHistorySilencedAndInhibited(t *testing.T) {
	t.Parallel()
	sink := newWebhookSink(t)
	log := &eventLog{}
	am := startAM(t, Options{History: log}, hookConfig(sink, apiConfig+`
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [cluster]
`))
	put(t, am, firing("alertname", "Quiet", "instance", "x"))
	id := createSilence(t, am, "alertname", "Quiet")
	if e := waitEvents(t, log, "Quiet", history.StateSilenced)[0]; e.Detail != "silenced by "+id {
		t.Errorf("silenced event detail %q, want the silence id %s", e.Detail, id)
	}
	expireSilence(t, am, id)
	waitEvents(t, log, "Quiet", history.StateUnsilenced)

	source := firing("alertname", "Outage", "severity", "critical", "cluster", "eu")
	put(t, am, source, firing("alertname", "Slow", "severity", "warning", "cluster", "eu"))
	if e := waitEvents(t, log, "Slow", history.StateInhibited)[0]; e.Detail != "inhibited by "+source.Fingerprint().String() {
		t.Errorf("inhibited event detail %q, want the source's fingerprint %s", e.Detail, source.Fingerprint())
	}
	resolved := *source
	resolved.EndsAt, resolved.UpdatedAt = time.Now(), time.Now()
	put(t, am, &resolved)
	waitEvents(t, log, "Slow", history.StateUninhibited)
	if got := log.find("Outage", history.StateInhibited); len(got) != 0 {
		t.Errorf("the inhibiting alert was recorded inhibited: %+v", got)
	}
}

// OnAlert sees every alert stored, whichever way it came in.
func TestOnAlert(t *testing.T) {
	t.Parallel()
	var (
		mu   sync.Mutex
		seen []string
	)
	am := startAM(t, Options{OnAlert: func(a *types.Alert) {
		mu.Lock()
		seen = append(seen, string(a.Labels["alertname"]))
		mu.Unlock()
	}}, "")
	if err := am.Put(context.Background(), firing("alertname", "FromRules1"), firing("alertname", "FromRules2")); err != nil {
		t.Fatal(err)
	}
	start := strfmt.DateTime(time.Now())
	if _, err := am.api.Alert.PostAlerts(apialert.NewPostAlertsParams().WithAlerts(models.PostableAlerts{
		{Alert: models.Alert{Labels: models.LabelSet{"alertname": "FromAPI"}}, StartsAt: start},
	})); err != nil {
		t.Fatalf("POST /api/v2/alerts: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if slices.Sort(seen); !slices.Equal(seen, []string{"FromAPI", "FromRules1", "FromRules2"}) {
		t.Errorf("OnAlert saw %v", seen)
	}
}
