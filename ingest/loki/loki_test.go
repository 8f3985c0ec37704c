package loki

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/vigilhq/vigil/ingest"
	"github.com/vigilhq/vigil/ingest/logline"
	"github.com/vigilhq/vigil/storage/events"
	"github.com/vigilhq/vigil/storage/logs"
)

// now is the test clock: the receiver's idea of the current time.
var now = time.Date(2023, 11, 14, 22, 20, 0, 0, time.UTC) // 1700000400

type memSink struct {
	mu   sync.Mutex
	recs []logs.Record
	err  error
}

func (m *memSink) Append(_ context.Context, recs []logs.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = append(m.recs, recs...)
	return m.err
}

func newHandler(sink logline.Sink, o Options) *Handler {
	o.Sink = sink
	o.Now = func() time.Time { return now }
	return New(o)
}

// encode writes req as a PushRequest message with protowire, as a Loki
// client does (timestamps always present: entries with a zero Time are
// written without one).
func encode(req PushRequest) []byte {
	var b []byte
	for _, st := range req.Streams {
		var s []byte
		s = protowire.AppendTag(s, fieldLabels, protowire.BytesType)
		s = protowire.AppendString(s, st.Labels)
		for _, e := range st.Entries {
			var eb []byte
			if !e.Time.IsZero() {
				var ts []byte
				ts = protowire.AppendTag(ts, fieldSeconds, protowire.VarintType)
				ts = protowire.AppendVarint(ts, uint64(e.Time.Unix()))
				if e.Time.Nanosecond() != 0 {
					ts = protowire.AppendTag(ts, fieldNanos, protowire.VarintType)
					ts = protowire.AppendVarint(ts, uint64(e.Time.Nanosecond()))
				}
				eb = protowire.AppendTag(eb, fieldTimestamp, protowire.BytesType)
				eb = protowire.AppendBytes(eb, ts)
			}
			eb = protowire.AppendTag(eb, fieldLine, protowire.BytesType)
			eb = protowire.AppendString(eb, e.Line)
			for _, l := range e.Metadata {
				var lb []byte
				lb = protowire.AppendTag(lb, fieldName, protowire.BytesType)
				lb = protowire.AppendString(lb, l.Name)
				lb = protowire.AppendTag(lb, fieldValue, protowire.BytesType)
				lb = protowire.AppendString(lb, l.Value)
				eb = protowire.AppendTag(eb, fieldMetadata, protowire.BytesType)
				eb = protowire.AppendBytes(eb, lb)
			}
			s = protowire.AppendTag(s, fieldEntries, protowire.BytesType)
			s = protowire.AppendBytes(s, eb)
		}
		s = protowire.AppendTag(s, 3, protowire.VarintType) // hash
		s = protowire.AppendVarint(s, 12345)
		b = protowire.AppendTag(b, fieldStreams, protowire.BytesType)
		b = protowire.AppendBytes(b, s)
	}
	return b
}

