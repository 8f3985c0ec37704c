package anomaly

import "testing"

func TestRecurGate(t *testing.T) {
	var g recurGate
	event := func(peak float64) bool {
		ok := g.pass(peak, 1, 0, true)
		g.pass(0, 1, 0, true) // the event ends
		return ok
	}
	if !event(10) || !event(5) {
		t.Fatal("the first two events must pass")
	}
	if event(4.9) {
		t.Error("an event smaller than the second-largest passed")
	}
	if !event(8) {
		t.Error("an event larger than the second-largest did not pass")
	}
	// The largest remembered event (10) alone does not silence one of 9:
	// that is the second event of its size, not a routine one.
	if !event(9) {
		t.Error("an event between the two largest did not pass")
	}
	if event(8.5) {
		t.Error("an event below the two largest (10, 9) passed")
	}
	var l recurGate
	l.pass(10, 1, 0, false)
	l.pass(0, 1, 0, false)
	if l.First != 0 || l.Second != 0 {
		t.Error("an event was learned with learn unset")
	}
}

// Spikes 3,000 points apart outlast the spike maximum's memory (about
// 2,000 points), so each used to score. After two, a smaller one does not
// (the hold-off still sees it); a larger one does.
func TestRecurringSpikesAreRoutine(t *testing.T) {
	d := New(Config{Seasonality: "none"})
	d.c.N = familiarAfter + 1
	feed := func(dz float64) (float64, float64) {
		s, seen := d.spike(dz)
		for range 3000 {
			d.spike(0)
		}
		return s, seen
	}
	for _, dz := range []float64{30, 28} {
		if s, _ := feed(dz); s != 1 {
			t.Errorf("spike of %v among the first two scored %v, want 1", dz, s)
		}
	}
	if s, seen := feed(25); s != 0 || seen != 1 {
		t.Errorf("a smaller third spike scored %v (%v before the recurrence gate), want 0 (1)", s, seen)
	}
	if s, _ := feed(32); s != 1 {
		t.Errorf("a spike larger than the recurring ones scored %v, want 1", s)
	}
}
