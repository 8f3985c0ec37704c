package alert

import (
	"encoding/json"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/notify/webhook"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"
)

// jsonFields lists the JSON names of a struct's fields, those of
// embedded structs included, as encoding/json flattens them.
func jsonFields(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	for f := range slices.Values(reflect.VisibleFields(t)) {
		if f.Anonymous || !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// The mirror used to decode strictly is Alertmanager's own webhook
// message, field for field, so the strict decode proves the shape.
func TestWebhookMirrorIsAlertmanagersMessage(t *testing.T) {
	if got, want := jsonFields(reflect.TypeFor[webhookMessage]()), jsonFields(reflect.TypeFor[webhook.Message]()); !slices.Equal(got, want) {
		t.Errorf("message fields: mirror %v, Alertmanager %v", got, want)
	}
	if got, want := jsonFields(reflect.TypeFor[webhookAlert]()), jsonFields(reflect.TypeFor[template.Alert]()); !slices.Equal(got, want) {
		t.Errorf("alert fields: mirror %v, Alertmanager %v", got, want)
	}
}

const webhookConfig = `
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
        send_resolved: true
`

func TestWebhookPayload(t *testing.T) {
	t.Parallel()
	sink := newWebhookSink(t)
	ext, _ := url.Parse("https://vigil.example:9090/")
	am := startAM(t, Options{ExternalURL: ext}, hookConfig(sink, webhookConfig))

	a := firing("alertname", "DiskFull", "instance", "db1", "severity", "page")
	a.Annotations = model.LabelSet{"summary": "disk is full"}
	a.GeneratorURL = "http://prometheus.example/graph?g0.expr=disk"
	put(t, am, a)

	got := sink.wait(t, "hook", 1)[0]
	raw := sink.deliveries(t, "hook")[0].raw
	assertKeys(t, raw)
	want := webhookMessage{
		Version:           "4",
		GroupKey:          `{}:{alertname="DiskFull"}`,
		Status:            "firing",
		Receiver:          "hook",
		GroupLabels:       map[string]string{"alertname": "DiskFull"},
		CommonLabels:      map[string]string{"alertname": "DiskFull", "instance": "db1", "severity": "page"},
		CommonAnnotations: map[string]string{"summary": "disk is full"},
		ExternalURL:       "https://vigil.example:9090/",
		Alerts: []webhookAlert{{
			Status:      "firing",
			Labels:      map[string]string{"alertname": "DiskFull", "instance": "db1", "severity": "page"},
			Annotations: map[string]string{"summary": "disk is full"},
			StartsAt:    a.StartsAt,
			// The dispatcher zeroes a firing alert's end, so that it
			// cannot resolve on its own while the message travels.
			EndsAt:       time.Time{},
			GeneratorURL: "http://prometheus.example/graph?g0.expr=disk",
			Fingerprint:  a.Fingerprint().String(),
		}},
	}
	assertMessage(t, "firing", got, want)

	// Resolving it: the next group_interval flush sends the resolved
	// message (send_resolved), with the end time the sender gave.
	end := time.Now()
	resolved := *a
	resolved.EndsAt, resolved.UpdatedAt = end, end
	put(t, am, &resolved)
	got = sink.wait(t, "hook", 2)[1]
	want.Status = "resolved"
	want.Alerts[0].Status = "resolved"
	want.Alerts[0].EndsAt = end
	assertMessage(t, "resolved", got, want)
}

// assertKeys checks that a message has every field Alertmanager sends,
// none missing (the strict decode already refused extra ones).
func assertKeys(t *testing.T, raw []byte) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if got, want := slices.Sorted(maps.Keys(m)), jsonFields(reflect.TypeFor[webhookMessage]()); !slices.Equal(got, want) {
		t.Errorf("message keys %v, want %v", got, want)
	}
	var alerts []map[string]json.RawMessage
	if err := json.Unmarshal(m["alerts"], &alerts); err != nil {
		t.Fatal(err)
	}
	for _, a := range alerts {
		if got, want := slices.Sorted(maps.Keys(a)), jsonFields(reflect.TypeFor[webhookAlert]()); !slices.Equal(got, want) {
			t.Errorf("alert keys %v, want %v", got, want)
		}
	}
}

func assertMessage(t *testing.T, what string, got, want webhookMessage) {
	t.Helper()
	// Times compare as instants: JSON keeps the instant, not the zone.
	if len(got.Alerts) == len(want.Alerts) {
		for i := range got.Alerts {
			g, w := &got.Alerts[i], want.Alerts[i]
			if g.StartsAt.Equal(w.StartsAt) {
				g.StartsAt = w.StartsAt
			}
			if g.EndsAt.Equal(w.EndsAt) {
				g.EndsAt = w.EndsAt
			}
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s message:\n got %+v\nwant %+v", what, got, want)
	}
}
