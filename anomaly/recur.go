package anomaly

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

// recurGate remembers the peaks of the two largest recent events of one
// statistic; an event is a run of points with the statistic above a bar.
type recurGate struct {
	Peak, First, Second float64
}

// pass reports whether x reaches the second-largest remembered event peak,
// then decays the memory by forget and learns x (when learn is set: not
// while the scale is still settling).
func (g *recurGate) pass(x, bar, forget float64, learn bool) bool {
	ok := x >= g.Second
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
