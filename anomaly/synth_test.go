package anomaly

import (
	"math"
	"math/rand/v2"
	"time"
)

// series is a synthetic 5-minute series: a seasonal shape, Gaussian noise
// (sigma 1) and an optional injected anomaly from index `at` on.
type series struct {
	days   int
	loc    *time.Location
	season string // "daily", "weekly", "none"
	inject string // "", "spike", "shift", "trend", "variance"
	at     int
	seed   uint64
	start  time.Time // zero means synthStart
}

const step = 5 * time.Minute

var synthStart = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC) // a Monday

func (s series) points() []Point {
	loc := s.loc
	if loc == nil {
		loc = time.UTC
	}
	rng := rand.New(rand.NewPCG(s.seed, 7))
	n := s.days * 288
	if s.start.IsZero() {
		s.start = synthStart
	}
	out := make([]Point, n)
	for i := range out {
		t := s.start.Add(time.Duration(i) * step)
		lt := t.In(loc)
		h := float64(lt.Hour()) + float64(lt.Minute())/60
		v := 100.0
		switch s.season {
		case "daily":
			v += 20 * math.Sin(2*math.Pi*h/24)
		case "weekly":
			// Business hours on weekdays, quiet weekends.
			if wd := lt.Weekday(); wd != time.Saturday && wd != time.Sunday && h >= 9 && h < 17 {
				v += 40
			}
		}
		noise := rng.NormFloat64()
		if s.inject != "" && i >= s.at {
			k := float64(i - s.at)
			switch s.inject {
			case "spike":
				if i == s.at {
					v += 15
				}
			case "shift":
				v += 10
			case "trend":
				v += 0.05 * k
			case "variance":
				noise *= 6
			}
		}
		out[i] = Point{T: t, V: v + noise}
	}
	return out
}

func run(d *Detector, pts []Point) []Result {
	out := make([]Result, len(pts))
	for i, p := range pts {
		out[i] = d.Observe(p.T, p.V)
	}
	return out
}
