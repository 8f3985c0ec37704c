package report

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/prometheus/common/model"
)

// QueryFunc runs the PromQL instant query expr at t.
type QueryFunc func(ctx context.Context, expr string, t time.Time) (model.Vector, error)

// Sources of the request metrics.
const (
	SourceSpans  = "spans"
	SourceSLO    = "slo"
	SourceCustom = "custom"
)

// MaxRange bounds To-From: a year and a bit, enough for annual reports,
// and a bound on the number of daily queries.
const MaxRange = 400 * 24 * time.Hour

// DefaultSpanKinds are the entry spans of a service: the requests it
// serves and the messages it consumes.
var DefaultSpanKinds = []string{"SPAN_KIND_SERVER", "SPAN_KIND_CONSUMER"}

// Request says which service, period and metrics a report covers.
type Request struct {
	Service  string
	From, To time.Time

	// Source selects the metrics: SourceSpans, SourceSLO or SourceCustom.
	// "" means auto: span metrics when the service has them in the period,
	// else the queries below (reported as SourceSLO, as the caller filled
	// them from the service's SLO), else ErrNoData.
	Source string

	// TotalQuery and ErrorQuery count requests and failed requests for
	// SourceSLO and SourceCustom. Each is either a counter selector, such
	// as http_requests_total{job="api",code=~"5.."}, which the report
	// wraps in sum(increase(...[range])), or a PromQL expression returning
	// at most one series that uses the placeholder {{.range}} for the
	// period's range, such as sum(increase(x_total[{{.range}}])).
	TotalQuery, ErrorQuery string
	// LatencyHistogram is the base name of a latency histogram in seconds
	// (http_request_duration_seconds: classic _bucket series or a native
	// histogram), and LatencySelector its label matchers, with or without
	// braces (job="api"). Empty means no latency figures.
	LatencyHistogram, LatencySelector string

	// Objective is the availability objective in percent (99.9); zero
	// means none. LatencyObjective is an optional latency objective.
	Objective        float64
	LatencyObjective *LatencyObjective

	// SpanKinds are the span_kind values counted for SourceSpans; nil
	// means DefaultSpanKinds.
	SpanKinds []string
}

// LatencyObjective is "the Quantile of latency is at most Seconds", e.g.
// p99 <= 0.5s is {0.99, 0.5}.
type LatencyObjective struct {
	Quantile float64 `json:"quantile"`
	Seconds  float64 `json:"seconds"`
}

// ErrNoData is wrapped by Build's errors when the store has no samples to
// report on.
var ErrNoData = errors.New("no data")

// InvalidRequestError is a Request that cannot be reported on. Field is
// the Request field at fault, so a caller can name its own parameter.
type InvalidRequestError struct {
	Field string
	Msg   string
}

func (e *InvalidRequestError) Error() string { return e.Field + ": " + e.Msg }

func invalid(field, format string, args ...any) error {
	return &InvalidRequestError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// validate checks r and returns it with defaults filled in.
func (r Request) validate() (Request, error) {
	switch {
	case r.Service == "":
		return r, invalid("Service", "the service name is empty")
	case !utf8.ValidString(r.Service):
		return r, invalid("Service", "the service name is not valid UTF-8")
	case r.From.IsZero():
		return r, invalid("From", "the start of the period is not set")
	case r.To.IsZero():
		return r, invalid("To", "the end of the period is not set")
	case !r.From.Before(r.To):
		return r, invalid("From", "the start %s is not before the end %s", r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339))
	case r.To.Sub(r.From) > MaxRange:
		return r, invalid("From", "the period of %.1f days is longer than the %d days a report may cover", r.To.Sub(r.From).Hours()/24, int(MaxRange.Hours()/24))
	}
	// PromQL ranges count milliseconds; finer times would make the
	// reported period and the queried one differ.
	r.From, r.To = r.From.Truncate(time.Millisecond).UTC(), r.To.Truncate(time.Millisecond).UTC()
	if !r.From.Before(r.To) {
		return r, invalid("From", "the period is shorter than a millisecond")
	}

	switch r.Source {
	case "", SourceSpans, SourceSLO, SourceCustom:
	default:
		return r, invalid("Source", "unknown source %q; want %s, %s or %s", r.Source, SourceSpans, SourceSLO, SourceCustom)
	}
	if r.Source == SourceSLO || r.Source == SourceCustom {
		if r.TotalQuery == "" {
			return r, invalid("TotalQuery", "source %s needs a total query", r.Source)
		}
		if r.ErrorQuery == "" {
			return r, invalid("ErrorQuery", "source %s needs an error query", r.Source)
		}
	}
	if (r.TotalQuery == "") != (r.ErrorQuery == "") {
		if r.TotalQuery == "" {
			return r, invalid("TotalQuery", "an error query needs a total query")
		}
		return r, invalid("ErrorQuery", "a total query needs an error query")
	}
	if r.LatencySelector != "" && r.LatencyHistogram == "" {
		return r, invalid("LatencyHistogram", "a latency selector needs a latency histogram name")
	}
	// Names outside the legacy character set would need PromQL's quoted
	// form, which the _bucket suffix cannot be appended to.
	if r.LatencyHistogram != "" && !model.LegacyValidation.IsValidMetricName(r.LatencyHistogram) {
		return r, invalid("LatencyHistogram", "%q is not a metric name of letters, digits, _ and :", r.LatencyHistogram)
	}

	if r.Objective != 0 && !(r.Objective > 0 && r.Objective < 100) {
		return r, invalid("Objective", "the availability objective %v is not a percentage between 0 and 100 (exclusive; 100 leaves no error budget)", r.Objective)
	}
	if lo := r.LatencyObjective; lo != nil {
		if !(lo.Quantile > 0 && lo.Quantile < 1) {
			return r, invalid("LatencyObjective", "the quantile %v is not between 0 and 1 (exclusive)", lo.Quantile)
		}
		if !(lo.Seconds > 0) || math.IsInf(lo.Seconds, 0) {
			return r, invalid("LatencyObjective", "the latency %v is not a positive number of seconds", lo.Seconds)
		}
	}

	if r.SpanKinds == nil {
		r.SpanKinds = DefaultSpanKinds
	}
	if len(r.SpanKinds) == 0 {
		return r, invalid("SpanKinds", "no span kinds given")
	}
	for _, k := range r.SpanKinds {
		if k == "" || !utf8.ValidString(k) {
			return r, invalid("SpanKinds", "span kind %q is empty or not valid UTF-8", k)
		}
	}
	return r, nil
}
