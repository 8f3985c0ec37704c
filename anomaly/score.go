package anomaly

import "math"

const (
	// likeAlpha is the forgetting rate of the raw-score Gaussian (a memory
	// of about 2,000 points), likeMinStd keeps a long run of zeros from
	// making the first non-zero raw score infinitely unlikely.
	likeAlpha  = 1.0 / 2000
	likeMinStd = 0.02
)

// likeState is the memory of one raw-score stream's likelihood.
type likeState struct {
	Recent      [avgWin]float32
	RecentPos   int32
	RecentSum   float64
	LMean, LVar float64
	LN          int64
}

// likelihood turns a raw score into the log-scaled tail probability of the
// recent mean raw score under a Gaussian of past means (Numenta's anomaly
// likelihood): a detector that is often surprised stops alerting on
// routine surprises, and a quiet one alerts on its first cluster.
func (l *likeState) likelihood(raw float64) float64 {
	s, _ := l.likelihoodZ(raw)
	return s
}

// likelihoodZ is likelihood that also returns the standardised recent mean
// (before it is learned), which does not saturate as the score does.
func (l *likeState) likelihoodZ(raw float64) (float64, float64) {
	return l.likelihoodFloor(raw, likeMinStd)
}

// likelihoodFloor is likelihoodZ with σ floored at minStd instead of
// likeMinStd.
func (l *likeState) likelihoodFloor(raw, minStd float64) (float64, float64) {
	l.RecentSum += raw - float64(l.Recent[l.RecentPos])
	l.Recent[l.RecentPos] = float32(raw)
	l.RecentPos = (l.RecentPos + 1) % avgWin
	avg := l.RecentSum / avgWin
	std := max(math.Sqrt(l.LVar), minStd)
	z := (avg - l.LMean) / std
	tail := 0.5 * math.Erfc(z/math.Sqrt2)
	l.LN++
	a := max(1/float64(l.LN), likeAlpha)
	dm := avg - l.LMean
	l.LMean += a * dm
	l.LVar = (1 - a) * (l.LVar + a*dm*dm)
	if l.LN < 2*avgWin {
		return 0, z
	}
	s := math.Log(tail+1e-10) / math.Log(1e-10)
	return min(max(s, 0), 1), z
}
