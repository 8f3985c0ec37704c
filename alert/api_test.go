package alert

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/client/alertgroup"
	"github.com/prometheus/alertmanager/api/v2/client/general"
	"github.com/prometheus/alertmanager/api/v2/client/silence"
	"github.com/prometheus/alertmanager/api/v2/models"
)

// createSilence silences, for an hour from now, the alerts whose label
// name equals value, through the API as amtool does; it returns the id.
func createSilence(t *testing.T, am *testAM, name, value string) string {
	t.Helper()
	start := strfmt.DateTime(time.Now())
	end := strfmt.DateTime(time.Now().Add(time.Hour))
	by, comment := "test", "maintenance"
	isEqual, isRegex := true, false
	res, err := am.api.Silence.PostSilences(silence.NewPostSilencesParams().WithSilence(&models.PostableSilence{
		Silence: models.Silence{
			Matchers: models.Matchers{{
				Name: &name, Value: &value, IsEqual: &isEqual, IsRegex: &isRegex,
			}},
			StartsAt:  &start,
			EndsAt:    &end,
			CreatedBy: &by,
			Comment:   &comment,
		},
	}))
	if err != nil {
		t.Fatalf("POST /api/v2/silences: %v", err)
	}
	if res.Payload.SilenceID == "" {
		t.Fatal("POST /api/v2/silences returned no silence id")
	}
	return res.Payload.SilenceID
}

// silenceStates maps silence ids to their states, from GET
// /api/v2/silences.
func silenceStates(t *testing.T, am *testAM) map[string]string {
	t.Helper()
	res, err := am.api.Silence.GetSilences(silence.NewGetSilencesParams())
	if err != nil {
		t.Fatalf("GET /api/v2/silences: %v", err)
	}
	out := map[string]string{}
	for _, s := range res.Payload {
		out[*s.ID] = *s.Status.State
	}
	return out
}

func expireSilence(t *testing.T, am *testAM, id string) {
	t.Helper()
	if _, err := am.api.Silence.DeleteSilence(silence.NewDeleteSilenceParams().WithSilenceID(strfmt.UUID(id))); err != nil {
		t.Fatalf("DELETE /api/v2/silence/%s: %v", id, err)
	}
}

// listAlerts returns GET /api/v2/alerts keyed by the instance label.
func listAlerts(t *testing.T, am *testAM) map[string]*models.GettableAlert {
	t.Helper()
	res, err := am.api.Alert.GetAlerts(alert.NewGetAlertsParams().WithDefaults())
	if err != nil {
		t.Fatalf("GET /api/v2/alerts: %v", err)
	}
	out := map[string]*models.GettableAlert{}
	for _, a := range res.Payload {
		out[a.Labels["instance"]] = a
	}
	return out
}

// mutedBy returns, for each receiver, the time intervals that muted its
// groups' alerts, from GET /api/v2/alerts/groups.
func mutedBy(t *testing.T, am *testAM) map[string][]string {
	t.Helper()
	res, err := am.api.Alertgroup.GetAlertGroups(alertgroup.NewGetAlertGroupsParams().WithDefaults())
	if err != nil {
		t.Fatalf("GET /api/v2/alerts/groups: %v", err)
	}
	out := map[string][]string{}
	for _, g := range res.Payload {
		for _, a := range g.Alerts {
			out[*g.Receiver.Name] = append(out[*g.Receiver.Name], a.Status.MutedBy...)
		}
	}
	return out
}

const apiConfig = `
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 200ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: WEBHOOK/hook
`

