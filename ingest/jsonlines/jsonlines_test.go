package jsonlines

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/vigilhq/vigil/ingest"
	"github.com/vigilhq/vigil/ingest/logline"
	"github.com/vigilhq/vigil/storage/events"
	"github.com/vigilhq/vigil/storage/logs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var now = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// sink keeps what it is given, or fails with err.
type sink struct {
	mu   sync.Mutex
	recs []logs.Record
	err  error
}

func (s *sink) Append(_ context.Context, recs []logs.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.recs = append(s.recs, recs...)
	return nil
}

func newHandler(s logline.Sink, m *ingest.Metrics) *Handler {
	return New(Options{Sink: s, Metrics: m, Now: func() time.Time { return now }})
}

// send posts body to h at /insert/jsonline?query and returns the status
// and the answer's text.
func send(t *testing.T, h http.Handler, query string, hdr map[string]string, body []byte) (int, string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/insert/jsonline?"+query, bytes.NewReader(body))
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, strings.TrimSpace(w.Body.String())
}

// one sends a single line and returns the one record stored.
func one(t *testing.T, query string, hdr map[string]string, line string) logs.Record {
	t.Helper()
	s := &sink{}
	code, msg := send(t, newHandler(s, nil), query, hdr, []byte(line))
	if code != 204 || len(s.recs) != 1 {
		t.Fatalf("%s: status %d %q, %d records", line, code, msg, len(s.recs))
	}
	return s.recs[0]
}

func TestFieldSelection(t *testing.T) {
	for _, c := range []struct {
		name, query string
		hdr         map[string]string
		line        string
		body        string
		time        time.Time
		level       string
		service     string
		attrs       map[string]string
	}{
		{name: "defaults",
			line: `{"ts":"2024-05-01T10:00:00Z","level":"warn","msg":"disk almost full","disk":"/dev/sda1","service":"api"}`,
			body: "disk almost full", time: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC), level: "warn", service: "api",
			attrs: map[string]string{"disk": "/dev/sda1", "service": "api"}},
		{name: "VictoriaLogs names", line: `{"_msg":"hello","_time":"2024-05-01T10:00:00.5Z"}`,
			body: "hello", time: time.Date(2024, 5, 1, 10, 0, 0, 5e8, time.UTC), level: "unknown", service: "unknown_service"},
		{name: "chosen fields", query: "_msg_field=log.message,text&_time_field=when&level_field=sev&service=billing",
			line: `{"log":{"message":"paid"},"text":"not this","when":1714557600,"sev":"ERROR","msg":"attr now"}`,
			body: "paid", time: time.Unix(1714557600, 0), level: "error", service: "billing",
			attrs: map[string]string{"text": "not this", "msg": "attr now"}},
		{name: "second candidate", query: "_msg_field=missing,text",
			line: `{"text":"second"}`, body: "second", time: now, level: "unknown", service: "unknown_service"},
		{name: "VL headers", hdr: map[string]string{"VL-Msg-Field": "m", "VL-Time-Field": "at"},
			line: `{"m":"from header","at":"2024-05-01T10:00:00Z"}`,
			body: "from header", time: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC), level: "unknown", service: "unknown_service"},
		{name: "query beats header", query: "_msg_field=q", hdr: map[string]string{"VL-Msg-Field": "h"},
			line: `{"q":"query","h":"header"}`, body: "query", time: now, level: "unknown", service: "unknown_service",
			attrs: map[string]string{"h": "header"}},
		{name: "no message field keeps the object", line: `{"a":1,"b":{"c":true}}`,
			body: `{"a":1,"b":{"c":true}}`, time: now, level: "unknown", service: "unknown_service",
			attrs: map[string]string{"a": "1", "b.c": "true"}},
		{name: "service field beats default", query: "service=fallback", line: `{"msg":"x","service.name":"cart"}`,
			body: "x", time: now, level: "unknown", service: "cart", attrs: map[string]string{"service.name": "cart"}},
		{name: "unparsable time stays an attribute", line: `{"msg":"x","time":"yesterday"}`,
			body: "x", time: now, level: "unknown", service: "unknown_service", attrs: map[string]string{"time": "yesterday"}},
	} {
		r := one(t, c.query, c.hdr, c.line)
		if r.Body != c.body || !r.Time.Equal(c.time) || r.Level() != c.level || r.Service != c.service || !r.ObservedTime.Equal(now) {
			t.Errorf("%s: body %q time %v level %s service %q observed %v", c.name, r.Body, r.Time, r.Level(), r.Service, r.ObservedTime)
		}
		if !equal(r.Attributes, c.attrs) {
			t.Errorf("%s: attributes %v, want %v", c.name, r.Attributes, c.attrs)
		}
	}
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestStreamFields(t *testing.T) {
	line := `{"msg":"started","app":"web","k8s":{"pod":"web-1"},"level":"info","empty":"","other":"x"}`
	for _, c := range []struct {
		query string
		hdr   map[string]string
	}{
		{query: "_stream_fields=app,k8s.pod,empty,absent"},
		{hdr: map[string]string{"VL-Stream-Fields": "app, k8s.pod"}},
	} {
		r := one(t, c.query, c.hdr, line)
		want := `{app="web", k8s_pod="web-1", level="info", service_name="web"}`
		if r.Stream != want {
			t.Errorf("%v: stream %s, want %s", c, r.Stream, want)
		}
		if _, ok := r.Attributes["app"]; ok || r.Attributes["other"] != "x" {
			t.Errorf("%v: attributes %v: a stream field is not an attribute, the others are", c, r.Attributes)
		}
	}
	// Without stream fields the stream is service_name and level only.
	if r := one(t, "", nil, line); r.Stream != `{level="info", service_name="web"}` {
		t.Errorf("default stream %s", r.Stream)
	}
}

