package report

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/common/model"
)

// Report is the SLA of one service over one period. Optional figures are
// nil when unknown: latency without a histogram, judgements without an
// objective.
type Report struct {
	Service string    `json:"service"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Source  string    `json:"source"`

	// TotalRequests and ErrorCount are increase() results: extrapolated,
	// so not always integers (see the package comment).
	TotalRequests float64 `json:"total_requests"`
	ErrorCount    float64 `json:"error_count"`
	// Availability is 100 * (1 - ErrorCount/TotalRequests), in percent.
	Availability float64 `json:"availability"`

	// Latency quantiles in seconds, interpolated within histogram buckets
	// by histogram_quantile.
	LatencyP50 *float64 `json:"latency_p50"`
	LatencyP95 *float64 `json:"latency_p95"`
	LatencyP99 *float64 `json:"latency_p99"`

	// Objective is the availability objective in percent.
	Objective    *float64 `json:"objective"`
	ObjectiveMet *bool    `json:"objective_met"`
	// ErrorBudgetRemaining is the share of the error budget (the errors
	// the objective allows over the period) not spent, in percent;
	// negative when the budget was overspent.
	ErrorBudgetRemaining *float64 `json:"error_budget_remaining"`

	LatencyObjective *LatencyObjective `json:"latency_objective"`
	// LatencyAtObjective is the latency at LatencyObjective.Quantile.
	LatencyAtObjective  *float64 `json:"latency_at_objective"`
	LatencyObjectiveMet *bool    `json:"latency_objective_met"`

	// Queries are the PromQL expressions behind the figures, by figure:
	// total, errors, p50, p95, p99, latency_objective; daily_total and
	// daily_errors are the daily ones for a full day. All are instant
	// queries at To (at each day's end for the daily ones).
	Queries map[string]string `json:"queries"`

	// Daily splits the period at UTC midnights.
	Daily []DayRow `json:"daily"`
}

// DayRow is one UTC day of the period; the first and last may be partial.
type DayRow struct {
	Date          string    `json:"date"` // 2026-11-01
	From          time.Time `json:"from"`
	To            time.Time `json:"to"`
	TotalRequests float64   `json:"total_requests"`
	ErrorCount    float64   `json:"error_count"`
	// Availability is nil on a day without requests.
	Availability *float64 `json:"availability"`
	// NoData is a day without samples, as opposed to one without
	// requests: the service sent nothing, or the store was not running.
	NoData bool `json:"no_data"`
}

// Build queries the figures of r. Its errors are *InvalidRequestError for
// a request that cannot work, wrap ErrNoData when there is nothing to
// report on, and otherwise come from q.
func Build(ctx context.Context, q QueryFunc, r Request) (Report, error) {
	r, err := r.validate()
	if err != nil {
		return Report{}, err
	}
	rng := promDuration(r.To.Sub(r.From))
	rep := Report{Service: r.Service, From: r.From, To: r.To, Queries: map[string]string{}}
	period := fmt.Sprintf("between %s and %s", r.From.Format(time.RFC3339), r.To.Format(time.RFC3339))

	var e exprs
	var total float64
	switch r.Source {
	case "", SourceSpans:
		e = spanExprs(r)
		v, ok, err := instant(ctx, q, e.total(rng), r.To)
		if err != nil {
			return Report{}, err
		}
		if ok {
			rep.Source, total = SourceSpans, v
			break
		}
		if r.Source == SourceSpans {
			return Report{}, fmt.Errorf("%w: no span metrics of service %q %s", ErrNoData, r.Service, period)
		}
		if r.TotalQuery == "" {
			return Report{}, fmt.Errorf("%w: no request metrics for service %q %s: it sent no spans of kind %v; give total and error queries or an SLO", ErrNoData, r.Service, period, r.SpanKinds)
		}
		rep.Source = SourceSLO
	default:
		rep.Source = r.Source
	}
	if rep.Source != SourceSpans {
		if e, err = customExprs(r); err != nil {
			return Report{}, err
		}
		v, ok, err := instant(ctx, q, e.total(rng), r.To)
		if err != nil {
			return Report{}, err
		}
		if !ok {
			return Report{}, fmt.Errorf("%w: the total query of service %q has no samples %s", ErrNoData, r.Service, period)
		}
		total = v
	}
	rep.Queries["total"] = e.total(rng)
	rep.Queries["errors"] = e.errors(rng)
	rep.Queries["daily_total"] = e.total("1d")
	rep.Queries["daily_errors"] = e.errors("1d")

	if math.IsNaN(total) || total <= 0 {
		return Report{}, fmt.Errorf("%w: service %q served no requests %s, so its availability is undefined", ErrNoData, r.Service, period)
	}
	// No error series at all is no errors.
	failed, _, err := instant(ctx, q, e.errors(rng), r.To)
	if err != nil {
		return Report{}, err
	}
	if math.IsNaN(failed) || failed < 0 {
		failed = 0
	}
	rep.TotalRequests, rep.ErrorCount = total, failed
	// Per-series extrapolation can put errors a hair above the total.
	rep.Availability = max(0, 100*(1-failed/total))

	if e.quantile != nil {
		for _, p := range []struct {
			key string
			q   float64
			dst **float64
		}{{"p50", 0.5, &rep.LatencyP50}, {"p95", 0.95, &rep.LatencyP95}, {"p99", 0.99, &rep.LatencyP99}} {
			expr := e.quantile(p.q, rng)
			rep.Queries[p.key] = expr
			if *p.dst, err = quantile(ctx, q, expr, r.To); err != nil {
				return Report{}, err
			}
		}
	}

	if r.Objective > 0 {
		obj := r.Objective
		met := rep.Availability >= obj
		allowed := total * (1 - obj/100)
		left := 100 * (1 - failed/allowed)
		rep.Objective, rep.ObjectiveMet, rep.ErrorBudgetRemaining = &obj, &met, &left
	}
	if lo := r.LatencyObjective; lo != nil {
		c := *lo
		rep.LatencyObjective = &c
		switch {
		case e.quantile == nil:
		case c.Quantile == 0.5:
			rep.LatencyAtObjective = rep.LatencyP50
		case c.Quantile == 0.95:
			rep.LatencyAtObjective = rep.LatencyP95
		case c.Quantile == 0.99:
			rep.LatencyAtObjective = rep.LatencyP99
		default:
			expr := e.quantile(c.Quantile, rng)
			rep.Queries["latency_objective"] = expr
			if rep.LatencyAtObjective, err = quantile(ctx, q, expr, r.To); err != nil {
				return Report{}, err
			}
		}
		if v := rep.LatencyAtObjective; v != nil {
			met := *v <= c.Seconds
			rep.LatencyObjectiveMet = &met
		}
	}

	if rep.Daily, err = daily(ctx, q, e, r.From, r.To); err != nil {
		return Report{}, err
	}
	if err := checkStart(ctx, q, e, r, rep.Daily); err != nil {
		return Report{}, err
	}
	return rep, nil
}

// instant runs expr at t and returns its one value; ok is false when the
// result is empty. A result of several series is an error: the figures
// are sums, and a custom query that forgot sum() would be ambiguous.
func instant(ctx context.Context, q QueryFunc, expr string, t time.Time) (v float64, ok bool, err error) {
	vec, err := q(ctx, expr, t)
	if err != nil {
		return 0, false, fmt.Errorf("cannot run query %s: %w", expr, err)
	}
	switch len(vec) {
	case 0:
		return 0, false, nil
	case 1:
		return float64(vec[0].Value), true, nil
	default:
		return 0, false, fmt.Errorf("query %s returned %d series, want one: aggregate it, with sum() for instance", expr, len(vec))
	}
}

// quantile returns nil when the histogram has no series or no
// observations (histogram_quantile's NaN), or no finite answer.
func quantile(ctx context.Context, q QueryFunc, expr string, t time.Time) (*float64, error) {
	v, ok, err := instant(ctx, q, expr, t)
	if err != nil || !ok || math.IsNaN(v) || math.IsInf(v, 0) {
		return nil, err
	}
	return &v, nil
}

// promDuration writes d as a PromQL duration (30d, 1d12h); d is a whole
// number of milliseconds.
func promDuration(d time.Duration) string { return model.Duration(d).String() }
