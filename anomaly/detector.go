package anomaly

import (
	"math"
	"time"
)

// Result is what one observation produced.
type Result struct {
	// Score in [0,1]: the anomaly likelihood on a log scale (0.5 is a tail
	// probability of about 1e-5 for the recent raw scores).
	Score float64
	// Expected is the baseline for this time (level plus seasonal offset);
	// Lower and Upper bound the normal band around it.
	Expected, Lower, Upper float64
	// Anomalous is Score >= the threshold of the configured sensitivity.
	Anomalous bool
	// Warm is false until MinHistory and MinPoints are reached; a cold
	// detector never reports Anomalous.
	Warm bool
}

// Detector is one series' state. It is not safe for concurrent use; the
// caller owns it and feeds points in time order. Its memory is fixed at
// New (about 16 KiB, see TestStateSize) whatever the history length.
type Detector struct {
	cfg Config
	s   settings
	c   core
}

// New returns a cold detector. An invalid cfg panics: validate user
// configuration with Config.Validate first.
func New(cfg Config) *Detector {
	s, err := cfg.settings()
	if err != nil {
		panic("BUG: anomaly.New with invalid config: " + err.Error())
	}
	d := &Detector{cfg: cfg, s: s}
	return d
}

// Threshold is the score at which Observe reports Anomalous.
func (d *Detector) Threshold() float64 { return d.s.threshold }

// Season reports the seasonality in use: "none", "daily" or "weekly" (with
// Seasonality "auto" it is "none" until enough history decided it).
func (d *Detector) Season() string {
	switch d.c.Season {
	case seasonDaily:
		return "daily"
	case seasonWeekly:
		return "weekly"
	}
	return "none"
}

const (
	avgWin     = 10
	huberK     = 3.0
	levelAlpha = 0.01
	scaleAlpha = 0.005
	shiftRun   = 8
	bandZ      = 4.0
	// driftAlpha averages the clipped z over ~20 points; on noise that mean
	// has a standard deviation of 0.23, so driftFreeze is a 4-sigma event.
	driftAlpha  = 0.1
	driftFreeze = 1.0
	spikeZ      = 10.0
	// spikeBreak is how many times the largest recent spike (and the
	// second-largest remembered one, and spikeZ) a spike must be to alert
	// through the second half of a hold-off (eighth round): a spike that
	// dwarfs the burst that alerted is a new incident, where the spike
	// score alone, saturated at 1 inside bursts, cannot tell.
	spikeBreak = 2.0
	scaleFloor = 1e-3
	// familiarForget is the per-point decay of the largest recent spike
	// and shape distance (a memory of about 2,000 points); familiarAfter
	// is the number of points before they are learned, because the robust
	// scale of the first few hundred points is still settling and its
	// inflated z-scores would hide real spikes for thousands of points.
	familiarForget = 1.0 / 2000
	familiarAfter  = 300
	// holdRenew is the share of the threshold that keeps a hold-off
	// running: bursty series (NAB's tweet volumes) otherwise alert again
	// every HoldOffPoints within one long burst.
	holdRenew = 0.625
	// holdCap bounds the renewals at this many hold-offs after the alert:
	// an incident that stays high longer alerts again (a reminder), and a
	// second incident that begins inside a long first one is not hidden for
	// good (on NAB, a rise in spike density inside a burst was, until
	// renewals were bounded).
	holdCap = 5
	// likeRecurBar is the standardised recent mean raw score above which
	// the likelihood's recurrence memory counts an event.
	likeRecurBar = 3.0
)

