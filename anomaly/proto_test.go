package anomaly

import (
	"math"
	"math/rand/v2"
	"testing"
)

// A shape the series keeps producing stops scoring; a stretch unlike any
// remembered shape scores within two windows, even though every point of it
// stays inside the ±4 scale band.
func TestShapeMemoryLearnsAndReports(t *testing.T) {
	const (
		period = 96 // one window of protoLen values of protoStep points
		at     = 40 * period
		window = protoLen * protoStep
	)
	d := New(Config{})
	rng := rand.New(rand.NewPCG(21, 7))
	z := func(i int) float64 {
		base := 2 * math.Sin(2*math.Pi*float64(i)/period)
		if i >= at {
			base = 3 // the wave stops and the series sits high
		}
		return base + 0.3*rng.NormFloat64()
	}
	first := -1
	for i := range at + 4*window {
		d.c.N++ // shapeNovelty learns maxima only once familiarAfter points were seen
		s := d.shapeNovelty(z(i))
		switch {
		case i >= 20*period && i < at && s > 0:
			t.Fatalf("shape scored at point %d, in the learnt rhythm", i)
		case i >= at && first < 0 && s > 0:
			first = i - at
		}
	}
	if first < 0 || first > 2*window {
		t.Errorf("new shape: first score %d points after the change, want within %d", first, 2*window)
	}
	if got := d.c.Proto.Count; got > protoSlots || got == 0 {
		t.Errorf("%d prototypes, want 1..%d", got, protoSlots)
	}
	t.Logf("scored %d points after the change; %d prototypes", first, d.c.Proto.Count)
}

// When every slot is taken the least recently used prototype is replaced,
// so the newest shape is always remembered exactly.
func TestShapeMemoryReplacesLeastRecentlyUsed(t *testing.T) {
	var p protoState
	for i := range protoSlots + 5 {
		var w [protoLen]float32
		for k := range w {
			w[k] = float32(i * 10) // far apart: each is a new prototype
		}
		p.Steps++
		best, dist := p.nearest(&w)
		p.learn(best, dist, &w)
		if _, dist := p.nearest(&w); dist != 0 {
			t.Fatalf("shape %d not remembered right after learning (distance %v)", i, dist)
		}
	}
	if p.Count != protoSlots {
		t.Errorf("%d prototypes, want the cap %d", p.Count, protoSlots)
	}
	var oldest [protoLen]float32 // shape 0, the first one replaced
	if _, dist := p.nearest(&oldest); dist < 10 {
		t.Errorf("the oldest shape is still remembered (distance %v), want it replaced", dist)
	}
}
