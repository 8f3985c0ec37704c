package anomaly

// Fusion of the members (docs/anomaly.md). The score is the largest member
// score, but the max of several members alerts about as often as all of
// them together, and on NAB each member's false alerts sit at the same
// scores as its true ones. What does separate them is whether any other
// member sees something at the same point: a likelihood member (the band's
// likelihood, the contextual novelty, the step member) that is the only
// member above corroBar is read as the smallest of three p-values and pays
// a Bonferroni correction for it: its tail probability times 3, which on
// the score's log scale (log(tail)/log(1e-10)) is aloneCost = log10(3)/10
// less. Corroborated by another member, it keeps its score. The remembered
// spikes, new shapes and level shifts score 0 or 1 and have no tail
// probability to correct; they already pass a recent maximum and the
// recurrence memory.
const (
	corroBar  = 0.1
	aloneCost = 0.0477 // log10(3)/10
)

// fuse combines the member scores into the point's score.
func fuse(like, spike, nov, shape, step, shift float64) float64 {
	l, n, s := like, nov, step
	if max(spike, nov, shape, step, shift) < corroBar {
		l = alone(like)
	}
	if max(like, spike, shape, step, shift) < corroBar {
		n = alone(nov)
	}
	if max(like, spike, nov, shape, shift) < corroBar {
		s = alone(step)
	}
	return max(l, spike, n, shape, s, shift)
}

// alone is a likelihood member's score with the Bonferroni correction for
// being the smallest of three p-values.
func alone(s float64) float64 { return max(s-aloneCost, 0) }
