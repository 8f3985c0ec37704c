package alert

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/alertmanager/types"
	"github.com/prometheus/common/model"

	"github.com/vigilhq/vigil/alert/history"
)

// event is a history event for an alert.
func event(t time.Time, a *types.Alert, state string) history.Event {
	ls := make(map[string]string, len(a.Labels))
	for k, v := range a.Labels {
		ls[string(k)] = string(v)
	}
	return history.Event{
		Time:        t,
		Fingerprint: a.Fingerprint().String(),
		AlertName:   string(a.Labels[model.AlertNameLabel]),
		Labels:      ls,
		State:       state,
		Source:      history.SourceAlertmanager,
	}
}

// storeCallback sees every alert the provider stores: it hands them to
// OnAlert and records the firing and resolved changes of alerts that other
// senders post (Vigil's own rules record theirs at evaluation).
type storeCallback struct {
	am *Alertmanager

	mu       sync.Mutex
	resolved map[model.Fingerprint]bool // external alerts seen, and whether resolved
}

func (c *storeCallback) PreStore(*types.Alert, bool) error { return nil }

func (c *storeCallback) PostStore(a *types.Alert, existing bool) {
	if c.am.o.OnAlert != nil {
		c.am.o.OnAlert(a)
	}
	h := c.am.o.History
	if h == nil || (c.am.o.LocalGeneratorPrefix != "" && strings.HasPrefix(a.GeneratorURL, c.am.o.LocalGeneratorPrefix)) {
		return
	}
	fp := a.Fingerprint()
	res := a.Resolved()
	c.mu.Lock()
	if c.resolved == nil {
		c.resolved = make(map[model.Fingerprint]bool)
	}
	was, known := c.resolved[fp]
	c.resolved[fp] = res
	c.mu.Unlock()
	if known && was == res {
		return
	}
	state, t := "firing", a.StartsAt
	if res {
		state, t = "resolved", a.EndsAt
	}
	e := event(t, a, state)
	e.Source = history.SourceAPI
	h.Record(e)
}

func (c *storeCallback) PostDelete(a *types.Alert) {
	c.mu.Lock()
	delete(c.resolved, a.Fingerprint())
	c.mu.Unlock()
}

// statusTracker turns the marker's silenced/inhibited status into
// history events when it changes.
type statusTracker struct {
	h    Recorder
	mu   sync.Mutex
	last map[model.Fingerprint]types.AlertStatus
}

func newStatusTracker(h Recorder) *statusTracker {
	return &statusTracker{h: h, last: make(map[model.Fingerprint]types.AlertStatus)}
}

func (t *statusTracker) observe(now time.Time, a *types.Alert, st types.AlertStatus) {
	fp := a.Fingerprint()
	t.mu.Lock()
	prev, known := t.last[fp]
	t.last[fp] = st
	t.mu.Unlock()
	if !known {
		prev = types.AlertStatus{State: types.AlertStateActive}
	}
	var events []history.Event
	if !slices.Equal(prev.SilencedBy, st.SilencedBy) {
		if len(st.SilencedBy) > 0 {
			e := event(now, a, history.StateSilenced)
			e.Detail = "silenced by " + strings.Join(st.SilencedBy, ",")
			events = append(events, e)
		} else if known {
			events = append(events, event(now, a, history.StateUnsilenced))
		}
	}
	if !slices.Equal(prev.InhibitedBy, st.InhibitedBy) {
		if len(st.InhibitedBy) > 0 {
			e := event(now, a, history.StateInhibited)
			e.Detail = "inhibited by " + strings.Join(st.InhibitedBy, ",")
			events = append(events, e)
		} else if known {
			events = append(events, event(now, a, history.StateUninhibited))
		}
	}
	if len(events) > 0 {
		t.h.Record(events...)
	}
}

// forget drops alerts no longer pending.
func (t *statusTracker) forget(seen map[model.Fingerprint]bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for fp := range t.last {
		if !seen[fp] {
			delete(t.last, fp)
		}
	}
}

// recording wraps a receiver's integrations so that each notification
// attempt is recorded per alert: notified, or notify_failed with the
// error. Retries, deduplication and the notification log stay
// Alertmanager's.
func (am *Alertmanager) recording(receiver string, ints []notify.Integration) []notify.Integration {
	if am.o.History == nil {
		return ints
	}
	out := make([]notify.Integration, len(ints))
	for i := range ints {
		in := ints[i]
		r := &recorder{in: &in, h: am.o.History, receiver: receiver + "/" + in.String()}
		out[i] = notify.NewIntegration(r, &in, in.Name(), in.Index(), receiver)
	}
	return out
}

type recorder struct {
	in       *notify.Integration
	h        Recorder
	receiver string
}

func (r *recorder) Notify(ctx context.Context, alerts ...*types.Alert) (bool, error) {
	retry, err := r.in.Notify(ctx, alerts...)
	now := time.Now()
	events := make([]history.Event, 0, len(alerts))
	for _, a := range alerts {
		e := event(now, a, history.StateNotified)
		e.Receiver = r.receiver
		e.Detail = string(a.Status())
		if err != nil {
			e.State = history.StateNotifyFailed
			e.Detail = err.Error()
		}
		events = append(events, e)
	}
	r.h.Record(events...)
	return retry, err
}
