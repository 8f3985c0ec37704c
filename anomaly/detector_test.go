package anomaly

import (
	"testing"
	"time"
)

// Each injected anomaly must alert within a stated delay of its start, and
// alerts on the clean part after learning (outside [at, at+settle)) must
// stay below 0.1% of the points. Learning is three days for a daily season
// and fourteen for a weekly one: until then a weekend is news.
func TestDetectsInjectedAnomalies(t *testing.T) {
	const (
		settle     = 600 // after this many points the new state is normal again
		trendSlope = 0.1 // noise sigmas per point; 0.05 is absorbed (docs/anomaly.md)
		fpBound    = 0.001
	)
	maxDelay := map[string]int{
		"spike":    0,   // the point itself
		"shift":    6,   // 30 minutes
		"variance": 72,  // 6 hours: a few wide points are not yet a change
		"trend":    100, // 10 sigma above the old level after 100 points
	}
	for _, season := range []string{"daily", "weekly"} {
		for _, kind := range []string{"spike", "shift", "trend", "variance"} {
			t.Run(season+"/"+kind, func(t *testing.T) {
				days, learn := 14, 3*288
				if season == "weekly" {
					days, learn = 24, 14*288
				}
				s := series{days: days, season: season, inject: kind, at: (days - 3) * 288, seed: 1}
				if kind == "trend" {
					s.inject = "" // a trend never settles: it stops after settle points
				}
				pts := s.points()
				if kind == "trend" {
					for i := s.at; i < len(pts); i++ {
						pts[i].V += trendSlope * float64(min(i-s.at, settle))
					}
				}
				d := New(Config{})
				res := run(d, pts)
				first, fp := -1, 0
				for i, r := range res {
					switch {
					case !r.Anomalous || i < learn:
					case i >= s.at && i < s.at+settle:
						if first < 0 {
							first = i - s.at
						}
					default:
						fp++
					}
				}
				if first < 0 || first > maxDelay[kind] {
					t.Errorf("%s on %s season: first alert %d points after the start, want within %d", kind, season, first, maxDelay[kind])
				}
				clean := len(pts) - learn - settle
				if rate := float64(fp) / float64(clean); rate >= fpBound {
					t.Errorf("%s on %s season: %d false alerts in %d clean points (%.3f%%), want < %.1f%%", kind, season, fp, clean, 100*rate, 100*fpBound)
				}
				if d.Season() != season {
					t.Errorf("season detected %q, want %q", d.Season(), season)
				}
				t.Logf("alert %d points after the start; %d false alerts in %d clean points", first, fp, clean)
			})
		}
	}
}

func TestSeasonalityDetection(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	f := func(name string, s series, want string) {
		t.Helper()
		d := New(Config{Location: s.loc})
		run(d, s.points())
		if got := d.Season(); got != want {
			t.Errorf("%s: season %q, want %q", name, got, want)
		}
	}
	f("daily UTC", series{days: 10, season: "daily", seed: 2}, "daily")
	f("weekly UTC", series{days: 21, season: "weekly", seed: 3}, "weekly")
	f("weekly Berlin business hours", series{days: 21, season: "weekly", loc: berlin, seed: 4}, "weekly")
	f("noise only", series{days: 21, season: "none", seed: 5}, "none")
}

// Business hours in Berlin are not UTC hours: the same instant falls in a
// different hour-of-week bin.
func TestBinsFollowLocation(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	ts := time.Date(2026, 3, 1, 23, 30, 0, 0, time.UTC) // Sunday 23:30 UTC = Monday 00:30 Berlin
	if got, want := New(Config{}).bins(ts), (pos{week: 0*48 + 47, day: 94}); got != want {
		t.Errorf("UTC bins = %+v, want %+v", got, want)
	}
	if got, want := New(Config{Location: berlin}).bins(ts), (pos{week: 1*48 + 1, day: 2}); got != want {
		t.Errorf("Berlin bins = %+v, want %+v", got, want)
	}
}

// Across a daylight-saving change, business hours stay put in Berlin time
// but move by an hour in UTC: the zone-correct profile keeps tracking them.
func TestConfiguredSeasonInZoneTracksShape(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	// Berlin moves to summer time on 2026-03-29; weeks 3 and 4 are after it.
	pts := series{days: 28, season: "weekly", loc: berlin, seed: 6, start: time.Date(2026, 3, 16, 0, 0, 0, 0, time.UTC)}.points()
	errFor := func(loc *time.Location) float64 {
		d := New(Config{Seasonality: "weekly", Location: loc})
		var sum float64
		for i, r := range run(d, pts) {
			if i >= 14*288 {
				sum += (r.Expected - pts[i].V) * (r.Expected - pts[i].V)
			}
		}
		return sum
	}
	right, wrong := errFor(berlin), errFor(time.UTC)
	if right >= wrong/2 {
		t.Errorf("squared error with Berlin bins %.0f, with UTC bins %.0f: want the zone-correct baseline much closer", right, wrong)
	}
}

func TestColdStartNeverAlerts(t *testing.T) {
	d := New(Config{MinPoints: 200, MinHistory: 2 * time.Hour})
	for i := range 300 {
		v := 10.0
		if i%7 == 0 {
			v = 1e6 // wild values from the first point on
		}
		ts := synthStart.Add(time.Duration(i) * time.Second) // 300 points in 5 minutes: MinHistory not reached
		r := d.Observe(ts, v)
		if r.Anomalous || r.Score != 0 || r.Warm {
			t.Fatalf("point %d before MinHistory: %+v, want cold and silent", i, r)
		}
	}
}

