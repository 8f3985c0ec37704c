// Package logline holds what every log receiver shares: turning what a
// shipper sent into a logs.Record (service, level, stream labels, trace
// ids, the fields of a JSON body), the sink records go to, and the HTTP
// status of the sink's refusals. The wire formats live in their own
// packages (ingest/loki, ingest/bulk, ingest/jsonlines, ingest/syslog,
// ingest/otlp).
package logline

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vigilhq/vigil/logs/jsonscan"
	"github.com/vigilhq/vigil/storage/events"
	"github.com/vigilhq/vigil/storage/logs"
)

// Sink stores records durably: Append returns once the records it kept
// are in the WAL. It may change the records (redaction) and keep a
// valid subset: a *LimitError says which part was refused by limits.
type Sink interface {
	Append(ctx context.Context, recs []logs.Record) error
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ctx context.Context, recs []logs.Record) error

// Append calls f.
func (f SinkFunc) Append(ctx context.Context, recs []logs.Record) error { return f(ctx, recs) }

// LimitError says some records were refused by a rate, size or
// cardinality limit; the others were stored. Receivers answer 429 with
// Msg, as Loki does, so shippers back off and retry.
type LimitError struct {
	Refused int
	// Which are the indexes, in the batch as passed to Append, of the
	// refused records (ascending), so a protocol with per-item answers
	// (the bulk API) can say which to retry.
	Which []int
	Msg   string
}

func (e *LimitError) Error() string { return e.Msg }

