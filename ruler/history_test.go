package ruler

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/vigilhq/vigil/alert/history"
)

type recorded struct {
	mu     sync.Mutex
	events []history.Event
}

func (r *recorded) Record(es ...history.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, es...)
}

// take returns the states recorded since the last call, as
// "state<-previous@step" for the world's steps.
func (r *recorded) take(w *world) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		s := e.State
		if e.Previous != "" {
			s += "<-" + e.Previous
		}
		out = append(out, s+"@"+w.rel(e.Time))
		if e.AlertName != "QueueStuck" || e.Labels["severity"] != "page" || e.Fingerprint == "" || e.Source != "rules" {
			w.t.Errorf("event %+v lacks the alert's identity", e)
		}
	}
	r.events = nil
	return strings.Join(out, " ")
}

// The history tracker records each transition once, timed when it
// happened: pending when the condition first held, firing when `for`
// elapsed, resolved at the resolve time, and inactive for a pending alert
// whose condition stopped.
func TestHistoryRecordsTransitions(t *testing.T) {
	w := newWorld(t, "testdata/spec_for.yml")
	rec := &recorded{}
	tr := newTracker(rec)
	step := func(i int, v float64) {
		w.set(i, v, "__name__", "queue_depth")
		w.now = w.at(i)
		tr.iteration(context.Background(), w.g, w.now)
	}
	step(0, 20)
	check(t, "first evaluation", rec.take(w), "pending@"+w.rel(w.at(0)))
	step(1, 20)
	step(2, 20)
	check(t, "still pending", rec.take(w), "")
	step(3, 20)
	check(t, "for elapsed", rec.take(w), "firing<-pending@"+w.rel(w.at(3)))
	step(4, 20)
	check(t, "still firing", rec.take(w), "")
	step(5, 5)
	check(t, "condition stopped", rec.take(w), "resolved<-firing@"+w.rel(w.at(5)))
	step(6, 5)
	check(t, "resolved stays quiet", rec.take(w), "")
	step(7, 20)
	// The resolved alert is still kept (for its resolved re-sends), so
	// the new one follows an inactive one.
	check(t, "pending again", rec.take(w), "pending<-inactive@"+w.rel(w.at(7)))
	step(8, 5)
	check(t, "pending cleared", rec.take(w), "inactive<-pending@"+w.rel(w.at(8)))
}
