package anomaly

import (
	"math/rand/v2"
	"testing"
)

// Outliers in the training window (1% of the first four days' points
// multiplied by ten) raise no alerts once learning is over and do not hide
// a later level shift. With the season configured they do not widen the
// band either; with automatic seasonality the outlying hours keep the
// daily season from being recognised while they stay in the hourly
// buffer (21 days), so the band is that of an unseasoned series then
// (docs/anomaly.md, limits).
func TestOutliersInTrainingWindow(t *testing.T) {
	const days, learnDays = 10, 4
	at := 8 * 288
	clean := series{days: days, season: "daily", inject: "shift", at: at, seed: 5}.points()
	dirty := append([]Point(nil), clean...)
	rng := rand.New(rand.NewPCG(11, 12))
	outliers := 0
	for i := range learnDays * 288 {
		if rng.Float64() < 0.01 {
			dirty[i].V *= 10
			outliers++
		}
	}
	for _, season := range []string{"daily", "auto"} {
		t.Run(season, func(t *testing.T) {
			dc, dd := New(Config{Seasonality: season}), New(Config{Seasonality: season})
			rc, rd := run(dc, clean), run(dd, dirty)
			width := func(r Result) float64 { return r.Upper - r.Lower }
			wc, wd := width(rc[at-1]), width(rd[at-1])
			if season == "daily" && wd > 1.25*wc {
				t.Errorf("band width %.2f after training with %d outliers, %.2f without: the outliers widened it", wd, outliers, wc)
			}
			first, fp := -1, 0
			for i := learnDays * 288; i < len(rd); i++ {
				switch {
				case !rd[i].Anomalous:
				case i >= at && first < 0:
					first = i - at
				case i < at:
					fp++
				}
			}
			// The likelihood has learned from the outliers' raw scores, so
			// the shift needs a few more points than on clean training
			// (within 6: TestDetectsInjectedAnomalies).
			if first < 0 || first > 12 {
				t.Errorf("shift after outlier-laden training: first alert %d points after it, want within 12", first)
			}
			if fp > 0 {
				t.Errorf("%d false alerts between learning and the shift", fp)
			}
			t.Logf("%d training outliers; band %.2f vs %.2f clean; shift caught after %d points", outliers, wd, wc, first)
		})
	}
}

// With BandGate every anomalous point lies outside the band on the
// configured side, and injected anomalies are still caught within the
// delays TestDetectsInjectedAnomalies allows.
func TestBandGate(t *testing.T) {
	maxDelay := map[string]int{"spike": 0, "shift": 6, "variance": 72}
	for kind, delay := range maxDelay {
		for _, dir := range []string{"both", "up"} {
			s := series{days: 14, season: "daily", inject: kind, at: 11 * 288, seed: 3}
			pts := s.points()
			d := New(Config{BandGate: true, Direction: dir})
			first := -1
			for i, p := range pts {
				r := d.Observe(p.T, p.V)
				if !r.Anomalous {
					continue
				}
				if out := p.V > r.Upper || (dir == "both" && p.V < r.Lower); !out {
					t.Errorf("%s/%s: point %d anomalous inside its band: %v in [%v, %v]", kind, dir, i, p.V, r.Lower, r.Upper)
				}
				if i >= s.at && first < 0 {
					first = i - s.at
				}
			}
			if first < 0 || first > delay {
				t.Errorf("%s/%s with the band gate: first alert %d points after the start, want within %d", kind, dir, first, delay)
			}
		}
	}
}
