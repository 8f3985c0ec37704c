package slo

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/common/model"
)

// QueryFunc evaluates an instant PromQL query at t.
type QueryFunc func(ctx context.Context, expr string, t time.Time) (model.Vector, error)

// Where a Status value came from.
const (
	// SourceRecorded: the series the compiled rules record.
	SourceRecorded = "recorded"
	// SourceRaw: the SLI's own queries, used while the rules have not run.
	SourceRaw = "raw"
)

// SLOStatus is an SLO's state at one time, shaped for JSON. Ratios are
// fractions (0.999, not 99.9). A null number means no data, or no events in
// the window (a ratio of 0/0).
type SLOStatus struct {
	Name        string            `json:"name"`
	Service     string            `json:"service"`
	Description string            `json:"description,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	SLIKind     string            `json:"sli_kind"` // "events" or "latency"
	Time        time.Time         `json:"time"`

	Objective     float64 `json:"objective"`
	Window        string  `json:"window"`
	WindowSeconds float64 `json:"window_seconds"`
	// SLI is the ratio of good to all events over the window, ErrorRatio
	// the rest; WindowSource says where they were read.
	SLI          *float64 `json:"sli"`
	ErrorRatio   *float64 `json:"error_ratio"`
	WindowSource string   `json:"window_source"`

	// ErrorBudget is 1 - objective; ErrorBudgetRemaining is the share of it
	// left, 1 - error_ratio/error_budget (negative when overspent).
	ErrorBudget          float64  `json:"error_budget"`
	ErrorBudgetRemaining *float64 `json:"error_budget_remaining"`
	// Events over the window, errors among them and the errors the budget
	// allows, estimated from the SLI's total rate (per second) times the
	// window, which is what the spec asks the queries to return.
	Events            *float64 `json:"events"`
	ErrorEvents       *float64 `json:"error_events"`
	ErrorBudgetEvents *float64 `json:"error_budget_events"`

	BurnRates        []BurnRate       `json:"burn_rates"`
	Alerts           []AlertCondition `json:"alerts"`
	AlertingDisabled bool             `json:"alerting_disabled"`
}

// BurnRate is the error ratio over Window divided by the error budget.
type BurnRate struct {
	Window string   `json:"window"`
	Value  *float64 `json:"value"`
	Source string   `json:"source"`
}

// AlertCondition is one burn alert's condition: both burn rates above
// Threshold. Holds is reported even when alerting is disabled.
type AlertCondition struct {
	// Severity is the alert's class, "page" or "ticket"; the spec may
	// label the alert itself differently (alerting.page.labels.severity).
	Severity    string  `json:"severity"`
	LongWindow  string  `json:"long_window"`
	ShortWindow string  `json:"short_window"`
	Threshold   float64 `json:"threshold"`
	Holds       bool    `json:"holds"`
}

// Status reads the state of s at t through q. Each number is read from the
// series the compiled rules record when they exist at t, and otherwise
// computed from the SLI's own queries, so an SLO has a status before its
// rules have run. The event counts always come from the SLI's total query
// over the whole window. An SLI that returns more than one series is an
// error: Status describes one SLO as one number each.
func Status(ctx context.Context, q QueryFunc, s SLO, t time.Time) (SLOStatus, error) {
	if err := s.Validate(); err != nil {
		return SLOStatus{}, err
	}
	qs := s.queries()
	win := s.window()
	budget := s.errorBudget()
	sel := s.selector()
	st := SLOStatus{
		Name:             s.Name,
		Service:          s.Service,
		Description:      s.Description,
		Labels:           s.Labels,
		SLIKind:          "events",
		Time:             t,
		Objective:        s.objectiveRatio(),
		Window:           win.String(),
		WindowSeconds:    time.Duration(win).Seconds(),
		ErrorBudget:      budget,
		AlertingDisabled: s.Alerting.Disabled,
	}
	if s.SLI.Latency != nil {
		st.SLIKind = "latency"
	}

	burn := map[model.Duration]float64{}
	for _, w := range burnWindows {
		v, src, err := s.read(ctx, q, t, BurnRateRecord+w.String()+sel,
			fmt.Sprintf("(%s) / %s", qs.errorRatio(w), formatFloat(budget)))
		if err != nil {
			return SLOStatus{}, err
		}
		burn[w] = v
		st.BurnRates = append(st.BurnRates, BurnRate{Window: w.String(), Value: number(v), Source: src})
	}
	for _, a := range burnAlerts {
		f := a.Factor(win)
		st.Alerts = append(st.Alerts, AlertCondition{
			Severity:    a.Severity,
			LongWindow:  a.Long.String(),
			ShortWindow: a.Short.String(),
			Threshold:   f,
			// NaN (no data) compares false, so it never holds.
			Holds: burn[a.Long] > f && burn[a.Short] > f,
		})
	}

	ratio, src, err := s.read(ctx, q, t, ErrorRatioRecord+win.String()+sel, qs.errorRatio(win))
	if err != nil {
		return SLOStatus{}, err
	}
	st.WindowSource = src
	st.ErrorRatio = number(ratio)
	st.SLI = number(1 - ratio)
	st.ErrorBudgetRemaining = number(1 - ratio/budget)

	events, _, err := s.query(ctx, q, t, fmt.Sprintf("(%s) * %s", render(qs.total, win), formatFloat(st.WindowSeconds)))
	if err != nil {
		return SLOStatus{}, err
	}
	st.Events = number(events)
	st.ErrorEvents = number(events * ratio)
	st.ErrorBudgetEvents = number(events * budget)
	return st, nil
}

// read returns the value of the recorded series, or of raw when there is
// none.
func (s SLO) read(ctx context.Context, q QueryFunc, t time.Time, recorded, raw string) (float64, string, error) {
	v, ok, err := s.query(ctx, q, t, recorded)
	if err != nil || ok {
		return v, SourceRecorded, err
	}
	v, _, err = s.query(ctx, q, t, raw)
	return v, SourceRaw, err
}

// query returns the single value expr has at t; ok is false, and the
// value NaN, when it has none.
func (s SLO) query(ctx context.Context, q QueryFunc, t time.Time, expr string) (v float64, ok bool, err error) {
	vec, err := q(ctx, expr, t)
	if err != nil {
		return 0, false, fmt.Errorf("cannot query status of SLO %s: %w", s.Name, err)
	}
	switch len(vec) {
	case 0:
		return math.NaN(), false, nil
	case 1:
		return float64(vec[0].Value), true, nil
	default:
		return 0, false, fmt.Errorf("cannot read status of SLO %s: %s returns %d series; aggregate the SLI to one (e.g. with sum)", s.Name, expr, len(vec))
	}
}

// number makes a float JSON-safe: encoding/json refuses NaN and ±Inf.
func number(f float64) *float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}