func TestTimeFormats(t *testing.T) {
	want := time.Date(2024, 5, 1, 10, 20, 30, 0, time.UTC)
	for _, ts := range []string{
		`"2024-05-01T10:20:30Z"`,
		`"2024-05-01T12:20:30+02:00"`,
		`1714558830`,
		`"1714558830"`,
		`1714558830000`,
		`"1714558830000"`,
		`1714558830000000`,
		`1714558830000000000`,
		`"1714558830000000000"`,
		`"2024-05-01 10:20:30,000"`, // Python's asctime
		`"2024-05-01 10:20:30.000"`,
	} {
		r := one(t, "", nil, `{"msg":"x","time":`+ts+`}`)
		if !r.Time.Equal(want) {
			t.Errorf("time %s read as %v", ts, r.Time)
		}
		if _, ok := r.Attributes["time"]; ok {
			t.Errorf("time %s kept as an attribute", ts)
		}
	}
	r := one(t, "", nil, `{"msg":"x","ts":1714558830.25}`)
	if !r.Time.Equal(want.Add(250 * time.Millisecond)) {
		t.Errorf("fractional seconds read as %v", r.Time)
	}
}

// Real lines as Python's logging libraries print them.
func TestPythonShapes(t *testing.T) {
	// structlog: TimeStamper(fmt="iso", utc=True), add_log_level,
	// format_exc_info, JSONRenderer().
	r := one(t, "", nil, `{"user_id": 42, "path": "/checkout", "event": "payment failed", "level": "error", "timestamp": "2024-05-01T10:20:30.123456Z", "exception": "Traceback (most recent call last):\n  File \"app.py\", line 3, in pay\nValueError: card"}`)
	if r.Body != "payment failed" || r.Level() != "error" || r.SeverityText != "error" ||
		!r.Time.Equal(time.Date(2024, 5, 1, 10, 20, 30, 123456000, time.UTC)) ||
		r.Attributes["user_id"] != "42" || !strings.HasPrefix(r.Attributes["exception"], "Traceback") {
		t.Errorf("structlog: %+v", r)
	}
	// python-json-logger with "%(asctime)s %(levelname)s %(name)s
	// %(message)s" and OpenTelemetry's logging instrumentation.
	r = one(t, "", nil, `{"asctime": "2024-05-01 10:20:30,123", "levelname": "WARNING", "name": "billing.db", "message": "slow query", "otelSpanID": "00f067aa0ba902b7", "otelTraceID": "4bf92f3577b34da6a3ce929d0e0e4736", "otelServiceName": "billing", "otelTraceSampled": true, "duration_ms": 812.5}`)
	if r.Body != "slow query" || r.Level() != "warn" || r.Service != "billing" ||
		!r.Time.Equal(time.Date(2024, 5, 1, 10, 20, 30, 123e6, time.UTC)) ||
		fmt.Sprintf("%x", r.TraceID) != "4bf92f3577b34da6a3ce929d0e0e4736" || fmt.Sprintf("%x", r.SpanID) != "00f067aa0ba902b7" ||
		r.Attributes["name"] != "billing.db" || r.Attributes["duration_ms"] != "812.5" || r.Attributes["otelTraceSampled"] != "true" {
		t.Errorf("python-json-logger: %+v", r)
	}
	if _, ok := r.Attributes["otelTraceID"]; ok {
		t.Errorf("trace id kept as attribute: %v", r.Attributes)
	}
	r = one(t, "", nil, `{"msg":"x","trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331"}`)
	if fmt.Sprintf("%x/%x", r.TraceID, r.SpanID) != "0af7651916cd43dd8448eb211c80319c/b7ad6b7169203331" {
		t.Errorf("trace_id: %x %x", r.TraceID, r.SpanID)
	}
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func TestRequests(t *testing.T) {
	lines := []byte("{\"msg\":\"a\"}\n\n{\"msg\":\"b\"}\r\n")
	s := &sink{}
	m := ingest.NewMetrics(prometheus.NewRegistry())
	h := newHandler(s, m)
	if code, msg := send(t, h, "", map[string]string{"Content-Encoding": "gzip"}, gz(lines)); code != 204 || len(s.recs) != 2 || s.recs[1].Body != "b" {
		t.Fatalf("gzip: %d %q %d records", code, msg, len(s.recs))
	}
	if code, _ := send(t, h, "", nil, []byte("\n \n")); code != 204 || len(s.recs) != 2 {
		t.Errorf("blank body: %d, %d records", code, len(s.recs))
	}
	r := httptest.NewRequest(http.MethodGet, "/insert/jsonline", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 405 {
		t.Errorf("GET: %d", w.Code)
	}
	small := New(Options{Sink: s, MaxRequestBytes: 16})
	if code, msg := send(t, small, "", nil, lines); code != 413 || !strings.Contains(msg, "16 bytes") {
		t.Errorf("over the limit: %d %q", code, msg)
	}
	if code, msg := send(t, small, "", map[string]string{"Content-Encoding": "gzip"}, gz(bytes.Repeat(lines, 10))); code != 413 || !strings.Contains(msg, "16 bytes") {
		t.Errorf("over the limit after gzip: %d %q", code, msg)
	}
	if code, msg := send(t, h, "", map[string]string{"Content-Encoding": "gzip"}, lines); code != 400 || !strings.Contains(msg, "gzip") {
		t.Errorf("bad gzip: %d %q", code, msg)
	}
	if got := testutil.ToFloat64(m.Samples.WithLabelValues(protocol)); got != 2 {
		t.Errorf("samples counted %v", got)
	}
	if got := testutil.ToFloat64(m.Requests.WithLabelValues(protocol, "204")); got != 2 {
		t.Errorf("204s counted %v", got)
	}
}

func TestMixedLines(t *testing.T) {
	s := &sink{}
	m := ingest.NewMetrics(prometheus.NewRegistry())
	h := New(Options{Sink: s, Metrics: m, MaxLineBytes: 40, Now: func() time.Time { return now }})
	body := strings.Join([]string{
		`{"msg":"ok 1"}`,
		`{"msg":"broken"`,
		``,
		`[1,2]`,
		`{"msg":"ok 2"}`,
		`{"msg":"two"} {"msg":"objects"}`,
		`{"msg":"this line is much longer than forty bytes"}`,
		`null`,
		`{"msg":"ok 3"}`,
	}, "\n")
	code, msg := send(t, h, "", nil, []byte(body))
	want := `line 2: invalid JSON: unexpected EOF; line 4: not a JSON object: starts with "[1,2]"; ` +
		`line 6: invalid JSON: more data after the object that ends at byte 13 (one object per line); line 7: line is 51 bytes, longer than the limit of 40 bytes; ` +
		`line 8: not a JSON object: starts with "null"; 5 of 8 lines refused, 3 stored`
	if code != 400 || msg != want {
		t.Errorf("got %d %q\nwant 400 %q", code, msg, want)
	}
	if len(s.recs) != 3 || s.recs[2].Body != "ok 3" {
		t.Errorf("stored %d records", len(s.recs))
	}
	if got := testutil.ToFloat64(m.Rejected.WithLabelValues(protocol, "invalid_json")); got != 4 {
		t.Errorf("invalid_json counted %v", got)
	}
	if got := testutil.ToFloat64(m.Rejected.WithLabelValues(protocol, "line_too_long")); got != 1 {
		t.Errorf("line_too_long counted %v", got)
	}

	// Only the first five are named.
	code, msg = send(t, h, "", nil, []byte(strings.Repeat("x\n", 8)+`{"msg":"ok"}`))
	if code != 400 || !strings.HasSuffix(msg, "line 5: not a JSON object: starts with \"x\"; and 3 more; 8 of 9 lines refused, 1 stored") {
		t.Errorf("many bad lines: %d %q", code, msg)
	}
	// Nothing good: nothing stored, still a 400.
	n := len(s.recs)
	if code, msg = send(t, h, "", nil, []byte("nope")); code != 400 || len(s.recs) != n || !strings.HasSuffix(msg, "1 of 1 lines refused, 0 stored") {
		t.Errorf("all bad: %d %q", code, msg)
	}
}

func TestSinkErrors(t *testing.T) {
	for _, c := range []struct {
		err      error
		code     int
		contains string
	}{
		{&logline.LimitError{Refused: 1, Msg: "ingestion rate limit exceeded for service api"}, 429, "ingestion rate limit exceeded for service api"},
		{fmt.Errorf("log store: %w", events.ErrDiskFull), 503, "cannot store log lines: log store:"},
		{errors.New("wal: bad sector"), 500, "bad sector"},
	} {
		m := ingest.NewMetrics(prometheus.NewRegistry())
		code, msg := send(t, newHandler(&sink{err: c.err}, m), "", nil, []byte(`{"msg":"a"}`+"\n"+`{"msg":"b"}`))
		if code != c.code || !strings.Contains(msg, c.contains) {
			t.Errorf("%v: %d %q, want %d containing %q", c.err, code, msg, c.code, c.contains)
		}
		if c.code == 429 {
			if msg != c.contains {
				t.Errorf("429 message %q, want the LimitError's own", msg)
			}
			if got := testutil.ToFloat64(m.Samples.WithLabelValues(protocol)); got != 1 {
				t.Errorf("after 1 of 2 refused by limits, %v samples counted", got)
			}
		}
	}
}

// FuzzLines: no panic, every non-blank line is stored or refused, and
// every stored record is complete.
func FuzzLines(f *testing.F) {
	f.Add([]byte(`{"msg":"a","level":"info","ts":1714558830}`+"\n"+`{"event":"b","trace_id":"0af7651916cd43dd8448eb211c80319c"}`), "app")
	f.Add([]byte("not json\n\n{\"a\":{\"b\":[1,{\"c\":null}]}}\r\n{} {}"), "")
	f.Add([]byte(`{"time":"2024-05-01 10:20:30,123","message":"x","app.name":"y"}`), "app.name,message")
	f.Fuzz(func(t *testing.T, body []byte, streamFields string) {
		p := params{fields: logline.Fields{Message: logline.DefaultFields.Message, Time: defaultTimeFields, Level: logline.DefaultFields.Level}, streamFields: splitList(streamFields), maxLineBytes: 1 << 10}
		batch := ingest.NewBatch(protocol)
		res := decode(body, p, now, batch)
		nonBlank := 0
		for l := range bytes.SplitSeq(body, []byte{'\n'}) {
			if len(bytes.TrimSpace(l)) > 0 {
				nonBlank++
			}
		}
		if len(res.recs)+res.refused != nonBlank || res.lines != nonBlank || batch.Accepted != len(res.recs) || batch.Rejected() != res.refused {
			t.Fatalf("%d stored + %d refused, %d lines counted, want %d non-blank lines", len(res.recs), res.refused, res.lines, nonBlank)
		}
		for _, r := range res.recs {
			if r.Service == "" || r.Stream == "" || r.Time.IsZero() || r.ObservedTime.IsZero() {
				t.Fatalf("incomplete record %+v", r)
			}
		}
	})
}
