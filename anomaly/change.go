package anomaly

import "math"

// Two members for changes the band's likelihood reports late or not at
// all (sixth round, docs/anomaly.md).
//
// The step member scores the first difference of the de-seasonalised
// value against its own robust scale. On a smooth series (temperatures,
// traffic, a CPU that wanders slowly) the band is wide, because the level
// lags the wander, while successive points move little: a series that
// starts to jump or flap inside its band is far outside what it does from
// one point to the next (TestJumpsInsideTheBand). With its σ floor
// (stepMinStd) one jump alone is not enough; two or three within the
// likelihood's 10 points are. The scaled difference becomes a raw score
// like the band's (clamp((|Δ|/scale − stepBar)/stepDiv)) and runs through
// its own likelihood, since its base rate differs from the band's, behind the
// recurrence memory of recur.go on that likelihood's z (a series that
// jumps like this twice lately is routine; without it NAB's bursty series
// alerted on the edges of every burst).
//
// The shift member scores a confirmed level shift (shiftRun points beyond
// the band on one side, which learn then re-baselines) directly, by its
// size in scales, when it is at least shiftMargin × the largest shift of
// the recent past and reaches the second-largest remembered one. Through
// the band's likelihood alone, a single completed run is one raw score of
// 1 in a 10-point mean and often too little to alert.
const (
	stepBar = 3.0
	stepDiv = 4.0
	// stepMinStd floors the σ of the step likelihood higher than the
	// band's (likeMinStd): on a quiet series one outlier is two large
	// differences (in and out), and with the band's floor those alone
	// reached a score of 1 where the band's likelihood stays below the
	// threshold (a 3σ point in business hours, watch/quiet_test.go).
	stepMinStd = 0.05

	shiftMargin = 1.6

	// stepBudget is how long, in points, the step member needs a record
	// after an alert it raised alone: its likelihood's z must then reach
	// the largest remembered event, not the second. On bursty series
	// (NAB's tweet volumes) a burst that the spike memory calls routine
	// still makes two or three large differences in and out, and the step
	// member kept alerting on every few of them.
	stepBudget = 4000
)

// stepState is the step member's memory.
type stepState struct {
	Prev, Scale float64
	Like        likeState
}

// step scores r's difference from the previous de-seasonalised value,
// then learns its scale.
func (d *Detector) step(r float64) float64 {
	c := &d.c
	st := &c.Step
	if c.N == 1 {
		st.Prev = r
		return 0
	}
	dr := r - st.Prev
	st.Prev = r
	scale := max(st.Scale, 1e-9+scaleFloor*math.Abs(c.Level))
	zd := d.directed(dr / scale)
	a := max(1/float64(c.N), scaleAlpha)
	st.Scale += a * (min(math.Abs(dr), huberK*scale)/0.8 - st.Scale)
	raw := min(max((zd-stepBar)/stepDiv, 0), 1)
	s, lz := st.Like.likelihoodFloor(raw, stepMinStd)
	return c.StepRecur.gateLikelihood(s, lz, c.stepRef(), c.N > familiarAfter)
}

// stepRef is the remembered event peak the step member's likelihood must
// reach: the largest for stepBudget points after an alert it raised
// alone, else the second largest.
func (c *core) stepRef() float64 {
	if c.StepAlertN > 0 && c.N-c.StepAlertN < stepBudget {
		return c.StepRecur.First
	}
	return c.StepRecur.Second
}

// levelShift scores a level shift of jump scales that learn is about to
// re-baseline (0 when there is none).
func (d *Detector) levelShift(jump float64) float64 {
	c := &d.c
	score := 0.0
	if jump > 0 && jump >= shiftMargin*c.ShiftMax {
		score = 1
	}
	if !c.ShiftRecur.pass(jump, 0, recurForget, c.N > familiarAfter) {
		score = 0
	}
	c.ShiftMax *= 1 - familiarForget
	if c.N > familiarAfter {
		c.ShiftMax = max(c.ShiftMax, jump)
	}
	return score
}

// directed is the size of a signed departure on the configured side.
func (d *Detector) directed(x float64) float64 {
	switch d.s.dir {
	case dirUp:
		return max(x, 0)
	case dirDown:
		return max(-x, 0)
	}
	return math.Abs(x)
}
