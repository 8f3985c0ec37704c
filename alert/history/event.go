// Package history keeps alert history as data: every state change of an
// alert (pending, firing, resolved, silenced, notified, ...) is an Event,
// appended to a bounded on-disk store that survives restarts and is
// queried by time range, label matchers and state — what Alertmanager
// never kept.
//
// On disk, Dir holds one JSON-lines file per UTC day of the events' Time,
// named events-YYYY-MM-DD.jsonl: one Event object per line, each line
// ended by '\n', appended in the order Record received them (so not
// necessarily in time order within a day). A line without its '\n' (the
// tail of a write cut short by a crash) or that is not an Event is
// skipped on read; the next append starts on a new line. Whole day files
// are removed when they fall out of Retention or, oldest first, when the
// files together exceed MaxBytes.
package history

import (
	"cmp"
	"maps"
	"slices"
	"time"
)

// Event is one state change of one alert, or one notification attempt.
type Event struct {
	Time time.Time `json:"time"`
	// Fingerprint is the hex of the alert's label fingerprint.
	Fingerprint string `json:"fingerprint"`
	AlertName   string `json:"alertname"`
	// Labels are the alert's labels; the store adds alertname when
	// AlertName is set, so matchers on alertname see it.
	Labels   map[string]string `json:"labels"`
	State    string            `json:"state"`
	Previous string            `json:"previous,omitempty"`
	// Value is the alert's value when known. JSON has no NaN or
	// infinities, so such values are not kept.
	Value *float64 `json:"value,omitempty"`
	// Receiver names the receiver and integration of a notified or
	// notify_failed event, e.g. "team-x/webhook[0]".
	Receiver string `json:"receiver,omitempty"`
	// Detail is free text: an error, silence ids, ... (cut at
	// MaxDetailBytes).
	Detail string `json:"detail,omitempty"`
	// Source is SourceRules or SourceAlertmanager.
	Source string `json:"source,omitempty"`
}

// The states an Event records.
const (
	StatePending   = "pending"
	StateFiring    = "firing"
	StateResolved  = "resolved"
	StateInactive  = "inactive"
	StateSilenced  = "silenced"
	StateInhibited = "inhibited"
	// StateUnsilenced and StateUninhibited are an alert active again
	// after its silence or inhibition ended.
	StateUnsilenced   = "unsilenced"
	StateUninhibited  = "uninhibited"
	StateNotified     = "notified"
	StateNotifyFailed = "notify_failed"
)

// States lists every state an Event may have, for validating filters.
var States = []string{
	StatePending, StateFiring, StateResolved, StateInactive,
	StateSilenced, StateInhibited, StateUnsilenced, StateUninhibited,
	StateNotified, StateNotifyFailed,
}

// The producers of events.
const (
	SourceRules        = "rules"
	SourceAlertmanager = "alertmanager"
	// SourceAPI marks firing and resolved changes of alerts that other
	// senders posted to POST /api/v2/alerts.
	SourceAPI = "api"
)

// Diff returns the transitions between two snapshots of alerts keyed by
// fingerprint, e.g. the active alerts of two successive rule
// evaluations:
//
//   - an alert in cur that is not in prev, or whose State differs from
//     its State in prev, yields its cur event with Previous set to the
//     prev State ("" when new);
//   - an alert in prev that is gone from cur yields, at now, StateInactive
//     if it was pending and StateResolved if it was firing (other states
//     vanish without an event: they are either final already or not
//     owned by the snapshot's producer).
//
// The result is ordered by Time, then Fingerprint. Events are copied by
// value; their Labels maps are shared with the inputs.
func Diff(prev, cur map[string]Event, now time.Time) []Event {
	var out []Event
	for _, k := range slices.Sorted(maps.Keys(cur)) {
		c := cur[k]
		p, seen := prev[k]
		if seen && p.State == c.State {
			continue
		}
		c.Previous = ""
		if seen {
			c.Previous = p.State
		}
		out = append(out, c)
	}
	for _, k := range slices.Sorted(maps.Keys(prev)) {
		if _, ok := cur[k]; ok {
			continue
		}
		p := prev[k]
		var next string
		switch p.State {
		case StatePending:
			next = StateInactive
		case StateFiring:
			next = StateResolved
		default:
			continue
		}
		p.Previous, p.State, p.Time = p.State, next, now
		p.Receiver, p.Detail = "", ""
		out = append(out, p)
	}
	slices.SortStableFunc(out, func(a, b Event) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Fingerprint, b.Fingerprint))
	})
	return out
}