// The API is Alertmanager's, so amtool's own client works against it.
func TestAPIv2WithAmtoolClient(t *testing.T) {
	t.Parallel()
	sink := newWebhookSink(t)
	am := startAM(t, Options{}, hookConfig(sink, apiConfig))

	// Alerts: post as Prometheus does, list them back.
	// The API's times have millisecond precision.
	start := strfmt.DateTime(time.Now().Add(-time.Minute).Truncate(time.Millisecond))
	end := strfmt.DateTime(time.Now().Add(time.Hour).Truncate(time.Millisecond))
	posted := models.PostableAlerts{
		{
			Alert:       models.Alert{Labels: models.LabelSet{"alertname": "API", "instance": "one"}, GeneratorURL: "http://prometheus.example/one"},
			Annotations: models.LabelSet{"summary": "first"},
			StartsAt:    start,
			EndsAt:      end,
		},
		{Alert: models.Alert{Labels: models.LabelSet{"alertname": "API", "instance": "two"}}},
	}
	if _, err := am.api.Alert.PostAlerts(alert.NewPostAlertsParams().WithAlerts(posted)); err != nil {
		t.Fatalf("POST /api/v2/alerts: %v", err)
	}
	got := listAlerts(t, am)
	if len(got) != 2 || got["one"] == nil || got["two"] == nil {
		t.Fatalf("GET /api/v2/alerts = %v, want instances one and two", slices.Sorted(maps.Keys(got)))
	}
	one := got["one"]
	if one.Annotations["summary"] != "first" || one.GeneratorURL != "http://prometheus.example/one" ||
		!time.Time(*one.StartsAt).Equal(time.Time(start)) || !time.Time(*one.EndsAt).Equal(time.Time(end)) {
		t.Errorf("alert one came back as %+v", one)
	}
	if *one.Status.State != "active" || len(one.Receivers) != 1 || *one.Receivers[0].Name != "hook" {
		t.Errorf("alert one: state %q receivers %v, want active for hook", *one.Status.State, one.Receivers)
	}

	// Silences: create, list, see it mute, expire, list again.
	id := createSilence(t, am, "instance", "two")
	if st := silenceStates(t, am); st[id] != "active" {
		t.Fatalf("silences after POST = %v, want %s active", st, id)
	}
	two := listAlerts(t, am)["two"]
	if *two.Status.State != "suppressed" || !slices.Equal(two.Status.SilencedBy, []string{id}) {
		t.Errorf("alert two: state %q silenced by %v, want suppressed by %s", *two.Status.State, two.Status.SilencedBy, id)
	}
	expireSilence(t, am, id)
	if st := silenceStates(t, am); st[id] != "expired" {
		t.Errorf("silences after DELETE = %v, want %s expired", st, id)
	}
	two = listAlerts(t, am)["two"]
	if *two.Status.State != "active" || len(two.Status.SilencedBy) != 0 {
		t.Errorf("alert two after the silence expired: state %q silenced by %v", *two.Status.State, two.Status.SilencedBy)
	}

	// Status: the running configuration and no cluster.
	st, err := am.api.General.GetStatus(general.NewGetStatusParams())
	if err != nil {
		t.Fatalf("GET /api/v2/status: %v", err)
	}
	// As in Alertmanager, the webhook URL is a secret and shown masked.
	if orig := *st.Payload.Config.Original; !strings.Contains(orig, "receiver: hook") || !strings.Contains(orig, "group_wait: 200ms") ||
		strings.Contains(orig, sink.srv.URL) {
		t.Errorf("status config = %q, want the running configuration", *st.Payload.Config.Original)
	}
	if *st.Payload.Cluster.Status != "disabled" {
		t.Errorf("cluster status = %q, want disabled", *st.Payload.Cluster.Status)
	}
}

// An invalid silence is refused as Alertmanager refuses it (422 from the
// API's schema validation), and not stored.
func TestAPIv2RefusesInvalidSilence(t *testing.T) {
	t.Parallel()
	am := startAM(t, Options{}, "")
	body := `{"matchers":[],"startsAt":"2030-01-01T00:00:00Z","endsAt":"2030-01-02T00:00:00Z","createdBy":"t","comment":"c"}`
	res, err := am.srv.Client().Post(am.srv.URL+"/api/v2/silences", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("POST of a silence without matchers: status %d, want 422", res.StatusCode)
	}
	if st := silenceStates(t, am); len(st) != 0 {
		t.Errorf("silences = %v, want none", st)
	}
}
