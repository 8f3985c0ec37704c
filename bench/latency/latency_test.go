package latency

import (
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	s := Summarize(d, 2)
	if s.N != 100 || s.P50 != 51 || s.P90 != 91 || s.P99 != 100 || s.Max != 100 || s.Mean != 50.5 || s.Errors != 2 {
		t.Fatalf("%+v", s)
	}
	if s := Summarize(nil, 3); s.N != 0 || s.Errors != 3 {
		t.Fatalf("%+v", s)
	}
}