// Observe feeds one point and scores it. NaN and infinite values are not
// learned from and score 0. Points at or before the previous timestamp are
// learned from as if they were next (collectors retry).
func (d *Detector) Observe(t time.Time, v float64) Result {
	c := &d.c
	if math.IsNaN(v) || math.IsInf(v, 0) {
		e := c.Level + d.offset(d.bins(t))
		return Result{Expected: e, Lower: e - bandZ*c.Scale, Upper: e + bandZ*c.Scale, Warm: d.warm(t)}
	}
	ns := t.UnixNano()
	if c.N == 0 {
		c.FirstNs = ns
	}
	c.LastNs = ns
	c.N++

	p := d.bins(t)
	season := c.Season
	d.trackHours(t, v)
	if c.Season != season {
		// z-scores under the new seasonal model are not comparable with
		// the events remembered under the old one.
		c.LikeRecur, c.SpikeRecur, c.ShapeRecur, c.StepRecur, c.ShiftRecur = recurGate{}, recurGate{}, recurGate{}, recurGate{}, recurGate{}
		for j := range c.Blk.S {
			c.Blk.S[j].Recur = recurGate{}
		}
	}
	off := d.offset(p)
	r := v - off

	if c.N == 1 {
		c.Level, c.Min, c.Max = r, v, v
	}
	// A series that sits still (a flat line between load-balancer flaps, a
	// quantised gauge) has a scale near 0, and every wobble becomes a huge
	// z-score. Below 0.1% of the level a change is resolution, not news.
	scale := max(c.Scale, 1e-9+scaleFloor*math.Abs(c.Level))
	expected := c.Level + off
	z := (r - c.Level) / scale
	var dz float64
	switch d.s.dir {
	case dirUp:
		dz = max(z, 0)
	case dirDown:
		dz = max(-z, 0)
	default:
		dz = math.Abs(z)
	}

	// Raw score: how far outside the robust band, plus a new extreme of
	// the whole history (what NAB's HTM entry calls a spatial anomaly).
	raw := min(max((dz-2.5)/4, 0), 1)
	if c.N > 1 && ((v > c.Max && d.s.dir != dirDown) || (v < c.Min && d.s.dir != dirUp)) {
		raw = 1
	}
	c.Min, c.Max = min(c.Min, v), max(c.Max, v)

	// A run of shiftRun points beyond the band on one side is a level
	// shift (or a drift the band kept up with): news in itself.
	// jump is the size of that shift in scales, as learn will re-baseline
	// it (the shift member scores it directly, change.go).
	jump := 0.0
	if d.pendingShift(z) {
		raw = 1
		run := c.Shift
		run[c.ShiftPos] = r
		jump = d.directed((median8(run) - c.Level) / scale)
	}
	like, likeZ := c.Like.likelihoodZ(raw)
	spike, spikeSeen, bigSpike := d.spike(dz)
	// What the hold-off sees is the score before the recurrence gates: an
	// incident whose bursts have all been seen before is still going on.
	ongoing := max(like, spikeSeen)
	like = c.LikeRecur.gateLikelihood(like, likeZ, c.LikeRecur.Second, c.N > familiarAfter)
	// Contextual novelty has its own likelihood: its raw scores run at a
	// different base rate, and mixing them into one raw score drowned the
	// band's signal on NAB (docs/anomaly.md).
	// The novelty counts as the mean of its last two likelihoods: one-point
	// crossings were mostly false positives (seventh round).
	nov := c.NovLike.likelihood(d.novelty(z))
	novm := (nov + c.NovPrev) / 2
	c.NovPrev = nov
	shape := d.shapeNovelty(z)
	// A jump that is large for this series from one point to the next,
	// and a confirmed level shift larger than the recent ones (change.go);
	// a sustained change of the median of the last 24 or 48 points that
	// stays inside the band (block.go), which scores 0 or 1 like the
	// shapes and shifts.
	stp, shf := d.step(r), d.levelShift(jump)
	blk := d.blockShift(r)
	score := max(fuse(like, spike, novm, shape, stp, shf), blk)
	ongoing = max(ongoing, score)
	d.learn(r, z, scale)
	d.learnSeason(p, v, scale)

	res := Result{Score: score, Expected: expected, Lower: expected - bandZ*scale, Upper: expected + bandZ*scale, Warm: d.warm(t)}
	switch {
	case !res.Warm:
		res.Score = 0
	case c.HoldLeft > 0 && c.HoldSince >= d.s.holdOff/2 && (shape >= d.s.threshold || (bigSpike && spike >= d.s.threshold)) &&
		(!d.s.bandGate || d.outside(v, res)):
		// A new shape, far from every remembered one, or a spike at least
		// spikeBreak times the largest of the recent past, half a hold-off
		// or more into an incident is a second incident: alert again.
		res.Anomalous = true
		c.HoldLeft, c.HoldSince = d.s.holdOff, 0
	case c.HoldLeft > 0:
		c.HoldLeft--
		c.HoldSince++
		if ongoing >= holdRenew*d.s.threshold && c.HoldSince < holdCap*d.s.holdOff {
			// Still well above normal: the same incident, so no second
			// alert when the hold-off would have run out mid-incident.
			c.HoldLeft = d.s.holdOff
		}
		res.Score = min(res.Score, d.s.threshold/2)
	case res.Score >= d.s.threshold && (!d.s.bandGate || d.outside(v, res)):
		res.Anomalous = true
		c.HoldLeft, c.HoldSince = d.s.holdOff, 0
	}
	if res.Anomalous && stp >= d.s.threshold && max(like, spike, novm, shape, shf, blk) < d.s.threshold {
		// The step member raised this alert alone: it now has to beat
		// every remembered event for a while (change.go, stepBudget).
		c.StepAlertN = c.N
	}
	return res
}