func post(h http.Handler, ct, enc string, body []byte) (int, string) {
	r := httptest.NewRequest(http.MethodPost, "/loki/api/v1/push", bytes.NewReader(body))
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	if enc != "" {
		r.Header.Set("Content-Encoding", enc)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(b)
}

func postProto(h http.Handler, req PushRequest) (int, string) {
	return post(h, "application/x-protobuf", "", snappy.Encode(nil, encode(req)))
}

func TestPushProto(t *testing.T) {
	sink := &memSink{}
	m := ingest.NewMetrics(nil)
	h := newHandler(sink, Options{Metrics: m})
	t0 := time.Unix(1700000000, 123456789).UTC()
	req := PushRequest{Streams: []Stream{
		{Labels: `{app="checkout", env="prod"}`, Entries: []Entry{
			{Time: t0, Line: `{"msg":"not parsed","level":"error"}`},
			{Time: t0.Add(time.Second), Line: "paid", Metadata: []Label{
				{"trace_id", "0af7651916cd43dd8448eb211c80319c"}, {"span_id", "b7ad6b7169203331"}, {"level", "warning"}, {"user", "42"}}},
		}},
		{Labels: `{service_name="billing", level="debug", job="x"}`, Entries: []Entry{{Time: t0, Line: "tick"}}},
	}}
	if code, body := postProto(h, req); code != http.StatusNoContent {
		t.Fatalf("push: %d %s", code, body)
	}
	if len(sink.recs) != 3 {
		t.Fatalf("stored %d records, want 3", len(sink.recs))
	}
	r0, r1, r2 := sink.recs[0], sink.recs[1], sink.recs[2]
	// The line is verbatim: no JSON parsing of the body.
	if r0.Body != `{"msg":"not parsed","level":"error"}` || r0.Attributes != nil || r0.SeverityNumber != 0 ||
		!r0.Time.Equal(t0) || !r0.ObservedTime.Equal(now) || r0.Service != "checkout" ||
		r0.Stream != `{app="checkout", env="prod", service_name="checkout"}` {
		t.Fatalf("r0 = %+v", r0)
	}
	if r1.Body != "paid" || hex.EncodeToString(r1.TraceID[:]) != "0af7651916cd43dd8448eb211c80319c" ||
		hex.EncodeToString(r1.SpanID[:]) != "b7ad6b7169203331" || r1.SeverityNumber != 13 || r1.SeverityText != "warning" ||
		!reflect.DeepEqual(r1.Attributes, map[string]string{"level": "warning", "user": "42"}) || r1.Stream != r0.Stream {
		t.Fatalf("r1 = %+v", r1)
	}
	if r2.Service != "billing" || r2.SeverityNumber != 5 || r2.SeverityText != "debug" ||
		r2.Stream != `{job="x", level="debug", service_name="billing"}` {
		t.Fatalf("r2 = %+v", r2)
	}
	if n := testutil.ToFloat64(m.Samples.WithLabelValues("loki")); n != 3 {
		t.Fatalf("samples counted %v, want 3", n)
	}
	if n := testutil.ToFloat64(m.Requests.WithLabelValues("loki", "204")); n != 1 {
		t.Fatalf("204 requests counted %v, want 1", n)
	}
}

// readHex reads a testdata file of hex digits with '#' comments.
func readHex(t *testing.T, name string) []byte {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b []byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		for _, w := range strings.Fields(line) {
			v, err := hex.DecodeString(w)
			if err != nil {
				t.Fatalf("%s: %q is not hex", name, w)
			}
			b = append(b, v...)
		}
	}
	return b
}

// TestGoldenProto decodes a body written by hand from push.proto, so the
// field numbers are checked against the protocol, not against encode.
func TestGoldenProto(t *testing.T) {
	raw := readHex(t, "testdata/push.hex")
	req, err := UnmarshalProto(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := PushRequest{Streams: []Stream{{Labels: `{job="varlogs", level="warn"}`, Entries: []Entry{
		{Time: time.Unix(1700000000, 0).UTC(), Line: "disk 90% full"},
		{Time: time.Unix(1700000000, 1000).UTC(), Line: "done", Metadata: []Label{{"trace_id", "0123456789abcdef0123456789abcdef"}}},
	}}}}
	if !reflect.DeepEqual(req, want) {
		t.Fatalf("decoded %+v\nwant    %+v", req, want)
	}
	sink := &memSink{}
	if code, body := post(newHandler(sink, Options{}), "application/x-protobuf", "", snappy.Encode(nil, raw)); code != 204 {
		t.Fatalf("push: %d %s", code, body)
	}
	if len(sink.recs) != 2 || sink.recs[0].Service != "varlogs" || sink.recs[0].SeverityNumber != 13 ||
		sink.recs[1].TraceID[0] != 0x01 || len(sink.recs[1].Attributes) != 0 {
		t.Fatalf("records = %+v", sink.recs)
	}
}

func TestPushJSON(t *testing.T) {
	body := `{"streams":[
	 {"stream":{"container":"nginx","host":"a"},"values":[
	   ["1700000000000000001","GET / 200"],
	   ["1700000001000000000","GET /x 500",{"detected_level":"error","trace_id":"0af7651916cd43dd8448eb211c80319c"}]]},
	 {"stream":{"namespace":"kube"},"values":[["1700000002000000000","no service"]]}]}`
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(body))
	zw.Close()
	for _, enc := range []string{"", "gzip"} {
		sink := &memSink{}
		h := newHandler(sink, Options{})
		b := []byte(body)
		if enc == "gzip" {
			b = gz.Bytes()
		}
		if code, msg := post(h, "application/json; charset=utf-8", enc, b); code != 204 {
			t.Fatalf("%q: %d %s", enc, code, msg)
		}
		if len(sink.recs) != 3 {
			t.Fatalf("%q: stored %d, want 3", enc, len(sink.recs))
		}
		r0, r1, r2 := sink.recs[0], sink.recs[1], sink.recs[2]
		if r0.Body != "GET / 200" || r0.Time.UnixNano() != 1700000000000000001 || r0.Service != "nginx" ||
			r0.Stream != `{container="nginx", host="a", service_name="nginx"}` {
			t.Fatalf("r0 = %+v", r0)
		}
		if r1.SeverityNumber != 17 || !r1.HasTrace() || !reflect.DeepEqual(r1.Attributes, map[string]string{"detected_level": "error"}) {
			t.Fatalf("r1 = %+v", r1)
		}
		if r2.Service != "unknown_service" || r2.Stream != `{namespace="kube", service_name="unknown_service"}` {
			t.Fatalf("r2 = %+v", r2)
		}
	}
}

