package ruler

import (
	"context"
	"github.com/prometheus/common/model"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/rules"

	"github.com/vigilhq/vigil/alert/history"
)

// Recorder receives the alert history events of rule evaluations.
type Recorder interface {
	Record(events ...history.Event)
}

// tracker records each alert's pending, firing, resolved and inactive
// transitions after every group evaluation. The rule manager keeps only
// the current state; the history is the sequence of these transitions.
type tracker struct {
	h  Recorder
	mu sync.Mutex
	// last maps group key → alert key (rule name and label hash) → state.
	last map[string]map[alertKey]seen
}

type seen struct {
	state rules.AlertState
	event history.Event // the last one, for its labels
}

type alertKey struct {
	rule string
	hash uint64
}

func newTracker(h Recorder) *tracker {
	return &tracker{h: h, last: make(map[string]map[alertKey]seen)}
}

// iteration evaluates a group as Prometheus does, then records what
// changed.
func (t *tracker) iteration(ctx context.Context, g *rules.Group, ts time.Time) {
	rules.DefaultEvalIterationFunc(ctx, g, ts)
	gk := rules.GroupKey(g.File(), g.Name())
	cur := make(map[alertKey]seen)
	var events []history.Event
	t.mu.Lock()
	prev := t.last[gk]
	for _, r := range g.AlertingRules() {
		// ActiveAlerts leaves out the resolved ones, which are what a
		// resolved event needs.
		var alerts []*rules.Alert
		r.ForEachActiveAlert(func(a *rules.Alert) {
			c := *a
			alerts = append(alerts, &c)
		})
		for _, a := range alerts {
			k := alertKey{r.Name(), a.Labels.Hash()}
			p, known := prev[k]
			was := p.state
			if known && was == a.State {
				cur[k] = p
				continue
			}
			state, at := a.State.String(), ts
			switch {
			case a.State == rules.StateInactive && !known:
				continue // resolved before this tracker saw it (a restart)
			case a.State == rules.StateInactive:
				state, at = "resolved", a.ResolvedAt
			case a.State == rules.StateFiring && !a.FiredAt.IsZero():
				at = a.FiredAt
			case a.State == rules.StatePending:
				at = a.ActiveAt
			}
			e := alertEvent(at, a, state, was, known)
			cur[k] = seen{a.State, e}
			events = append(events, e)
		}
	}
	// A pending alert whose condition stopped disappears without a
	// resolved state: record that it went back to inactive.
	for k, p := range prev {
		if _, ok := cur[k]; !ok && p.state == rules.StatePending {
			e := p.event
			e.Time, e.State, e.Previous, e.Value = ts, "inactive", "pending", nil
			events = append(events, e)
		}
	}
	t.last[gk] = cur
	t.mu.Unlock()
	if len(events) > 0 {
		t.h.Record(events...)
	}
}

func alertEvent(at time.Time, a *rules.Alert, state string, was rules.AlertState, known bool) history.Event {
	ls := make(map[string]string, a.Labels.Len())
	a.Labels.Range(func(l labels.Label) { ls[l.Name] = l.Value })
	v := a.Value
	e := history.Event{
		Time:        at,
		Fingerprint: fingerprint(a.Labels),
		AlertName:   a.Labels.Get(labels.AlertName),
		Labels:      ls,
		State:       state,
		Value:       &v,
		Source:      "rules",
	}
	if known {
		e.Previous = was.String()
	}
	return e
}

// fingerprint is Alertmanager's fingerprint of the label set, so rule
// and Alertmanager events of one alert share it.
func fingerprint(ls labels.Labels) string {
	m := make(model.LabelSet, ls.Len())
	ls.Range(func(l labels.Label) { m[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
	return m.Fingerprint().String()
}
