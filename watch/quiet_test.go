package watch

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
)

// weekly is a request rate with business hours on weekdays (Europe/Berlin),
// quiet nights and weekends, and 2% noise, every 5 minutes for 28 days
// from a Monday; drop, when set, halves it for two hours.
func weekly(drop time.Time) RangeFunc {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	return func(_ context.Context, _ string, start, end time.Time, step time.Duration) (promql.Matrix, error) {
		rng := rand.New(rand.NewPCG(uint64(start.Unix()), 3))
		var pts []promql.FPoint
		for t := start; !t.After(end); t = t.Add(step) {
			lt := t.In(berlin)
			h := float64(lt.Hour()) + float64(lt.Minute())/60
			v := 200 + 80*math.Sin(2*math.Pi*(h-9)/24)
			if wd := lt.Weekday(); wd != time.Saturday && wd != time.Sunday && h >= 9 && h < 17 {
				v += 300
			}
			v *= 1 + 0.02*rng.NormFloat64()
			if !drop.IsZero() && !t.Before(drop) && t.Before(drop.Add(2*time.Hour)) {
				v /= 2
			}
			pts = append(pts, promql.FPoint{T: t.UnixMilli(), F: v})
		}
		return promql.Matrix{{Metric: labels.FromStrings("service", "shop"), Floats: pts}}, nil
	}
}

// A request-rate rule as the built-in ones are set (both directions, 15
// days of history) stays quiet through four weeks of business hours,
// nights and weekends in its own time zone, and alerts on a two-hour
// halving of traffic on a Wednesday morning of the fourth week.
func TestQuietThroughDailyAndWeeklySwings(t *testing.T) {
	r := &Rule{Name: "Traffic", Expr: "x", Timezone: "Europe/Berlin", MinHistory: 15 * 24 * time.Hour, HoldOff: DefaultHoldOff}
	from := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC) // a Monday
	to := from.Add(28 * 24 * time.Hour)
	clean, err := RunBacktest(context.Background(), r, weekly(time.Time{}), from, to, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if n := clean.Alerts(); n != 0 {
		t.Errorf("%d alerts on four weeks of normal traffic, want none: %+v", n, clean.Series[0].Alerts)
	}
	warm := 0
	for _, p := range clean.Series[0].Points {
		if p.Warm {
			warm++
		}
	}
	if warm < 12*288 {
		t.Fatalf("only %d warm points: the test would show nothing", warm)
	}

	drop := time.Date(2026, 3, 25, 9, 30, 0, 0, time.UTC) // Wednesday 10:30 in Berlin
	bt, err := RunBacktest(context.Background(), r, weekly(drop), from, to, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	as := bt.Series[0].Alerts
	if len(as) == 0 {
		t.Fatal("a two-hour halving of traffic raised no alert")
	}
	// Two hours is long enough for the detector to take the halved
	// level as the new normal, so the recovery may alert too.
	for _, a := range as {
		if a.Start.Before(drop) || a.Start.After(drop.Add(3*time.Hour)) {
			t.Errorf("alert at %s, want within the drop (%s, 2h) or its recovery", a.Start, drop)
		}
	}
	if d := as[0].Start.Sub(drop); d > 30*time.Minute {
		t.Errorf("first alert %v after the drop began, want within 30 minutes", d)
	}
	if a := as[0]; !(a.Observed < a.Lower && a.Lower < a.Expected) {
		t.Errorf("alert says observed %v, expected %v, band [%v, %v]: want the value below the band", a.Observed, a.Expected, a.Lower, a.Upper)
	}
	t.Logf("%d alert(s), first %v after the drop: observed %.0f, expected %.0f", len(as), as[0].Start.Sub(drop), as[0].Observed, as[0].Expected)
}
