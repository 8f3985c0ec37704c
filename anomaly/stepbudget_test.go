package anomaly

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// An alert the step member raised alone is recorded, and for stepBudget
// points after it the member has to beat the largest remembered event
// instead of the second largest (bursty series made it alert on every
// few bursts).
func TestStepBudget(t *testing.T) {
	const at, flap = 3000, 3.0
	for seed := uint64(21); seed < 26; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		d := New(Config{Seasonality: "none"})
		alert := -1
		for i := range at + 50 {
			v := 100 + 20*math.Sin(2*math.Pi*float64(i)/144) + 0.1*rng.NormFloat64()
			if i >= at && i < at+30 && i%2 == 0 {
				v += flap // inside the band: the step member alone sees it (TestJumpsInsideTheBand)
			}
			if d.Observe(synthStart.Add(step*time.Duration(i)), v).Anomalous && alert < 0 {
				alert = i
			}
		}
		c := &d.c
		if alert < at || c.StepAlertN != int64(alert)+1 {
			t.Fatalf("seed %d: first alert at %d, lone step alert recorded at point %d, want an alert from %d on, recorded", seed, alert, c.StepAlertN, at)
		}
		c.StepRecur.First, c.StepRecur.Second = 8, 5
		if got := c.stepRef(); got != 8 {
			t.Errorf("seed %d: %d points after a lone step alert the step member must reach %v, want the largest peak 8", seed, c.N-c.StepAlertN, got)
		}
		c.N = c.StepAlertN + stepBudget
		if got := c.stepRef(); got != 5 {
			t.Errorf("seed %d: after the budget the step member must reach %v, want the second-largest peak 5", seed, got)
		}
	}
	var c core
	c.N, c.StepRecur.First, c.StepRecur.Second = 10, 8, 5
	if got := c.stepRef(); got != 5 {
		t.Errorf("without a lone step alert the step member must reach %v, want the second-largest peak 5", got)
	}
}