// Missing points and a counter-reset-like drop to zero give at most one
// alert each, not a storm.
func TestGapsAndResetsDoNotStorm(t *testing.T) {
	pts := series{days: 10, season: "daily", seed: 8}.points()
	var fed []Point
	for i, p := range pts {
		if i >= 5*288 && i < 5*288+72 { // a 6-hour hole
			continue
		}
		if i == 7*288 { // a counter reset seen through rate(): one zero
			p.V = 0
		}
		fed = append(fed, p)
	}
	alerts := 0
	for _, r := range run(New(Config{}), fed) {
		if r.Anomalous {
			alerts++
		}
	}
	if alerts > 2 {
		t.Errorf("%d alerts over a gap and a reset, want at most 2", alerts)
	}
}

func TestNonFiniteValuesAreSkipped(t *testing.T) {
	d := New(Config{})
	pts := series{days: 2, season: "none", seed: 9}.points()
	run(d, pts[:400])
	before, _ := d.MarshalBinary()
	for _, v := range []float64{nan(), inf()} {
		if r := d.Observe(pts[400].T, v); r.Anomalous || r.Score != 0 {
			t.Errorf("non-finite value scored: %+v", r)
		}
	}
	after, _ := d.MarshalBinary()
	if string(before) != string(after) {
		t.Error("non-finite values changed the state")
	}
}

func TestDirection(t *testing.T) {
	pts := series{days: 5, season: "none", inject: "shift", at: 4 * 288, seed: 10}.points()
	count := func(dir string) int {
		n := 0
		for _, r := range run(New(Config{Direction: dir}), pts) {
			if r.Anomalous {
				n++
			}
		}
		return n
	}
	if up, down := count("up"), count("down"); up == 0 || down != 0 {
		t.Errorf("upward shift: %d alerts watching up, %d watching down; want >0 and 0", up, down)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{}, true},
		{Config{Seasonality: "weekly", Direction: "down", Sensitivity: 1}, true},
		{Config{Seasonality: "hourly"}, false},
		{Config{Direction: "sideways"}, false},
		{Config{Sensitivity: 1.5}, false},
		{Config{Sensitivity: -0.1}, false},
	} {
		if err := c.cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("Validate(%+v) = %v, want ok=%v", c.cfg, err, c.ok)
		}
	}
	if hi, lo := New(Config{Sensitivity: 0.9}).Threshold(), New(Config{Sensitivity: 0.1}).Threshold(); hi >= lo {
		t.Errorf("threshold at sensitivity 0.9 is %v, at 0.1 is %v: want higher sensitivity to alert lower", hi, lo)
	}
}

// A burst that outlasts several hold-off periods (spikes every 25 points
// for 600 points) is one incident: one alert, not one per HoldOffPoints.
func TestLongBurstAlertsOnce(t *testing.T) {
	const at = 4 * 288
	pts := series{days: 6, season: "none", seed: 15}.points()
	for i := at; i < at+600; i += 25 {
		pts[i].V += 20
	}
	alerts := 0
	for i, r := range run(New(Config{}), pts) {
		if r.Anomalous && i >= at {
			alerts++
		}
	}
	if alerts != 1 {
		t.Errorf("a 600-point burst gave %d alerts, want 1", alerts)
	}
}

// Renewals of the hold-off are bounded: an incident that goes on for many
// hold-offs alerts again now and then (a reminder, and a chance for a second
// incident inside it to be seen), but never storms.
func TestVeryLongBurstReminds(t *testing.T) {
	const (
		at     = 4 * 288
		length = 3000
	)
	pts := series{days: 16, season: "none", seed: 15}.points()
	for i := at; i < at+length; i += 25 {
		pts[i].V += 20
	}
	alerts := 0
	for i, r := range run(New(Config{}), pts) {
		if r.Anomalous && i >= at && i < at+length {
			alerts++
		}
	}
	if most := length/(holdCap*100) + 1; alerts < 2 || alerts > most {
		t.Errorf("a %d-point burst gave %d alerts, want 2 to %d", length, alerts, most)
	}
}

// After a large spike, smaller ones in the following days are not news
// (they alerted after every hold-off before spikes were remembered); a
// spike larger than the remembered one is.
func TestSmallerSpikesAfterALargeOneAreQuiet(t *testing.T) {
	const first = 4*288 + 50
	pts := series{days: 10, season: "none", seed: 17}.points()
	pts[first].V += 40
	var small []int
	for i := first + 150; i < first+1050; i += 150 {
		pts[i].V += 20
		small = append(small, i)
	}
	larger := first + 1200
	pts[larger].V += 60
	res := run(New(Config{Seasonality: "none"}), pts)
	if !res[first].Anomalous {
		t.Error("the first large spike did not alert")
	}
	for _, i := range small {
		if res[i].Anomalous {
			t.Errorf("a smaller spike %d points after the large one alerted", i-first)
		}
	}
	if !res[larger].Anomalous {
		t.Error("a spike larger than the remembered one did not alert")
	}
}

// A gauge that sits still except for wobbles in its last digit has a scale
// near 0; the wobbles must not alert, a 5% step must.
func TestFlatSeriesIgnoresResolution(t *testing.T) {
	pts := series{days: 6, season: "none", seed: 18}.points()
	at := 5 * 288
	for i := range pts {
		pts[i].V = 1000
		if i%97 == 0 {
			pts[i].V += 0.5 // 0.05% of the level
		}
		if i >= at {
			pts[i].V = 1050
		}
	}
	first := -1
	for i, r := range run(New(Config{}), pts) {
		switch {
		case r.Anomalous && i < at:
			t.Fatalf("alert at point %d on last-digit wobble", i)
		case r.Anomalous && first < 0:
			first = i - at
		}
	}
	if first != 0 {
		t.Errorf("5%% step: first alert %d points after it, want at once", first)
	}
}