func TestServiceName(t *testing.T) {
	for _, c := range []struct {
		labels map[string]string
		want   string
	}{
		{map[string]string{"service_name": "a", "service": "b"}, "a"},
		{map[string]string{"service": "b", "app": "c"}, "b"},
		{map[string]string{"app": "c", "application": "d"}, "c"},
		{map[string]string{"application": "d", "name": "e"}, "d"},
		{map[string]string{"name": "e", "app_kubernetes_io_name": "f"}, "e"},
		{map[string]string{"app_kubernetes_io_name": "f", "container": "g"}, "f"},
		{map[string]string{"container": "g", "container_name": "h"}, "g"},
		{map[string]string{"container_name": "h", "component": "i"}, "h"},
		{map[string]string{"component": "i", "workload": "j"}, "i"},
		{map[string]string{"workload": "j", "job": "k"}, "j"},
		{map[string]string{"job": "k", "namespace": "l"}, "k"},
		{map[string]string{"service": "", "job": "k"}, "k"},
		{map[string]string{"namespace": "l"}, "unknown_service"},
	} {
		if got := ServiceName(c.labels); got != c.want {
			t.Errorf("ServiceName(%v) = %q, want %q", c.labels, got, c.want)
		}
	}
}

// Bad streams and entries are refused alone: the rest is stored and the
// 400 names each problem.
func TestPartialRefusal(t *testing.T) {
	sink := &memSink{}
	m := ingest.NewMetrics(nil)
	h := newHandler(sink, Options{Metrics: m})
	ok := Entry{Time: now, Line: "ok"}
	req := PushRequest{Streams: []Stream{
		{Labels: `{app="a"`, Entries: []Entry{ok, ok}},
		{Labels: `{}`, Entries: []Entry{ok}},
		{Labels: `{app="a", app="b"}`, Entries: []Entry{ok}},
		{Labels: `up{app="a"}`, Entries: []Entry{ok}},
		{Labels: `{app="good"}`, Entries: []Entry{
			ok,
			{Line: "no time"},
			{Time: now.Add(MaxFuture + time.Second), Line: "future"},
			{Time: now.Add(MaxFuture), Line: "at the bound"},
			{Time: now, Line: strings.Repeat("x", 1<<20)}, // long lines are the sink's business
		}},
	}}
	code, body := postProto(h, req)
	if code != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", code)
	}
	for _, want := range []string{"stored 3 log lines", "7 of 10", `cannot parse stream labels "{app=\"a\""`, "{} has no labels",
		`label "app" appears twice`, "without a metric name", "entry 1 has no timestamp"} {
		if !strings.Contains(body, want) {
			t.Errorf("answer %q does not say %q", body, want)
		}
	}
	if len(sink.recs) != 3 || sink.recs[0].Body != "ok" || sink.recs[1].Body != "at the bound" {
		t.Fatalf("stored %+v", sink.recs)
	}
	if n := testutil.ToFloat64(m.Rejected.WithLabelValues("loki", "invalid_labels")); n != 5 {
		t.Errorf("invalid_labels counted %v, want 5", n)
	}
	if n := testutil.ToFloat64(m.Rejected.WithLabelValues("loki", "too_far_in_future")); n != 1 {
		t.Errorf("too_far_in_future counted %v, want 1", n)
	}
	// The future bound is named in its own message (the batch error
	// spells out only the first few refusals).
	code, body = postProto(h, PushRequest{Streams: []Stream{{Labels: `{app="a"}`, Entries: []Entry{{Time: now.Add(time.Hour), Line: "x"}}}}})
	if code != 400 || !strings.Contains(body, "more than 10m0s past the server's time") {
		t.Fatalf("future entry: %d %q", code, body)
	}
	// JSON entries of the wrong shape are refused alone too.
	sink.recs = nil
	code, body = post(h, "application/json", "", []byte(`{"streams":[{"stream":{"app":"a"},"values":[
	  ["1700000000000000000","kept"], ["", "no time"], ["soon","x"], [1700000000000000000, 5], ["1"], {"a":1},
	  ["1700000000000000000","bad md",{"k":1}]]},
	  {"stream":{},"values":[["1700000000000000000","no labels"]]}]}`))
	if code != 400 || len(sink.recs) != 1 || sink.recs[0].Body != "kept" {
		t.Fatalf("JSON: %d %q, stored %+v", code, body, sink.recs)
	}
	for _, want := range []string{"values[1]: the entry has no timestamp", `timestamp "soon" is not Unix nanoseconds`, "values[3]: line 5 is not a string", "values[4]: an entry must be an array"} {
		if !strings.Contains(body, want) {
			t.Errorf("JSON answer %q does not say %q", body, want)
		}
	}
}

