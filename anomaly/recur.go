package anomaly

import "math"

// Recurrence memory: a member's event is news only if it is at least as
// large as the second-largest event of the recent past. One big incident
// sets the largest and does not silence the next one of its size; an event
// the series has produced twice lately is routine (NAB's tweet volumes and
// cloud metrics burst the same way every few days, and those bursts were
// most of the false positives). The peaks are remembered for about
// recurForget⁻¹ points (longer than any NAB series), and are forgotten
// when the seasonality decision changes, because the z-scores of the old
// model (a weekday step before the weekly profile exists) are not
// comparable with the new ones.
const recurForget = 1.0 / 50000

// Graded recurrence (eighth round): a likelihood member (the band's and
// the step member's, whose statistic is the likelihood's z) scores in
// proportion to how far its z exceeds the second-largest remembered event
// peak (or the event bar, likeRecurBar, while none is remembered), on a
// log scale: at most recurGradeFloor when it only matches that peak,
// rising to full strength at recurGradeFull times the peak. The pass gate
// alone was all or nothing: a burst that only just out-did the second
// largest recent one scored like a new kind of incident. With the default
// threshold (0.48) a likelihood alerts from about 1.1 times the peak. The
// floor equals the hold-off's renewal bar (holdRenew × threshold): a step
// burst as large as the routine ones keeps a running hold-off going, as
// the band likelihood does (it renews on its score before the gates).
const (
	recurGradeFloor = 0.3
	recurGradeFull  = 1.5
)

// recurGrade caps a likelihood member's score s by how far its z exceeds
// the remembered peak (see recurGradeFloor).
func recurGrade(s, z, peak float64) float64 {
	if s <= recurGradeFloor {
		return s
	}
	h := math.Log(z/max(peak, likeRecurBar)) / math.Log(recurGradeFull)
	return min(s, recurGradeFloor+(1-recurGradeFloor)*min(max(h, 0), 1))
}

// gateLikelihood is the recurrence gate of a likelihood member (the band's,
// the step member's) whose statistic is its likelihood's z: the score s
// graded against the second-largest remembered peak, and 0 unless z
// reaches ref (that peak, or the largest one during the step budget).
func (g *recurGate) gateLikelihood(s, z, ref float64, learn bool) float64 {
	s = recurGrade(s, z, g.Second)
	if !g.passOver(ref, z, likeRecurBar, recurForget, learn) {
		return 0
	}
	return s
}

// recurGate remembers the peaks of the two largest recent events of one
// statistic; an event is a run of points with the statistic above a bar.
type recurGate struct {
	Peak, First, Second float64
}

// pass reports whether x reaches the second-largest remembered event peak,
// then decays the memory by forget and learns x (when learn is set: not
// while the scale is still settling).
func (g *recurGate) pass(x, bar, forget float64, learn bool) bool {
	return g.passOver(g.Second, x, bar, forget, learn)
}

// passOver is pass with x compared against ref instead of the
// second-largest peak (the largest one, for the step budget).
func (g *recurGate) passOver(ref, x, bar, forget float64, learn bool) bool {
	ok := x >= ref
	g.First *= 1 - forget
	g.Second *= 1 - forget
	switch {
	case x > bar:
		g.Peak = max(g.Peak, x)
	case g.Peak > 0:
		if learn {
			if p := g.Peak; p > g.First {
				g.First, g.Second = p, g.First
			} else if p > g.Second {
				g.Second = p
			}
		}
		g.Peak = 0
	}
	return ok
}
