package anomaly

import (
	"math"
	"testing"
)

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
		s, seen, _ := d.spike(dz)
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

// A likelihood member's score grows with how far its z exceeds the
// second-largest remembered event peak (eighth round).
func TestRecurGrade(t *testing.T) {
	for _, c := range []struct{ s, z, peak, want float64 }{
		{0.2, 10, 0, 0.2},                 // below the floor: unchanged
		{1, 6, 6, recurGradeFloor},        // only matches the peak
		{1, 2, 0, recurGradeFloor},        // under the event bar
		{1, 6 * recurGradeFull, 6, 1},     // full strength
		{0.6, 6 * recurGradeFull, 6, 0.6}, // never raised
		{1, 3 * recurGradeFull * 2, 0, 1}, // clamped
	} {
		if got := recurGrade(c.s, c.z, c.peak); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("recurGrade(%v, %v, %v) = %v, want %v", c.s, c.z, c.peak, got, c.want)
		}
	}
	// At the default threshold, a likelihood alerts from about 1.1 × the peak.
	thr := Config{}.Threshold()
	if recurGrade(1, 6*1.05, 6) >= thr || recurGrade(1, 6*1.15, 6) < thr {
		t.Errorf("graded likelihood crosses the default threshold outside 1.05–1.15 × the peak")
	}
}

// Inside the hold-off of a long burst, a spike far larger than the burst's
// is a second incident and alerts again (eighth round); the burst itself
// alerts once (TestLongBurstAlertsOnce).
func TestBigSpikeBreaksThroughHoldOff(t *testing.T) {
	const at, big = 4 * 288, 4*288 + 300
	pts := series{days: 6, season: "none", seed: 15}.points()
	for i := at; i < at+600; i += 25 {
		pts[i].V += 20
	}
	pts[big].V += 60
	var alerts []int
	for i, r := range run(New(Config{}), pts) {
		if r.Anomalous && i >= at {
			alerts = append(alerts, i)
		}
	}
	if len(alerts) != 2 || alerts[1] != big {
		t.Errorf("a burst with a 3× spike at %d alerted at %v, want its start and the spike", big, alerts)
	}
}