func TestRequestErrors(t *testing.T) {
	sink := &memSink{}
	h := newHandler(sink, Options{MaxRequestBytes: 1024})
	big := snappy.Encode(nil, encode(PushRequest{Streams: []Stream{{Labels: `{a="b"}`, Entries: []Entry{{Time: now, Line: strings.Repeat("x", 2000)}}}}}))
	for _, c := range []struct {
		name, ct, enc string
		body          []byte
		code          int
		contains      string
	}{
		{"unknown content type", "text/plain", "", []byte("x"), 415, "application/x-protobuf"},
		{"not snappy", "application/x-protobuf", "", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 400, "cannot decode snappy"},
		{"snappy of garbage", "application/x-protobuf", "", snappy.Encode(nil, []byte{0x0a, 0x7f, 1}), 400, "cannot decode PushRequest"},
		{"decompresses too large", "application/x-protobuf", "", big, 413, "limit of 1024"},
		{"too large", "application/json", "", bytes.Repeat([]byte(" "), 2000), 413, "1024"},
		{"not json", "application/json", "", []byte(`{"streams":`), 400, "cannot decode JSON push"},
		{"wrong shape", "application/json", "", []byte(`{"streams":[{"stream":{"a":1}}]}`), 400, "cannot decode JSON push"},
		{"bad encoding", "application/json", "br", []byte(`{}`), 415, "Content-Encoding"},
	} {
		code, body := post(h, c.ct, c.enc, c.body)
		if code != c.code || !strings.Contains(body, c.contains) {
			t.Errorf("%s: %d %q, want %d with %q", c.name, code, body, c.code, c.contains)
		}
	}
	if len(sink.recs) != 0 {
		t.Fatalf("stored %d records from bad requests", len(sink.recs))
	}
	// No Content-Type: protobuf, as Loki reads it.
	if code, body := post(h, "", "", snappy.Encode(nil, encode(PushRequest{Streams: []Stream{{Labels: `{a="b"}`, Entries: []Entry{{Time: now, Line: "x"}}}}}))); code != 204 {
		t.Fatalf("no content type: %d %s", code, body)
	}
	r := httptest.NewRequest(http.MethodGet, "/loki/api/v1/push", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "POST" {
		t.Fatalf("GET: %d", w.Code)
	}
}

func TestSinkErrors(t *testing.T) {
	req := PushRequest{Streams: []Stream{{Labels: `{app="a"}`, Entries: []Entry{{Time: now, Line: "x"}, {Time: now, Line: "y"}}}}}
	for _, c := range []struct {
		err      error
		code     int
		contains string
	}{
		{&logline.LimitError{Refused: 1, Msg: "ingestion rate limit of 1 MiB/s exceeded for service a"}, 429, "ingestion rate limit of 1 MiB/s exceeded for service a"},
		{fmt.Errorf("cannot write WAL: %w", events.ErrDiskFull), 503, "cannot store log lines"},
		{context.Canceled, 503, "cannot store log lines"},
		{errors.New("boom"), 500, "cannot store log lines: boom"},
	} {
		m := ingest.NewMetrics(nil)
		h := newHandler(&memSink{err: c.err}, Options{Metrics: m})
		code, body := postProto(h, req)
		if code != c.code || !strings.Contains(body, c.contains) {
			t.Errorf("%v: %d %q, want %d with %q", c.err, code, body, c.code, c.contains)
		}
		if c.code == 429 {
			if n := testutil.ToFloat64(m.Samples.WithLabelValues("loki")); n != 1 {
				t.Errorf("limited push counted %v lines stored, want 1", n)
			}
		}
	}
}

// The labels cache gives every entry of a label set the same parse, and
// does not keep the request body alive through its keys.
func TestLabelCache(t *testing.T) {
	h := newHandler(&memSink{}, Options{})
	body := []byte(`{app="a"}`)
	st := &Stream{Labels: string(body)}
	a := h.streamInfo(st)
	b := h.streamInfo(&Stream{Labels: `{app="a"}`})
	if a != b || a.labels["service_name"] != "a" {
		t.Fatalf("cache miss or wrong parse: %p %p %+v", a, b, a)
	}
	for i := range maxCachedStreams + 1 {
		h.streamInfo(&Stream{Labels: fmt.Sprintf(`{i="%d"}`, i)})
	}
	if len(h.streams) > maxCachedStreams {
		t.Fatalf("cache holds %d label sets, more than %d", len(h.streams), maxCachedStreams)
	}
}

func TestUnknownFieldsSkipped(t *testing.T) {
	want := PushRequest{Streams: []Stream{{Labels: `{a="b"}`, Entries: []Entry{{Time: now, Line: "x"}}}}}
	b := encode(want)
	// Unknown fields of every wire type, at the top level.
	b = protowire.AppendTag(b, 9, protowire.VarintType)
	b = protowire.AppendVarint(b, 1)
	b = protowire.AppendTag(b, 10, protowire.Fixed32Type)
	b = protowire.AppendFixed32(b, 1)
	b = protowire.AppendTag(b, 11, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, 1)
	b = protowire.AppendTag(b, 12, protowire.BytesType)
	b = protowire.AppendString(b, "zz")
	b = protowire.AppendTag(b, fieldStreams, protowire.VarintType) // known number, wrong type
	b = protowire.AppendVarint(b, 7)
	got, err := UnmarshalProto(b)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, %v", got, err)
	}
	for _, bad := range [][]byte{{0x0a, 0x05, 0x01}, {0x00}, {0x0d, 0x01}, {0x0e}} {
		if _, err := UnmarshalProto(bad); err == nil {
			t.Errorf("% x: no error", bad)
		}
	}
}

