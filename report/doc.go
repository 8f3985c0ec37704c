// Package report answers the monthly SLA question for one service:
// availability, p50/p95/p99 latency, error count, total requests and
// whether its SLO was met over a period, with a daily breakdown, as JSON,
// CSV, Markdown or a self-contained HTML page.
//
// # Where the numbers come from
//
// Build runs instant PromQL queries through a QueryFunc, so the same code
// serves the in-process engine (Handler) and a remote Vigil or Prometheus
// (HTTPQueryFunc). Every expression is kept in Report.Queries so a user
// can re-run it in Grafana as an instant query at Report.To.
//
// With R = To-From, evaluated at To:
//
//	total    = sum(increase(calls{sel}[R]))
//	errors   = sum(increase(calls{sel, error}[R]))
//	pQ       = histogram_quantile(Q, sum by (le) (increase(bucket{sel}[R])))
//	availability = 100 * (1 - errors/total)
//
// Source "spans" reads the RED metrics derived from spans
// (traces_spanmetrics_*) of the entry spans of the service, by default
// span_kind SPAN_KIND_SERVER and SPAN_KIND_CONSUMER: client, producer and
// internal spans are the service calling others or its own work, and
// counting them would count one request several times. Sources "slo" and
// "custom" read caller-given counters (typically http_requests_total of a
// prometheus_client service) and a classic or native latency histogram.
//
// # What increase() does to the numbers
//
// increase() is Prometheus's: the range is left-open, (To-R, To], and the
// change between the first and last sample inside it is extrapolated to
// the range's edges when the samples reach within 1.1 sample intervals of
// them (else by half an interval), but never below a counter's zero.
// Totals are therefore not integers, and a counter sampled every minute
// over a day has its first in-range minute's growth estimated rather than
// measured. Counter resets (restarts) are handled. Two consequences worth
// knowing:
//
//   - A series born inside the range loses its first sample's value: a
//     counter first stored at 1 that never moves counts 0. Span metrics,
//     whose idle label sets expire after 15 minutes, are stored with a 0
//     before each new series' first sample for this reason
//     (gather.Options.ZeroNewCounters); other sources' counters born
//     inside the range (a prometheus_client label set seen for the first
//     time) can still read low.
//   - The daily rows are separate increase() queries over each UTC day,
//     so their sum can differ slightly from the period's total.
//
// # Missing data is an error, not zeros
//
// A period without any sample of the chosen metrics is ErrNoData. So is a
// period that starts before the oldest data the store keeps (retention):
// when the first UTC days of the period have no samples of the service,
// and (for span metrics) no other service has any either that first day,
// Build refuses and names the first day with data instead of reporting a
// partial month as a full one. The check works to the day: data that
// starts mid-way through the first day is reported as that day's.
package report
