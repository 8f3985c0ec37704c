// Package logql parses and evaluates LogQL, Grafana Loki's query
// language, over log records (storage/logs.Record) read from a Source.
// docs/logql.md lists what is supported.
//
// # Labels of a line
//
// Inside a pipeline a line's labels start as:
//   - its stream labels (Record.Stream parsed; the parse and the stream
//     selector's verdict are cached per distinct stream string);
//   - its structured metadata, which never overrides a stream label:
//     every Resource and then Attributes key, sanitised as Loki sanitises
//     OTLP attribute names (a byte outside [a-zA-Z0-9_] becomes '_', a
//     leading digit gets a '_' prefix); trace_id and span_id in lowercase
//     hex when set; and detected_level (logs.LevelOf of the severity
//     number, "unknown" for 0).
//
// Parser stages (json, logfmt, regexp, pattern) add labels: a name that
// is a stream label gets the suffix _extracted, as in Loki; otherwise the
// parsed value replaces structured metadata or an earlier parser's value.
// | json over a body that is not JSON is a no-op when the record has
// Attributes (its JSON fields were parsed at ingest; | json a="x.y" then
// reads attribute "x.y"), and otherwise sets __error__="JSONParserErr".
// Numeric, duration and bytes label filters over values that do not
// convert set __error__="LabelFilterErr" and keep the line; unwrap sets
// "SampleExtractionErr". A metric query fails when a line reaching its
// range aggregation carries __error__ (filter with | __error__="").
// Labels with empty values count as absent.
//
// Log query results are grouped into streams by the full final label
// set (Loki without categorize-labels); metric series likewise before
// aggregation.
//
// # Evaluation
//
// Line filters that come before any line_format or decolorize run on the
// body before labels are built. A range aggregation reads each line once:
// samples are accumulated per series into the intervals between window
// boundaries ((t-range, t] per step, shifted by offset). sum over
// count_over_time, rate, bytes_over_time, bytes_rate and sum_over_time,
// min over min_over_time and max over max_over_time group lines by the
// outer aggregation's labels directly.
package logql
