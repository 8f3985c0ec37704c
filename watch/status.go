package watch

import (
	"math"
	"sort"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// RuleStatus is what GET /api/v1/anomalies says of one rule.
type RuleStatus struct {
	Name        string            `json:"name"`
	Expr        string            `json:"expr"`
	File        string            `json:"file"`
	Group       string            `json:"group"`
	Builtin     bool              `json:"builtin"`
	Interval    float64           `json:"intervalSeconds"`
	Sensitivity float64           `json:"sensitivity"`
	Direction   string            `json:"direction"`
	Seasonality string            `json:"seasonality"`
	Timezone    string            `json:"timezone"`
	MinHistory  float64           `json:"minHistorySeconds"`
	HoldOff     float64           `json:"holdOffSeconds"`
	Threshold   float64           `json:"threshold"`
	Labels      map[string]string `json:"labels"`
	LastEval    *time.Time        `json:"lastEvaluation,omitempty"`
	LastError   string            `json:"lastError,omitempty"`
	Series      []SeriesStatus    `json:"series"`
}

// SeriesStatus is one watched series: its detector and its last point.
type SeriesStatus struct {
	Labels map[string]string `json:"labels"`
	// Season is the seasonality in use: none, daily or weekly.
	Season string `json:"season"`
	// Warm is false while the series has less history than the rule's
	// minimum: it cannot alert yet.
	Warm     bool       `json:"warm"`
	Time     time.Time  `json:"time"`
	Value    float64    `json:"value"`
	Score    float64    `json:"score"`
	Expected float64    `json:"expected"`
	Lower    float64    `json:"lower"`
	Upper    float64    `json:"upper"`
	Since    *time.Time `json:"anomalousSince,omitempty"`
	Last     *time.Time `json:"lastAnomaly,omitempty"`
}

// Status reports every loaded anomaly rule and the series it watches
// (those with a non-finite value are reported as 0).
func (w *Watcher) Status() []RuleStatus {
	rs := w.Rules()
	out := make([]RuleStatus, 0, len(rs))
	for _, r := range rs {
		s := RuleStatus{
			Name: r.Name, Expr: r.Expr, File: r.File, Group: r.Group, Builtin: r.File == DefaultRulesFile,
			Interval: r.Interval.Seconds(), Sensitivity: r.Sensitivity, Direction: r.Direction,
			Seasonality: r.Seasonality, Timezone: r.Timezone, MinHistory: r.MinHistory.Seconds(),
			HoldOff: r.HoldOff.Seconds(), Threshold: r.Threshold(), Labels: r.Labels, Series: []SeriesStatus{},
		}
		if s.Direction == "" {
			s.Direction = "both"
		}
		if s.Seasonality == "" {
			s.Seasonality = "auto"
		}
		if s.Timezone == "" {
			s.Timezone = "UTC"
		}
		w.mu.Lock()
		st := w.rules[r.Name]
		w.mu.Unlock()
		if st != nil {
			st.mu.Lock()
			s.Interval = st.interval.Seconds()
			if !st.lastEval.IsZero() {
				t := st.lastEval
				s.LastEval = &t
			}
			s.LastError = st.lastErr
			for _, ss := range st.series {
				x := SeriesStatus{
					Labels: ss.labels.Map(), Season: ss.det.Season(), Warm: ss.res.Warm, Time: ss.last,
					Value: finite(ss.value), Score: finite(ss.res.Score), Expected: finite(ss.res.Expected),
					Lower: finite(ss.res.Lower), Upper: finite(ss.res.Upper),
				}
				delete(x.Labels, RuleLabel)
				if !ss.since.IsZero() {
					t := ss.since
					x.Since = &t
				}
				if !ss.lastAnomaly.IsZero() {
					t := ss.lastAnomaly
					x.Last = &t
				}
				s.Series = append(s.Series, x)
			}
			st.mu.Unlock()
			sort.Slice(s.Series, func(i, j int) bool { return lessLabels(s.Series[i].Labels, s.Series[j].Labels) })
		}
		out = append(out, s)
	}
	return out
}

// finite makes a value JSON can carry.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

func lessLabels(a, b map[string]string) bool {
	return labels.Compare(labels.FromMap(a), labels.FromMap(b)) < 0
}
