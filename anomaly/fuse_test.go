package anomaly

import (
	"math"
	"testing"
)

// A likelihood member that is the only one above corroBar pays the
// Bonferroni correction; corroborated, or a 0/1 member, it does not.
func TestFuse(t *testing.T) {
	for _, c := range []struct {
		name                                 string
		like, spike, nov, shape, step, shift float64
		want                                 float64
	}{
		{"likelihood alone", 0.6, 0, 0, 0, 0, 0, 0.6 - aloneCost},
		{"novelty alone", 0, 0, 0.6, 0, 0.05, 0, 0.6 - aloneCost},
		{"step alone", 0, 0, 0, 0, 0.6, 0, 0.6 - aloneCost},
		{"alone, never below 0", 0.01, 0, 0, 0, 0, 0, 0},
		{"likelihood with the novelty", 0.6, 0, 0.1, 0, 0, 0, 0.6},
		{"novelty with a shape", 0, 0, 0.6, 1, 0, 0, 1},
		{"novelty with the step member", 0, 0, 0.6, 0, 0.2, 0, 0.6},
		{"both corroborate each other", 0.5, 0, 0.55, 0, 0, 0, 0.55},
		{"spike alone is not corrected", 0, 1, 0, 0, 0, 0, 1},
		{"shape alone is not corrected", 0, 0, 0, 1, 0, 0, 1},
		{"shift alone is not corrected", 0, 0, 0, 0, 0, 0.7, 0.7},
		{"nothing", 0, 0, 0, 0, 0, 0, 0},
	} {
		got := fuse(c.like, c.spike, c.nov, c.shape, c.step, c.shift)
		if math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: fuse = %v, want %v", c.name, got, c.want)
		}
	}
	// The correction is a tail probability × 3 on the score's log scale.
	if math.Abs(aloneCost-math.Log10(3)/10) > 1e-4 {
		t.Errorf("aloneCost = %v, want log10(3)/10", aloneCost)
	}
	// At the default threshold a lone likelihood just above it no longer alerts.
	thr := Config{}.Threshold()
	if fuse(thr+0.01, 0, 0, 0, 0, 0) >= thr || fuse(thr+0.01, 0, 0.2, 0, 0, 0) < thr {
		t.Error("the correction does not move a lone likelihood just above the threshold below it")
	}
}