func BenchmarkPushProto(b *testing.B) {
	var entries []Entry
	for i := range 1000 {
		entries = append(entries, Entry{Time: now.Add(time.Duration(i)), Line: "level=info msg=\"request served\" path=/api/v1/orders status=200 duration=12ms"})
	}
	req := PushRequest{Streams: []Stream{
		{Labels: `{app="checkout", env="prod", namespace="shop", pod="checkout-7d9c"}`, Entries: entries},
		{Labels: `{app="billing", env="prod", namespace="shop", pod="billing-5f2a"}`, Entries: entries},
	}}
	body := snappy.Encode(nil, encode(req))
	h := newHandler(logline.SinkFunc(func(context.Context, []logs.Record) error { return nil }), Options{})
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/loki/api/v1/push", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/x-protobuf")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 204 {
			b.Fatal(w.Code)
		}
	}
}

func FuzzPushProto(f *testing.F) {
	f.Add([]byte(nil), `{a="b"}`, "line", int64(1700000000), int32(5), "trace_id", "x")
	f.Add(encode(PushRequest{Streams: []Stream{{Labels: `{job="x"}`, Entries: []Entry{{Time: now, Line: "hello", Metadata: []Label{{"k", "v"}}}}}}}), "", "", int64(0), int32(0), "", "")
	f.Add([]byte{0x0a, 0x02, 0x12, 0x00}, "{", "\x00", int64(-1), int32(-1), "", "")
	f.Fuzz(func(t *testing.T, raw []byte, lbls, line string, sec int64, nanos int32, mdName, mdValue string) {
		// Arbitrary bytes never panic, and what decodes re-encodes to
		// the same request.
		if got, err := UnmarshalProto(raw); err == nil {
			again, err := UnmarshalProto(encode(got))
			if err != nil || !equalPush(got, again) {
				t.Fatalf("re-encoding %+v gave %+v, %v", got, again, err)
			}
		}
		// What encode writes decodes to itself.
		if nanos < 0 || nanos >= 1e9 {
			nanos = 0
		}
		e := Entry{Time: time.Unix(sec, int64(nanos)).UTC(), Line: line}
		if mdName != "" {
			e.Metadata = []Label{{mdName, mdValue}}
		}
		want := PushRequest{Streams: []Stream{{Labels: lbls, Entries: []Entry{e, {Time: now, Line: line}}}}}
		got, err := UnmarshalProto(encode(want))
		if err != nil || !equalPush(got, want) {
			t.Fatalf("round trip of %+v gave %+v, %v", want, got, err)
		}
		// The handler takes any decoded request without panicking and
		// stores only finished records.
		sink := &memSink{}
		code, _ := post(newHandler(sink, Options{}), "application/x-protobuf", "", snappy.Encode(nil, raw))
		if code != 204 && code != 400 {
			t.Fatalf("status %d", code)
		}
		checkStored(t, sink.recs)
	})
}

