package anomaly

import "math"

const (
	// likeAlpha is the forgetting rate of the raw-score Gaussian (a memory
	// of about 2,000 points), likeMinStd keeps a long run of zeros from
	// making the first non-zero raw score infinitely unlikely.
	likeAlpha  = 1.0 / 2000
	likeMinStd = 0.02
)

// likelihood turns a raw score into the log-scaled tail probability of the
// recent mean raw score under a Gaussian of past means (Numenta's anomaly
// likelihood): a detector that is often surprised stops alerting on
// routine surprises, and a quiet one alerts on its first cluster.
func (d *Detector) likelihood(raw float64) float64 {
	c := &d.c
	c.RecentSum += raw - float64(c.Recent[c.RecentPos])
	c.Recent[c.RecentPos] = float32(raw)
	c.RecentPos = (c.RecentPos + 1) % avgWin
	avg := c.RecentSum / avgWin
	std := max(math.Sqrt(c.LVar), likeMinStd)
	tail := 0.5 * math.Erfc((avg-c.LMean)/std/math.Sqrt2)
	c.LN++
	a := max(1/float64(c.LN), likeAlpha)
	dm := avg - c.LMean
	c.LMean += a * dm
	c.LVar = (1 - a) * (c.LVar + a*dm*dm)
	if c.LN < 2*avgWin {
		return 0
	}
	s := math.Log(tail+1e-10) / math.Log(1e-10)
	return min(max(s, 0), 1)
}
