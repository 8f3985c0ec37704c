package anomaly

import (
	"math/rand/v2"
	"testing"
)

// A rhythm seen a few times stops being news; the same levels in a new
// order are news again.
func TestNoveltyLearnsRhythm(t *testing.T) {
	d := New(Config{})
	feed := func(pattern []float64, cycles int) (last []float64) {
		for range cycles {
			last = last[:0]
			for _, z := range pattern {
				last = append(last, d.novelty(z))
			}
		}
		return last
	}
	mean := func(x []float64) float64 {
		var s float64
		for _, v := range x {
			s += v
		}
		return s / float64(len(x))
	}
	// Two of its 36 contexts may share a slot and evict each other (the
	// table is direct-mapped), so a known rhythm scores near 0, not 0.
	if m := mean(feed([]float64{0, 3, -3, 0, 5, 5}, 5)); m > 0.1 {
		t.Errorf("a rhythm seen 5 times: mean novelty %v, want <= 0.1", m)
	}
	if m := mean(feed([]float64{5, 0, -3, 5, 3, 0}, 1)); m < 0.5 {
		t.Errorf("the same levels in a new order: mean novelty %v, want >= 0.5", m)
	}
}

// Noise that turns wilder while mostly staying inside the ±4 scale band
// (little for the band's raw score) keeps completing unseen contexts, and
// the member's likelihood alone crosses the default threshold.
func TestNoveltyScoresNewRegime(t *testing.T) {
	const at = 3000
	d := New(Config{})
	rng := rand.New(rand.NewPCG(16, 7))
	first := -1
	for i := range at + 300 {
		z := rng.NormFloat64()
		if i >= at {
			z *= 2
		}
		s := d.c.NovLike.likelihood(d.novelty(z))
		switch {
		case i >= 500 && i < at && s >= d.Threshold():
			t.Fatalf("novelty score %v at point %d, before the change", s, i)
		case i >= at && first < 0 && s >= d.Threshold():
			first = i - at
		}
	}
	if first < 0 || first > 50 {
		t.Errorf("wider noise: novelty crossed the threshold %d points after the change, want within 50", first)
	}
	t.Logf("crossed %d points after the change", first)
}
