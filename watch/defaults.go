package watch

// DefaultRulesFile names the built-in anomaly rules in the rule manager
// (as the file of their group) when anomaly.default_rules is on.
const DefaultRulesFile = "builtin:anomaly-defaults.yml"

// defaultRules watch every service's request rate (both ways: a drop in
// traffic is news too), error ratio and p99 latency (up only), from the
// span metrics Vigil derives from traces and from the HTTP metric names
// most clients use: prometheus_client and most frameworks'
// http_requests_total and http_request_duration_seconds, and
// OpenTelemetry's semantic-convention http.server.request.duration. A rule
// whose metrics do not exist costs one empty query a minute.
//
// The error ratios add 0 for services without errors, so their detectors
// learn that errors are normally absent; the rates are over 5 minutes to
// smooth scrape jitter. Entry spans are SERVER and CONSUMER spans, as in
// the SLA report. Error ratios and p99s are watched only while a service
// serves at least 0.1 requests per second: over fewer requests they are
// noise (one failure in three calls is a 33% error ratio).
//
// The request rates need 15 days of history before they may alert:
// automatic seasonality needs 14 days to learn a week, and until then a
// quiet weekend is a drop in traffic. Error ratios and p99s alert only
// upwards, which a weekend rarely looks like, after the default 72h.
// defaultRules is a format: the group interval goes in.
const defaultRules = `groups:
  - name: vigil-default-anomalies
    interval: %s
    rules:
      - anomaly: ServiceRequestRateAnomaly
        expr: sum by (service) (rate(traces_spanmetrics_calls_total{span_kind=~"SPAN_KIND_SERVER|SPAN_KIND_CONSUMER"}[5m]))
        direction: both
        min_history: 15d
        labels: {severity: warning, source: anomaly}
      - anomaly: ServiceErrorRatioAnomaly
        expr: |
          (
            sum by (service) (rate(traces_spanmetrics_calls_total{span_kind=~"SPAN_KIND_SERVER|SPAN_KIND_CONSUMER", status_code="STATUS_CODE_ERROR"}[5m]))
            or
            0 * sum by (service) (rate(traces_spanmetrics_calls_total{span_kind=~"SPAN_KIND_SERVER|SPAN_KIND_CONSUMER"}[5m]))
          )
          / (sum by (service) (rate(traces_spanmetrics_calls_total{span_kind=~"SPAN_KIND_SERVER|SPAN_KIND_CONSUMER"}[5m])) >= 0.1)
        direction: up
        labels: {severity: warning, source: anomaly}
      - anomaly: ServiceLatencyP99Anomaly
        expr: |
          histogram_quantile(0.99, sum by (service, le) (rate(traces_spanmetrics_latency_bucket{span_kind=~"SPAN_KIND_SERVER|SPAN_KIND_CONSUMER"}[5m])))
          and on (service) sum by (service) (rate(traces_spanmetrics_calls_total{span_kind=~"SPAN_KIND_SERVER|SPAN_KIND_CONSUMER"}[5m])) >= 0.1
        direction: up
        labels: {severity: warning, source: anomaly}
      - anomaly: HTTPRequestRateAnomaly
        expr: sum by (job) (rate(http_requests_total[5m]))
        direction: both
        min_history: 15d
        labels: {severity: warning, source: anomaly}
      - anomaly: HTTPErrorRatioAnomaly
        expr: |
          (
            sum by (job) (rate(http_requests_total{code=~"5.."}[5m]) or rate(http_requests_total{status=~"5.."}[5m]) or rate(http_requests_total{status_code=~"5.."}[5m]))
            or
            0 * sum by (job) (rate(http_requests_total[5m]))
          )
          / (sum by (job) (rate(http_requests_total[5m])) >= 0.1)
        direction: up
        labels: {severity: warning, source: anomaly}
      - anomaly: HTTPLatencyP99Anomaly
        expr: |
          histogram_quantile(0.99, sum by (job, le) (rate(http_request_duration_seconds_bucket[5m])))
          and on (job) sum by (job) (rate(http_request_duration_seconds_count[5m])) >= 0.1
        direction: up
        labels: {severity: warning, source: anomaly}
      - anomaly: OTelHTTPRequestRateAnomaly
        expr: sum by (job) (rate(http_server_request_duration_seconds_count[5m]))
        direction: both
        min_history: 15d
        labels: {severity: warning, source: anomaly}
      - anomaly: OTelHTTPErrorRatioAnomaly
        expr: |
          (
            sum by (job) (rate(http_server_request_duration_seconds_count{http_response_status_code=~"5.."}[5m]))
            or
            0 * sum by (job) (rate(http_server_request_duration_seconds_count[5m]))
          )
          / (sum by (job) (rate(http_server_request_duration_seconds_count[5m])) >= 0.1)
        direction: up
        labels: {severity: warning, source: anomaly}
      - anomaly: OTelHTTPLatencyP99Anomaly
        expr: |
          histogram_quantile(0.99, sum by (job, le) (rate(http_server_request_duration_seconds_bucket[5m])))
          and on (job) sum by (job) (rate(http_server_request_duration_seconds_count[5m])) >= 0.1
        direction: up
        labels: {severity: warning, source: anomaly}
`