// HTTPStatus is the status a receiver answers for a Sink error: 429 for
// limits, 503 when the disk is full (retry later), 500 otherwise.
func HTTPStatus(err error) int {
	var le *LimitError
	switch {
	case err == nil:
		return http.StatusNoContent
	case errors.As(err, &le):
		return http.StatusTooManyRequests
	case errors.Is(err, events.ErrDiskFull):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Fields names the JSON fields that hold a record's time, message and
// level. Each list is tried in order; the first present wins. The zero
// value uses DefaultFields.
type Fields struct {
	Time    []string
	Message []string
	Level   []string
}

// DefaultFields are the names structlog, python-json-logger, logrus, zap,
// zerolog, pino, bunyan, ECS and Logstash use.
var DefaultFields = Fields{
	Time:    []string{"timestamp", "time", "@timestamp", "ts", "t", "asctime", "date"},
	Message: []string{"message", "msg", "event", "_msg", "log", "text"},
	Level:   []string{"level", "levelname", "severity", "log.level", "lvl", "loglevel", "level_name", "status"},
}

// Trace and span id field names, as OpenTelemetry's Python logging
// instrumentation (otelTraceID), ECS (trace.id), Datadog-style and plain
// snake and camel case write them.
var (
	traceIDFields = []string{"trace_id", "traceId", "traceID", "otelTraceID", "trace.id", "traceid"}
	spanIDFields  = []string{"span_id", "spanId", "spanID", "otelSpanID", "span.id", "spanid"}
	serviceFields = []string{"service.name", "service_name", "service", "otelServiceName", "app", "application", "job"}
)

// maxFlatten bounds the fields taken from one JSON body, so a hostile
// body cannot make a record of a million attributes.
const maxFlatten = 256

// ParseJSONBody reads the fields of a JSON object body into rec: the
// message field becomes the body (the whole object stays the body if it
// has none), the time and level fields set the record's time and
// severity, and every other field becomes an attribute (nested objects
// flattened with dots, arrays kept as compact JSON). It reports whether
// body was a JSON object; if not, rec is unchanged.
func ParseJSONBody(rec *logs.Record, body []byte, f Fields) bool {
	return ParseObject(rec, string(body), f)
}

// ParseObject is ParseJSONBody for a string. The record's strings are
// substrings of line where they need no unescaping, so a receiver that
// converts a whole request body to one string once allocates little more
// per line than the attribute map.
func ParseObject(rec *logs.Record, line string, f Fields) bool {
	flat := make(map[string]string, 8)
	if !Flatten(line, flat) {
		return false
	}
	applyFlat(rec, flat, f, strings.TrimSpace(line))
	return true
}

// Flatten reads a JSON object into out: nested keys joined with dots,
// strings unescaped, numbers and booleans as written, null as "", arrays
// as compact JSON; at most 256 fields. It reports whether line was one
// JSON object (out may hold some fields when it was not).
func Flatten(line string, out map[string]string) bool {
	var sc jsonscan.Scanner
	sc.Reset(line)
	sc.WS()
	if sc.I >= len(sc.S) || sc.S[sc.I] != '{' {
		return false
	}
	var key []byte
	if err := flattenScan(&sc, 0, &key, out); err != nil {
		return false
	}
	sc.WS()
	return sc.I == len(sc.S)
}

func flattenScan(sc *jsonscan.Scanner, depth int, key *[]byte, out map[string]string) error {
	if depth > jsonscan.MaxDepth {
		return jsonscan.ErrJSON
	}
	return sc.Object(depth, func(k string) error {
		top := len(*key) == 0
		// Str's strings are substrings of the text, or fresh copies
		// when they had escapes: either can be kept.
		name := k
		n := len(*key)
		if !top {
			*key = append(*key, '.')
		}
		*key = append(*key, k...)
		defer func() { *key = (*key)[:n] }()
		if sc.I >= len(sc.S) {
			return jsonscan.ErrJSON
		}
		full := func() string {
			if top {
				return name
			}
			return string(*key)
		}
		var v string
		switch sc.S[sc.I] {
		case '{':
			return flattenScan(sc, depth+1, key, out)
		case '[':
			start := sc.I
			if err := sc.Skip(depth + 1); err != nil {
				return err
			}
			var b bytes.Buffer
			if err := json.Compact(&b, []byte(sc.S[start:sc.I])); err != nil {
				return jsonscan.ErrJSON
			}
			v = b.String()
		case '"':
			var err error
			if v, err = sc.Str(); err != nil {
				return err
			}
		default:
			var err error
			if v, err = sc.Scalar(); err != nil {
				return err
			}
			if v == "null" {
				v = ""
			}
		}
		if len(out) < maxFlatten {
			out[full()] = v
		}
		return nil
	})
}

// ApplyObject sets rec from a decoded JSON object (decoded with
// UseNumber) as ParseJSONBody does; without a message field the body is
// left as it was.
func ApplyObject(rec *logs.Record, obj map[string]any, f Fields) {
	applyObject(rec, obj, f, "")
}

func applyObject(rec *logs.Record, obj map[string]any, f Fields, raw string) {
	flat := make(map[string]string, len(obj))
	flatten("", obj, flat)
	applyFlat(rec, flat, f, raw)
}

// applyFlat sets rec from flattened fields: the message field becomes the
// body (raw, when not empty, is the body of an object without one), the
// time and level fields set time and severity, the rest are attributes.
func applyFlat(rec *logs.Record, flat map[string]string, f Fields, raw string) {
	if f.Time == nil && f.Message == nil && f.Level == nil {
		f = DefaultFields
	}
	if msg, k := first(flat, f.Message); k != "" {
		rec.Body = msg
		delete(flat, k)
	} else if raw != "" {
		rec.Body = raw
	}
	if ts, k := first(flat, f.Time); k != "" {
		if t, ok := ParseTime(ts); ok {
			rec.Time = t
			delete(flat, k)
		}
	}
	if lvl, k := first(flat, f.Level); k != "" {
		if n := logs.SeverityOf(lvl); n != 0 {
			rec.SeverityNumber, rec.SeverityText = n, lvl
			delete(flat, k)
		}
	}
	if len(flat) == 0 {
		return
	}
	if rec.Attributes == nil {
		rec.Attributes = make(map[string]string, len(flat))
	}
	for k, v := range flat {
		rec.Attributes[k] = v
	}
}

func first(m map[string]string, names []string) (string, string) {
	for _, n := range names {
		if v, ok := m[n]; ok {
			return v, n
		}
	}
	return "", ""
}

func flatten(prefix string, obj map[string]any, out map[string]string) {
	for k, v := range obj {
		if len(out) >= maxFlatten {
			return
		}
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		switch x := v.(type) {
		case map[string]any:
			flatten(key, x, out)
		case string:
			out[key] = x
		case json.Number:
			out[key] = x.String()
		case bool:
			out[key] = strconv.FormatBool(x)
		case nil:
			out[key] = ""
		default:
			b, _ := json.Marshal(x)
			out[key] = string(b)
		}
	}
}

// ParseTime reads a timestamp as log records write it: RFC 3339 (with or
// without fraction and zone), "2006-01-02 15:04:05[,.]000" (Python's
// asctime, read as UTC), or Unix seconds, milliseconds, microseconds or
// nanoseconds (told apart by magnitude).
func ParseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	if c := s[0]; c >= '0' && c <= '9' && !strings.ContainsAny(s, "-:T ") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f <= 0 {
			return time.Time{}, false
		}
		switch {
		case f < 1e11: // seconds
			sec := int64(f)
			return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), true
		case f < 1e14:
			return time.UnixMilli(int64(f)).UTC(), true
		case f < 1e17:
			return time.UnixMicro(int64(f)).UTC(), true
		default:
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return time.Time{}, false
			}
			return time.Unix(0, n).UTC(), true
		}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05,999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// Options say how Finish derives what a source did not send.
