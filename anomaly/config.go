package anomaly

import (
	"fmt"
	"time"
)

// Config is one series' detector configuration. The zero value is usable:
// automatic seasonality in UTC, both directions, default sensitivity.
type Config struct {
	// Seasonality is "auto" (default), "none", "daily" or "weekly".
	Seasonality string
	// Location is the zone whose days and weeks the seasons follow
	// (business hours in Europe/Berlin are not UTC hours). Nil means UTC.
	Location *time.Location
	// Sensitivity in (0,1]; higher alerts on smaller departures. 0 means 0.5.
	Sensitivity float64
	// Direction is "both" (default), "up" or "down": departures the other
	// way still move the band but never score.
	Direction string
	// MinHistory and MinPoints must both be reached before any score can
	// cross the alert threshold, so a cold start never pages anyone.
	// Zero means 72h (what automatic seasonality needs to see a daily
	// cycle) and 100 points.
	MinHistory time.Duration
	MinPoints  int
	// HoldOffPoints caps scores below the threshold for this many points
	// after an alerting point, counted again from any point whose score is
	// still at least 5/8 of the threshold, for up to 5 × HoldOffPoints
	// after the alert: one incident gives one alert, not a storm, and one
	// that lasts longer alerts again about every 5 × HoldOffPoints. Zero
	// means 100; negative disables.
	HoldOffPoints int
	// BandGate reports a point as Anomalous (and starts a hold-off) only
	// when its value is also outside the band on the configured side.
	// The detector also scores departures inside the band (a new rhythm,
	// a shape never seen); an alert that shows a value inside its band
	// explains nothing, and its hold-off would hide a real departure
	// that follows. Anomaly rules set it; NAB scoring does not.
	BandGate bool
}

const (
	seasonAuto = iota
	seasonNone
	seasonDaily
	seasonWeekly
)

const (
	dirBoth = iota
	dirUp
	dirDown
)

type settings struct {
	season    int
	loc       *time.Location
	threshold float64
	dir       int
	minHist   time.Duration
	minPoints int64
	holdOff   int64
	bandGate  bool
}

// Threshold is the score at which a detector of this (valid)
// configuration reports Anomalous; an invalid configuration gives 0.
func (c Config) Threshold() float64 {
	s, err := c.settings()
	if err != nil {
		return 0
	}
	return s.threshold
}

// Validate reports the first field that is not understood.
func (c Config) Validate() error {
	_, err := c.settings()
	return err
}

func (c Config) settings() (settings, error) {
	s := settings{loc: c.Location, minHist: c.MinHistory, minPoints: int64(c.MinPoints), holdOff: int64(c.HoldOffPoints), bandGate: c.BandGate}
	switch c.Seasonality {
	case "", "auto":
		s.season = seasonAuto
	case "none":
		s.season = seasonNone
	case "daily":
		s.season = seasonDaily
	case "weekly":
		s.season = seasonWeekly
	default:
		return s, fmt.Errorf("cannot use seasonality %q: want auto, none, daily or weekly", c.Seasonality)
	}
	switch c.Direction {
	case "", "both":
		s.dir = dirBoth
	case "up":
		s.dir = dirUp
	case "down":
		s.dir = dirDown
	default:
		return s, fmt.Errorf("cannot use direction %q: want up, down or both", c.Direction)
	}
	sens := c.Sensitivity
	if sens == 0 {
		sens = 0.5
	}
	if !(sens > 0 && sens <= 1) { // NaN too
		return s, fmt.Errorf("cannot use sensitivity %v: want a value in (0,1]", c.Sensitivity)
	}
	s.threshold = thresholdFor(sens)
	if s.loc == nil {
		s.loc = time.UTC
	}
	if s.minHist == 0 {
		s.minHist = 72 * time.Hour
	}
	if s.minPoints == 0 {
		s.minPoints = 100
	}
	if s.holdOff == 0 {
		s.holdOff = 100
	}
	if s.holdOff < 0 {
		s.holdOff = 0
	}
	return s, nil
}

// thresholdFor maps sensitivity to the score that alerts. The default
// (0.5) is the threshold chosen on the NAB corpus; each 0.1 of sensitivity
// moves it by 0.04, about 0.4 decades of likelihood tail.
func thresholdFor(sens float64) float64 {
	t := defaultThreshold + (0.5-sens)*0.4
	return min(max(t, 0.05), 0.99)
}

// defaultThreshold is the alert score at sensitivity 0.5, picked on the
// NAB corpus with leave-one-category-out cross-validation.
const defaultThreshold = 0.48