// spike scores a single huge departure directly, because the likelihood's
// recent window would average it away; but only one at least as large as
// the largest of the recent past (a memory of about 2,000 points). After a
// big burst, the smaller bursts of the following days are not news: on
// NAB this rule, unremembered, caused about two thirds of the false
// positives (tweet volumes, cloud metrics with recurring flaps). A routine spike of the same
// size as the last one still scores once the memory has decayed below it;
// the hold-off covers only those closer than HoldOffPoints, and the
// recurrence memory (recur.go) silences it when two spikes at least as
// large were seen in the last ~50,000 points. It returns the score, the
// score before that recurrence gate (for the hold-off), and whether dz is
// at least spikeBreak times the largest recent and remembered spikes.
func (d *Detector) spike(dz float64) (float64, float64, bool) {
	c := &d.c
	big := dz >= spikeBreak*max(c.SpikeMax, c.SpikeRecur.Second, spikeZ)
	s := min(max((dz-spikeZ)/4, 0), 1)
	if dz < c.SpikeMax {
		s = 0
	}
	seen := s
	if !c.SpikeRecur.pass(dz, spikeZ, recurForget, c.N > familiarAfter) {
		s = 0
	}
	c.SpikeMax *= 1 - familiarForget
	if c.N > familiarAfter {
		c.SpikeMax = max(c.SpikeMax, dz)
	}
	return s, seen, big
}

// outside reports whether v is beyond the band on the configured side.
func (d *Detector) outside(v float64, r Result) bool {
	switch d.s.dir {
	case dirUp:
		return v > r.Upper
	case dirDown:
		return v < r.Lower
	}
	return v > r.Upper || v < r.Lower
}

func (d *Detector) warm(t time.Time) bool {
	return d.c.N >= d.s.minPoints && t.UnixNano()-d.c.FirstNs >= int64(d.s.minHist)
}

// learn updates the Huber level and scale of the de-seasonalised value, and
// re-baselines at once after shiftRun consecutive far points on one side:
// a level shift is reported, then becomes the new normal.
func (d *Detector) learn(r, z, scale float64) {
	c := &d.c
	a := max(1/float64(c.N), levelAlpha)
	zc := min(max(z, -huberK), huberK)
	c.Level += a * zc * scale
	dev := math.Abs(z) * scale
	as := max(1/float64(c.N), scaleAlpha)
	c.Drift += driftAlpha * (zc - c.Drift)
	switch {
	case c.N <= 2:
		c.Scale = dev
	case math.Abs(c.Drift) > driftFreeze:
		// The departures are one-sided: a drift or shift, not noise. Letting
		// them widen the band would hide the very change being reported.
	default:
		c.Scale += as * (min(dev, huberK*scale)/0.8 - c.Scale)
	}
	c.Shift[c.ShiftPos] = r
	c.ShiftPos = (c.ShiftPos + 1) % shiftRun
	if z > huberK {
		c.ShiftUp++
		c.ShiftDown = 0
	} else if z < -huberK {
		c.ShiftDown++
		c.ShiftUp = 0
	} else {
		c.ShiftUp, c.ShiftDown = 0, 0
	}
	if c.ShiftUp >= shiftRun || c.ShiftDown >= shiftRun {
		c.Level = median8(c.Shift)
		c.ShiftUp, c.ShiftDown = 0, 0
	}
}

// pendingShift reports whether z completes a run that learn will
// re-baseline on.
func (d *Detector) pendingShift(z float64) bool {
	c := &d.c
	switch {
	case z > huberK && d.s.dir != dirDown:
		return c.ShiftUp+1 >= shiftRun
	case z < -huberK && d.s.dir != dirUp:
		return c.ShiftDown+1 >= shiftRun
	}
	return false
}

func median8(a [shiftRun]float64) float64 {
	b := a
	for i := 1; i < len(b); i++ {
		for j := i; j > 0 && b[j] < b[j-1]; j-- {
			b[j], b[j-1] = b[j-1], b[j]
		}
	}
	return (b[3] + b[4]) / 2
}
