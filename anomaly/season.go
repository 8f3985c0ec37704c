package anomaly

import (
	"math"
	"time"
)

// hourCap hourly means (21 days) are enough to see three weekly cycles
// at 2 KiB per series; seasonality is decided on them, never on raw points.
const hourCap = 504

// minSeasonHours is the history a daily season is decided on: two cycles,
// so a one-off day does not make a season (three cycles delayed NAB's
// two-week daily series by a day and cost 0.6 points).
const minSeasonHours = 48

// Profile resolution: 15-minute bins for the day and 30-minute bins for
// the week follow both smooth curves and business-hours steps closely
// enough (a steep daily sine moves well under one noise sigma within a
// bin) at 5 KiB per series.
const (
	dayBins  = 96
	weekBins = 336
)

// pos is where a time falls in the seasonal profiles.
type pos struct{ week, day int }

// bins places t in the profiles, in the configured zone.
func (d *Detector) bins(t time.Time) pos {
	lt := t.In(d.s.loc)
	m := lt.Hour()*60 + lt.Minute()
	return pos{week: int(lt.Weekday())*48 + m/30, day: m / 15}
}

// offset is the seasonal part of the expected value: the profile bin minus
// the mean of the bins seen, so the level carries the rest and a level
// shift does not need a whole season to be re-learned. A bin seen fewer
// than twice contributes nothing yet.
func (d *Detector) offset(p pos) float64 {
	c := &d.c
	switch c.Season {
	case seasonWeekly:
		if c.WeekN[p.week] >= 2 {
			return c.Week[p.week] - c.WeekSum/float64(c.WeekFilled)
		}
	case seasonDaily:
		if c.DayN[p.day] >= 2 {
			return c.Day[p.day] - c.DaySum/float64(c.DayFilled)
		}
	}
	return 0
}

// learnSeason moves both profiles toward v. Once a bin has history the
// update is winsorised to its band, so outliers in the training window do
// not bend the baseline.
func (d *Detector) learnSeason(p pos, v, scale float64) {
	c := &d.c
	learnBin(&c.Week[p.week], &c.WeekN[p.week], &c.WeekSum, &c.WeekFilled, v, scale)
	learnBin(&c.Day[p.day], &c.DayN[p.day], &c.DaySum, &c.DayFilled, v, scale)
}

func learnBin(p *float64, n *uint32, sum *float64, filled *int32, v, scale float64) {
	if *n == 0 {
		*filled++
	} else if *n > 24 {
		v = min(max(v, *p-huberK*scale), *p+huberK*scale)
	} else if *n > 2 {
		// A young bin is clipped more loosely, but clipped: an outlier
		// among its first points would otherwise stay in the profile for
		// days and widen the band (TestOutliersInTrainingWindow).
		v = min(max(v, *p-2*huberK*scale), *p+2*huberK*scale)
	}
	if *n < math.MaxUint32 {
		*n++
	}
	delta := max(1/float64(*n), 0.02) * (v - *p)
	*p += delta
	*sum += delta
}

// trackHours keeps the hourly means that seasonality is detected on, and
// re-decides it whenever an hour completes.
func (d *Detector) trackHours(t time.Time, v float64) {
	c := &d.c
	_, off := t.In(d.s.loc).Zone()
	h := (t.Unix() + int64(off)) / 3600
	if c.HourCnt == 0 {
		c.CurHour, c.HourSum, c.HourCnt = h, v, 1
		return
	}
	if h == c.CurHour {
		c.HourSum += v
		c.HourCnt++
		return
	}
	if h < c.CurHour {
		return
	}
	mean := c.HourSum / float64(c.HourCnt)
	// Missing hours carry the last mean forward: a gap should not look like
	// a cycle. Long gaps are bounded by the buffer length.
	for i := int64(0); i < min(h-c.CurHour, hourCap); i++ {
		c.HourBuf[c.HourPos] = float32(mean)
		c.HourPos = (c.HourPos + 1) % hourCap
		c.HourLen = min(c.HourLen+1, hourCap)
	}
	c.CurHour, c.HourSum, c.HourCnt = h, v, 1
	d.decideSeason()
}

func (d *Detector) decideSeason() {
	c := &d.c
	switch d.s.season {
	case seasonNone:
		c.Season = seasonNone
		return
	case seasonDaily:
		c.Season = seasonDaily
		return
	case seasonWeekly:
		c.Season = seasonWeekly
		return
	}
	// Only re-decide every 6 hours: the autocorrelation costs a pass over
	// the buffer.
	if c.HourLen < minSeasonHours || c.CurHour%6 != 0 {
		return
	}
	c.Season = detectSeason(d.hours())
}

// hours returns the hourly means, oldest first (allocates; called rarely).
func (d *Detector) hours() []float64 {
	c := &d.c
	out := make([]float64, 0, c.HourLen)
	start := (int(c.HourPos) - int(c.HourLen) + hourCap) % hourCap
	for i := 0; i < int(c.HourLen); i++ {
		out = append(out, float64(c.HourBuf[(start+i)%hourCap]))
	}
	return out
}

// detectSeason picks the season whose lag explains the hourly series:
// autocorrelation of the first differences (so trends do not count) at
// 24h and 168h. Weekly needs two weeks and must beat daily clearly,
// since a weekly pattern with daily swings also correlates at 24h.
func detectSeason(x []float64) int32 {
	if len(x) < minSeasonHours {
		return seasonNone
	}
	dx := make([]float64, len(x)-1)
	for i := range dx {
		dx[i] = x[i+1] - x[i]
	}
	a24 := acf(dx, 24)
	a168 := math.Inf(-1)
	if len(x) >= 2*168 {
		a168 = acf(dx, 168)
	}
	switch {
	case a168 > 0.3 && a168 > a24+0.1:
		return seasonWeekly
	case a24 > 0.3:
		return seasonDaily
	}
	return seasonNone
}

func acf(x []float64, lag int) float64 {
	var m float64
	for _, v := range x {
		m += v
	}
	m /= float64(len(x))
	var num, den float64
	for i, v := range x {
		den += (v - m) * (v - m)
		if i >= lag {
			num += (v - m) * (x[i-lag] - m)
		}
	}
	if den == 0 || len(x) <= lag {
		return 0
	}
	// Per-pair means, so long lags (fewer pairs) are not biased toward 0.
	return (num / float64(len(x)-lag)) / (den / float64(len(x)))
}
