// Package slo turns service level objectives written in a short YAML spec
// into Prometheus recording and alerting rules, and reads an SLO's current
// state (budget remaining, burn rates, which burn alerts hold) back from a
// query function. It knows nothing of HTTP or of the server: spec in,
// rules and status out.
//
// A spec file holds a list of SLOs:
//
//	slos:
//	  - name: checkout-availability      # [a-zA-Z0-9_-]+, unique across files
//	    service: checkout
//	    objective: 99.9                   # percent of good events, 0 < x < 100
//	    window: 30d                       # rolling compliance period (default 30d)
//	    labels: {team: payments}          # added to every generated series and alert
//	    sli:
//	      events:
//	        good:  sum(rate(http_requests_total{service="checkout",code!~"5.."}[{{.window}}]))
//	        total: sum(rate(http_requests_total{service="checkout"}[{{.window}}]))
//	    alerting:
//	      page:   {labels: {severity: page}}
//	      ticket: {labels: {severity: ticket}}
//
// An events SLI gives good (or bad) and total as PromQL per-second rates;
// {{.window}} is replaced by each window the rules need (5m … 30d) and is
// the only template variable. A latency SLI names a classic histogram
// (metric, without _bucket) and a threshold in seconds that must be one of
// its bucket bounds: good events are the bucket{le=threshold}, all events
// the _count.
//
// The generated rules follow the Google SRE workbook's multiwindow,
// multi-burn-rate alerts, as Sloth and Pyrra generate them; see Compile.
package slo

import (
	"fmt"
	"math/big"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
)

// DefaultWindow is the compliance period of an SLO that names none.
const DefaultWindow = model.Duration(30 * 24 * time.Hour)

// SLO is one service level objective. Parse fills File and Line so that
// errors point into the spec; an SLO built in code may leave them empty.
type SLO struct {
	Name        string
	Service     string
	Description string
	// Objective is the percentage of events that must be good,
	// 0 < Objective < 100 (99.9 means 99.9%).
	Objective float64
	// Window is the rolling compliance period; zero means DefaultWindow.
	Window model.Duration
	// Labels are added to every generated series and alert.
	Labels   map[string]string
	SLI      SLI
	Alerting Alerting

	File string
	Line int

	src *source // positions from Parse; nil for an SLO built in code
}

// SLI says which events are good. Exactly one of Events and Latency is set.
type SLI struct {
	Events  *EventsSLI
	Latency *LatencySLI
}

// EventsSLI is a ratio of PromQL per-second rates. Total and exactly one of
// Good and Bad are set; each contains {{.window}} where the range goes.
type EventsSLI struct {
	Good  string
	Bad   string
	Total string
}

// LatencySLI counts as good the requests of a classic histogram that took
// at most Threshold seconds.
type LatencySLI struct {
	// Metric is the histogram's base name; Metric_bucket and Metric_count
	// are queried.
	Metric string
	// Selector holds extra matchers, e.g. `{service="checkout"}`.
	Selector string
	// Threshold must equal one of the histogram's le bounds, or no bucket
	// matches and the SLI has no data.
	Threshold float64
}

// Alerting configures the two burn alerts. Labels and annotations given
// here are added to (and override) the generated ones.
type Alerting struct {
	Page     AlertSpec
	Ticket   AlertSpec
	Disabled bool
}

// AlertSpec is the extra labels and annotations of one severity's alerts.
type AlertSpec struct {
	Labels      map[string]string
	Annotations map[string]string
}

// source remembers where Parse found each field, so that validation can
// name a line, and which fields already failed to decode, so that they are
// reported once.
type source struct {
	index int            // position in the file's slos list
	pos   map[string]int // field path ("sli.events.good") -> line
	bad   map[string]bool
}

// window returns the compliance period, applying the default.
func (s SLO) window() model.Duration {
	if s.Window == 0 {
		return DefaultWindow
	}
	return s.Window
}

// objectiveRatio and errorBudget are computed from the shortest decimal
// form of Objective, so 99.9 gives exactly the float64 nearest 0.999 and
// 0.001 rather than 0.0009999999999998899 (what 1-0.999 gives in float
// arithmetic); the generated rules then show the numbers the user wrote.
func (s SLO) objectiveRatio() float64 {
	r := s.objectiveRat()
	r.Quo(r, big.NewRat(100, 1))
	f, _ := r.Float64()
	return f
}

func (s SLO) errorBudget() float64 {
	r := s.objectiveRat()
	r.Sub(big.NewRat(100, 1), r)
	r.Quo(r, big.NewRat(100, 1))
	f, _ := r.Float64()
	return f
}

func (s SLO) objectiveRat() *big.Rat {
	r, ok := new(big.Rat).SetString(strconv.FormatFloat(s.Objective, 'g', -1, 64))
	if !ok {
		// Only NaN and ±Inf fail, and Validate refuses them.
		panic(fmt.Sprintf("BUG: objective %v reached the rule compiler", s.Objective))
	}
	return r
}

// formatFloat prints a number the way PromQL and YAML read it back exactly.
func formatFloat(f float64) string {
	return strconv.FormatFloat(f, 'g', -1, 64)
}
