// Package latency summarises the timed requests of the bench harnesses
// (traces, logs) in the same JSON shape, which their run.sh reports read.
package latency

import (
	"slices"
	"time"
)

// Summary is a set of timed requests, in milliseconds.
type Summary struct {
	N      int     `json:"n"`
	P50    float64 `json:"p50Ms"`
	P90    float64 `json:"p90Ms"`
	P99    float64 `json:"p99Ms"`
	Max    float64 `json:"maxMs"`
	Mean   float64 `json:"meanMs"`
	Errors int     `json:"errors"`
}

// Summarize sorts d and returns its quantiles (nearest rank), maximum and
// mean, with errs failed requests.
func Summarize(d []time.Duration, errs int) Summary {
	if len(d) == 0 {
		return Summary{Errors: errs}
	}
	slices.Sort(d)
	ms := func(x time.Duration) float64 { return float64(x) / 1e6 }
	q := func(p float64) float64 { return ms(d[min(len(d)-1, int(p*float64(len(d))))]) }
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return Summary{N: len(d), P50: q(0.5), P90: q(0.9), P99: q(0.99), Max: ms(d[len(d)-1]), Mean: ms(sum) / float64(len(d)), Errors: errs}
}
