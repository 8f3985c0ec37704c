package anomaly

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// A series that wanders smoothly has a band wider than its point-to-point
// changes (the level lags the wander). When it starts to flap inside that
// band, no point leaves the band, but the differences are far beyond the
// usual ones, and the step member reports it (sixth round).
func TestJumpsInsideTheBand(t *testing.T) {
	for seed := uint64(21); seed < 26; seed++ {
		jumpsInsideTheBand(t, seed)
	}
}

func jumpsInsideTheBand(t *testing.T, seed uint64) {
	const at, flap = 3000, 3.0
	rng := rand.New(rand.NewPCG(seed, 7))
	pts := make([]Point, 3300)
	for i := range pts {
		v := 100 + 20*math.Sin(2*math.Pi*float64(i)/144) + 0.1*rng.NormFloat64()
		if i >= at && i < at+30 && i%2 == 0 {
			v += flap
		}
		pts[i] = Point{T: synthStart.Add(step * time.Duration(i)), V: v}
	}
	res := run(New(Config{Seasonality: "none"}), pts)
	for i := 1000; i < at; i++ {
		if res[i].Anomalous {
			t.Fatalf("seed %d: alert at %d on the smooth wander, before the flapping", seed, i)
		}
	}
	for i := at; i < at+10; i++ {
		if v := pts[i].V; v > res[i].Upper || v < res[i].Lower {
			t.Fatalf("seed %d: point %d is outside the band [%.2f, %.2f]: the test would not show the member", seed, i, res[i].Lower, res[i].Upper)
		}
		if res[i].Anomalous {
			return
		}
	}
	t.Errorf("seed %d: flapping inside the band of a smooth series did not alert within 10 points", seed)
}
