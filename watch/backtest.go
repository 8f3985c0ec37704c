package watch

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigilhq/vigil/anomaly"
)

// Backtest is what an anomaly rule would have done over past data.
type Backtest struct {
	Rule      string           `json:"rule"`
	Expr      string           `json:"expr"`
	From      time.Time        `json:"from"`
	To        time.Time        `json:"to"`
	Step      time.Duration    `json:"-"`
	StepSec   float64          `json:"stepSeconds"`
	Threshold float64          `json:"threshold"`
	Series    []BacktestSeries `json:"series"`
}

// BacktestSeries is one series of the rule's expression: every point with
// its score and band, and the alerts it would have raised.
type BacktestSeries struct {
	Labels map[string]string `json:"labels"`
	Points []BacktestPoint   `json:"points"`
	Alerts []BacktestAlert   `json:"alerts"`
}

// BacktestPoint is one evaluation.
type BacktestPoint struct {
	T        time.Time `json:"time"`
	Value    float64   `json:"value"`
	Score    float64   `json:"score"`
	Expected float64   `json:"expected"`
	Lower    float64   `json:"lower"`
	Upper    float64   `json:"upper"`
	// Anomalous is the detector's verdict; Alerting is whether the rule's
	// alert fires (Anomalous and outside the band on the rule's side).
	Anomalous bool `json:"anomalous"`
	Alerting  bool `json:"alerting"`
	Warm      bool `json:"warm"`
}

// BacktestAlert is one alert the rule would have fired: from its first
// anomalous point until the hold-off after its last one, as the rule's
// alert does.
type BacktestAlert struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Observed float64   `json:"observed"`
	Expected float64   `json:"expected"`
	Lower    float64   `json:"lower"`
	Upper    float64   `json:"upper"`
	Score    float64   `json:"score"`
}

// maxPointsPerQuery keeps each range query under Prometheus's limit of
// 11,000 points per series, so a backtest works against any
// Prometheus-compatible server.
const maxPointsPerQuery = 10_000

// RunBacktest evaluates the rule's expression over [from, to] every step
// (the rule's group interval when step is 0) and streams every series
// through a fresh detector, as the rule would have. The detectors start
// cold at from: the rule's minimum history applies as it would have.
func RunBacktest(ctx context.Context, r *Rule, query RangeFunc, from, to time.Time, step time.Duration) (*Backtest, error) {
	if step <= 0 {
		step = r.Interval
	}
	if step <= 0 {
		step = time.Minute
	}
	if !to.After(from) {
		return nil, fmt.Errorf("the backtest's end %s is not after its start %s", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	cfg := r.Config(step)
	bt := &Backtest{Rule: r.Name, Expr: r.Expr, From: from, To: to, Step: step, StepSec: step.Seconds(), Threshold: cfg.Threshold()}
	type run struct {
		s    *BacktestSeries
		det  *anomaly.Detector
		last time.Time
	}
	byHash := make(map[uint64]*run)
	var order []*run
	for start := from; !start.After(to); start = start.Add(maxPointsPerQuery * step) {
		end := start.Add((maxPointsPerQuery - 1) * step)
		if end.After(to) {
			end = to
		}
		m, err := query(ctx, r.Expr, start, end, step)
		if err != nil {
			return nil, fmt.Errorf("query from %s to %s: %w", start.Format(time.RFC3339), end.Format(time.RFC3339), err)
		}
		for _, s := range m {
			b := labels.NewBuilder(s.Metric)
			b.Del(labels.MetricName)
			ls := b.Labels()
			h := ls.Hash()
			rn := byHash[h]
			if rn == nil {
				rn = &run{s: &BacktestSeries{Labels: ls.Map(), Points: []BacktestPoint{}, Alerts: []BacktestAlert{}}, det: anomaly.New(cfg)}
				byHash[h] = rn
				order = append(order, rn)
			}
			for _, p := range s.Floats {
				t := time.UnixMilli(p.T).UTC()
				if !t.After(rn.last) {
					continue
				}
				rn.last = t
				res := rn.det.Observe(t, p.F)
				rn.s.Points = append(rn.s.Points, BacktestPoint{
					T: t, Value: p.F, Score: finite(res.Score), Expected: finite(res.Expected),
					Lower: finite(res.Lower), Upper: finite(res.Upper), Anomalous: res.Anomalous, Warm: res.Warm,
					Alerting: r.Alerting(res, p.F),
				})
			}
		}
	}
	for _, rn := range order {
		rn.s.Alerts = episodes(rn.s.Points, r.HoldOff)
		bt.Series = append(bt.Series, *rn.s)
	}
	sort.Slice(bt.Series, func(i, j int) bool {
		return lessLabels(bt.Series[i].Labels, bt.Series[j].Labels)
	})
	if bt.Series == nil {
		bt.Series = []BacktestSeries{}
	}
	return bt, nil
}

// episodes groups alerting points into alerts the way the rule's alert
// behaves: firing at an anomalous point, held for holdOff after the last.
func episodes(pts []BacktestPoint, holdOff time.Duration) []BacktestAlert {
	out := []BacktestAlert{}
	for _, p := range pts {
		if !p.Alerting {
			continue
		}
		if n := len(out); n > 0 && !p.T.After(out[n-1].End) {
			out[n-1].End = p.T.Add(holdOff)
			continue
		}
		out = append(out, BacktestAlert{Start: p.T, End: p.T.Add(holdOff), Observed: p.Value, Expected: p.Expected, Lower: p.Lower, Upper: p.Upper, Score: p.Score})
	}
	return out
}

// Alerts counts the alerts over all series.
func (b *Backtest) Alerts() int {
	n := 0
	for _, s := range b.Series {
		n += len(s.Alerts)
	}
	return n
}

// WriteCSV writes one row per series and point:
// timestamp,series,value,expected,lower,upper,anomaly_score,anomalous,alerting.
func (b *Backtest) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"timestamp", "series", "value", "expected", "lower", "upper", "anomaly_score", "anomalous", "alerting"}); err != nil {
		return err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 10, 64) }
	for _, s := range b.Series {
		name := labels.FromMap(s.Labels).String()
		for _, p := range s.Points {
			if err := cw.Write([]string{p.T.UTC().Format(time.RFC3339), name, f(p.Value), f(p.Expected), f(p.Lower), f(p.Upper), strconv.FormatFloat(p.Score, 'f', 5, 64), strconv.FormatBool(p.Anomalous), strconv.FormatBool(p.Alerting)}); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteSummary says, for a person, what would have fired.
func (b *Backtest) WriteSummary(w io.Writer) error {
	points := 0
	for _, s := range b.Series {
		points += len(s.Points)
	}
	if _, err := fmt.Fprintf(w, "anomaly rule %s over %s to %s every %s: %d series, %d points, %d alerts would have fired (threshold %.3f)\n",
		b.Rule, b.From.UTC().Format(time.RFC3339), b.To.UTC().Format(time.RFC3339), b.Step, len(b.Series), points, b.Alerts(), b.Threshold); err != nil {
		return err
	}
	for _, s := range b.Series {
		name := labels.FromMap(s.Labels).String()
		for _, a := range s.Alerts {
			if _, err := fmt.Fprintf(w, "  %s  %s  observed %.6g, expected %.6g (band %.6g to %.6g), score %.3f, until %s\n",
				a.Start.UTC().Format(time.RFC3339), name, a.Observed, a.Expected, a.Lower, a.Upper, a.Score, a.End.UTC().Format(time.RFC3339)); err != nil {
				return err
			}
		}
	}
	return nil
}