type Options struct {
	// Now is the observed time for records without one.
	Now time.Time
	// ExtraLabels are stream labels a source adds (syslog's host and
	// app, the bulk index) when it derives the stream.
	ExtraLabels map[string]string
	// DefaultService names records no field names a service for.
	DefaultService string
	// Stream, when set, is the canonical text (logs.StreamString) of the
	// stream labels passed to Finish, rendered once by a receiver that
	// finishes many records of one stream.
	Stream string
	// Streams, when set, keeps one copy of each stream text (a receiver
	// makes one per request): records of a stream then share their
	// Stream string, which saves memory and makes the store's sort by
	// stream compare pointers rather than bytes.
	Streams map[string]string
}

// Finish completes a record a receiver decoded. stream holds the stream
// labels the shipper sent (Loki); when it is nil the stream is derived:
// service_name, level and o.ExtraLabels. Finish also takes the trace and
// span ids and the service from the usual attribute names, the level from
// the severity text, and the time from the observed time when unset.
func Finish(rec *logs.Record, stream map[string]string, o Options) {
	if rec.ObservedTime.IsZero() {
		rec.ObservedTime = o.Now
	}
	if rec.Time.IsZero() {
		rec.Time = rec.ObservedTime
	}
	if !rec.HasTrace() {
		if v, k := first(rec.Attributes, traceIDFields); k != "" {
			if id, ok := parseID(v, 16); ok {
				copy(rec.TraceID[:], id)
				delete(rec.Attributes, k)
			}
		}
	}
	if rec.SpanID == [8]byte{} {
		if v, k := first(rec.Attributes, spanIDFields); k != "" {
			if id, ok := parseID(v, 8); ok {
				copy(rec.SpanID[:], id)
				delete(rec.Attributes, k)
			}
		}
	}
	if rec.SeverityNumber == 0 && rec.SeverityText != "" {
		rec.SeverityNumber = logs.SeverityOf(rec.SeverityText)
	}
	if rec.Service == "" {
		for _, m := range []map[string]string{stream, rec.Resource, rec.Attributes} {
			if v, _ := first(m, serviceFields); v != "" {
				rec.Service = v
				break
			}
		}
	}
	if rec.Service == "" {
		rec.Service = o.DefaultService
	}
	if rec.Service == "" {
		rec.Service = "unknown_service"
	}
	if stream != nil && o.Stream != "" {
		rec.Stream = o.Stream
		return
	}
	if stream == nil {
		stream = make(map[string]string, 2+len(o.ExtraLabels))
		for k, v := range o.ExtraLabels {
			stream[k] = v
		}
		stream["service_name"] = rec.Service
		stream["level"] = rec.Level()
	}
	rec.Stream = logs.StreamString(stream)
	if o.Streams != nil {
		if s, ok := o.Streams[rec.Stream]; ok {
			rec.Stream = s
		} else if len(o.Streams) < 10_000 {
			o.Streams[rec.Stream] = rec.Stream
		}
	}
}

// parseID reads a hex id of n bytes, or a UUID-shaped one for trace ids;
// an all-zero id counts as none.
func parseID(s string, n int) ([]byte, bool) {
	s = strings.ReplaceAll(strings.TrimSpace(s), "-", "")
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if len(s) != 2*n {
		return nil, false
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, false
	}
	for _, c := range b {
		if c != 0 {
			return b, true
		}
	}
	return nil, false
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}

type tenantKey struct{}

// WithTenant returns ctx carrying the tenant a batch is written for (the
// X-Scope-OrgID header, as Loki names it); limits are per tenant.
func WithTenant(ctx context.Context, tenant string) context.Context {
	return context.WithValue(ctx, tenantKey{}, tenant)
}

// DefaultTenant is the tenant of requests that name none.
const DefaultTenant = "default"

// TenantFrom is the tenant WithTenant stored, or DefaultTenant.
func TenantFrom(ctx context.Context) string {
	if t, ok := ctx.Value(tenantKey{}).(string); ok && t != "" {
		return t
	}
	return DefaultTenant
}
