package watch

import (
	"testing"
	"time"
)

func TestDefaultRulesLoad(t *testing.T) {
	rgs, found, errs := Parse(DefaultRulesFile, []byte(DefaultRules(time.Minute)))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(found) != 9 || len(rgs.Groups) != 1 || len(rgs.Groups[0].Rules) != 9 {
		t.Fatalf("%d anomaly rules, %d groups", len(found), len(rgs.Groups))
	}
	if rgs.Groups[0].Interval.String() != "1m" {
		t.Errorf("interval %v, want 1m", rgs.Groups[0].Interval)
	}
	if err := CheckUnique(found); err != nil {
		t.Fatal(err)
	}
}
