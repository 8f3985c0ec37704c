package alert

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Asia/Kathmandu on machines without a zone database
)

// Grouping, inhibition and silences behave as Alertmanager documents
// them: https://prometheus.io/docs/alerting/latest/alertmanager/.

func TestGrouping(t *testing.T) {
	t.Parallel()
	sink := newWebhookSink(t)
	// group_wait is long enough for both alerts of one Put to join
	// their group before it is first sent.
	am := startAM(t, Options{}, hookConfig(sink, `
route:
  receiver: hook
  group_by: [alertname, cluster]
  group_wait: 500ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: WEBHOOK/hook
`))
	put(t, am,
		firing("alertname", "Grouped", "cluster", "eu", "instance", "eu1"),
		firing("alertname", "Grouped", "cluster", "eu", "instance", "eu2"),
		firing("alertname", "Grouped", "cluster", "us", "instance", "us1"),
	)
	byGroup := map[string][]string{}
	for _, m := range sink.wait(t, "hook", 2) {
		byGroup[m.GroupKey] = m.instances()
	}
	want := map[string][]string{
		`{}:{alertname="Grouped", cluster="eu"}`: {"eu1", "eu2"},
		`{}:{alertname="Grouped", cluster="us"}`: {"us1"},
	}
	if fmt.Sprint(byGroup) != fmt.Sprint(want) {
		t.Errorf("first messages per group = %v, want %v", byGroup, want)
	}
}

func TestInhibition(t *testing.T) {
	t.Parallel()
	sink := newWebhookSink(t)
	am := startAM(t, Options{}, hookConfig(sink, `
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 200ms
  group_interval: 1s
  repeat_interval: 1h
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [cluster]
receivers:
  - name: hook
    webhook_configs:
      - url: WEBHOOK/hook
`))
	source := firing("alertname", "Down", "severity", "critical", "cluster", "eu", "instance", "critical-eu")
	put(t, am, source)
	sameCluster := firing("alertname", "Down", "severity", "warning", "cluster", "eu", "instance", "warning-eu")
	// The inhibitor learns of alerts asynchronously; the targets go in
	// once it mutes by the source, so the outcome does not depend on
	// which goroutine runs first.
	waitFor(t, "the inhibitor to see the critical alert", func() bool { return am.Muted(sameCluster.Labels) })
	otherCluster := firing("alertname", "Down", "severity", "warning", "cluster", "us", "instance", "warning-us")
	put(t, am, sameCluster, otherCluster)

	var all []webhookMessage
	waitFor(t, "the warning of the other cluster to be sent", func() bool {
		all = sink.messages(t, "hook")
		return slices.ContainsFunc(all, func(m webhookMessage) bool { return slices.Contains(m.instances(), "warning-us") })
	})
	for _, m := range all {
		if slices.Contains(m.instances(), "warning-eu") {
			t.Errorf("the warning inhibited by the critical alert of its cluster was sent: %v", m.instances())
		}
	}
	if last := all[len(all)-1].instances(); !slices.Equal(last, []string{"critical-eu", "warning-us"}) {
		t.Errorf("last message has %v, want the critical alert and the other cluster's warning", last)
	}
}

func TestSilence(t *testing.T) {
	t.Parallel()
	sink := newWebhookSink(t)
	am := startAM(t, Options{}, hookConfig(sink, apiConfig))
	createSilence(t, am, "instance", "quiet")
	put(t, am,
		firing("alertname", "Silenced", "instance", "quiet"),
		firing("alertname", "Silenced", "instance", "loud"),
	)
	// Both alerts are in one group, so the silenced one is absent from
	// the very message the other one is in.
	if got := sink.wait(t, "hook", 1)[0].instances(); !slices.Equal(got, []string{"loud"}) {
		t.Errorf("sent %v, want only the alert no silence matches", got)
	}
}

// clockRanges renders the local minutes [from, to) of a day as time
// interval ranges; a window that crosses midnight becomes two ranges.
func clockRanges(from, to int) string {
	hm := func(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }
	r := func(a, b int) string { return fmt.Sprintf("{start_time: %q, end_time: %q}", hm(a), hm(b)) }
	const day = 24 * 60
	switch {
	case from < 0:
		return r(from+day, day) + ", " + r(0, to)
	case to > day:
		return r(from, day) + ", " + r(0, to-day)
	}
	return r(from, to)
}