// equalPush compares requests by instant, not time.Time representation.
func equalPush(a, b PushRequest) bool {
	if len(a.Streams) != len(b.Streams) {
		return false
	}
	for i := range a.Streams {
		x, y := a.Streams[i], b.Streams[i]
		if x.Labels != y.Labels || len(x.Entries) != len(y.Entries) {
			return false
		}
		for j := range x.Entries {
			p, q := x.Entries[j], y.Entries[j]
			if !p.Time.Equal(q.Time) || p.Line != q.Line || !reflect.DeepEqual(p.Metadata, q.Metadata) {
				return false
			}
		}
	}
	return true
}

func checkStored(t *testing.T, recs []logs.Record) {
	t.Helper()
	for _, r := range recs {
		if r.Time.IsZero() || r.Time.After(now.Add(MaxFuture)) || r.Service == "" || !strings.Contains(r.Stream, "service_name=") {
			t.Fatalf("invalid record stored: %+v", r)
		}
	}
}

func FuzzPushJSON(f *testing.F) {
	f.Add([]byte(`{"streams":[{"stream":{"app":"a"},"values":[["1700000000000000000","x",{"k":"v"}]]}]}`))
	f.Add([]byte(`{"streams":[{"stream":{},"values":[["","x"],[1,2,3,4]]}]}`))
	f.Add([]byte(`{"streams":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		sink := &memSink{}
		code, msg := post(newHandler(sink, Options{}), "application/json", "", body)
		if code != 204 && code != 400 {
			t.Fatalf("status %d: %s", code, msg)
		}
		if code == 400 && msg == "" {
			t.Fatal("400 without a reason")
		}
		checkStored(t, sink.recs)
	})
}