// A time interval is read in its own location. Three routes share one
// clock window, a quarter of an hour either side of now on Kathmandu's
// clock (UTC+05:45):
//   - a: active in the window in Kathmandu → sent;
//   - b: muted in the window in Kathmandu → not sent;
//   - c: active in the window read in UTC, where the clock is 5h45
//     behind and so outside it → not sent.
//
// Weekdays and days are not restricted, and a window that crosses
// Kathmandu's midnight is split in two ranges, so the test holds at any
// time of any day.
func TestTimeIntervalsInTheirLocation(t *testing.T) {
	t.Parallel()
	ktm, err := time.LoadLocation("Asia/Kathmandu")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().In(ktm)
	minute := now.Hour()*60 + now.Minute()
	window := clockRanges(minute-15, minute+16)

	sink := newWebhookSink(t)
	conf := hookConfig(sink, `
route:
  receiver: control
  group_by: [alertname]
  group_wait: 200ms
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: [route="a"]
      receiver: a
      active_time_intervals: [kathmandu]
    - matchers: [route="b"]
      receiver: b
      mute_time_intervals: [kathmandu]
    - matchers: [route="c"]
      receiver: c
      active_time_intervals: [utc]
time_intervals:
  - name: kathmandu
    time_intervals:
      - times: [WINDOW]
        location: Asia/Kathmandu
  - name: utc
    time_intervals:
      - times: [WINDOW]
        location: UTC
receivers:
  - name: a
    webhook_configs: [{url: WEBHOOK/a}]
  - name: b
    webhook_configs: [{url: WEBHOOK/b}]
  - name: c
    webhook_configs: [{url: WEBHOOK/c}]
  - name: control
    webhook_configs: [{url: WEBHOOK/control}]
`)
	am := startAM(t, Options{}, strings.ReplaceAll(conf, "WINDOW", window))
	put(t, am,
		firing("alertname", "InWindow", "route", "a", "instance", "a"),
		firing("alertname", "InWindow", "route", "b", "instance", "b"),
		firing("alertname", "InWindow", "route", "c", "instance", "c"),
	)
	if got := sink.wait(t, "a", 1)[0].instances(); !slices.Equal(got, []string{"a"}) {
		t.Errorf("route a sent %v", got)
	}
	// The dispatcher marks a group muted when it holds it back; the API
	// shows that, so b and c are known to have been considered.
	waitFor(t, "routes b and c to be muted by their time intervals", func() bool {
		m := mutedBy(t, am)
		return slices.Equal(m["b"], []string{"kathmandu"}) && slices.Equal(m["c"], []string{"utc"})
	})
	// A control alert sent after them passes the same pipeline; once it
	// is out, anything b or c would have sent is out too.
	put(t, am, firing("alertname", "Control", "instance", "control"))
	sink.wait(t, "control", 1)
	if got := sink.messages(t, "b"); len(got) > 0 {
		t.Errorf("route b, muted in Kathmandu's window, sent %+v", got)
	}
	if got := sink.messages(t, "c"); len(got) > 0 {
		t.Errorf("route c, active in the window read in UTC, sent %+v", got)
	}
	if m := mutedBy(t, am); len(m["a"]) > 0 {
		t.Errorf("route a muted by %v", m["a"])
	}
}

func TestClockRanges(t *testing.T) {
	f := func(from, to int, want string) {
		t.Helper()
		if got := clockRanges(from, to); got != want {
			t.Errorf("clockRanges(%d, %d) = %s, want %s", from, to, got, want)
		}
	}
	f(60, 91, `{start_time: "01:00", end_time: "01:31"}`)
	f(-10, 21, `{start_time: "23:50", end_time: "24:00"}, {start_time: "00:00", end_time: "00:21"}`)
	f(1430, 1461, `{start_time: "23:50", end_time: "24:00"}, {start_time: "00:00", end_time: "00:21"}`)
}
