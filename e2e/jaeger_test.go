package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	// Jaeger's own JSON UI model, as its query service writes it and as
	// Grafana's Jaeger data source and the Jaeger UI read it. v1.67.0 is
	// the newest release that still has model/json (later ones moved it
	// to internal/uimodel).
	ui "github.com/jaegertracing/jaeger/model/json"
)

// A trace sent as OTLP/JSON over HTTP, read back through the Jaeger query
// API and decoded with Jaeger's own UI model: the envelope and every field
// Grafana's Jaeger data source reads (trace and span ids, references,
// microsecond times, typed tags, logs, processes), search by service,
// time range and tags, the operations lists, the 400 and 404 answers, and
// the service dependency from the service-graph series.
func TestJaegerAPI(t *testing.T) {
	v := startVigil(t, withArgs("--host-metrics=false"))
	tr := newJaegerFixture()
	postOTLPJSON(t, v.OTLPHTTP, tr.export)
	const frontend, customer = "jaeger-e2e-frontend", "jaeger-e2e-customer"

	// /api/services: eventually both services.
	eventually(t, 30*time.Second, func() string {
		var svcs []string
		jaegerGet(t, v.URL, "/api/services", nil, 200, &svcs)
		if !slices.Contains(svcs, frontend) || !slices.Contains(svcs, customer) {
			return fmt.Sprintf("/api/services: %q, want %q and %q", svcs, frontend, customer)
		}
		return ""
	})

	var opNames []string
	jaegerGet(t, v.URL, "/api/services/"+frontend+"/operations", nil, 200, &opNames)
	slices.Sort(opNames)
	if want := []string{"GET /dispatch", "HTTP GET /customer"}; !slices.Equal(opNames, want) {
		t.Errorf("/api/services/%s/operations: %q, want %q", frontend, opNames, want)
	}
	var ops []ui.Operation
	jaegerGet(t, v.URL, "/api/operations", url.Values{"service": {frontend}}, 200, &ops)
	slices.SortFunc(ops, func(a, b ui.Operation) int { return strings.Compare(a.Name, b.Name) })
	if want := []ui.Operation{{Name: "GET /dispatch", SpanKind: "server"}, {Name: "HTTP GET /customer", SpanKind: "client"}}; !slices.Equal(ops, want) {
		t.Errorf("/api/operations?service=%s: %+v, want %+v", frontend, ops, want)
	}
	jaegerGet(t, v.URL, "/api/operations", url.Values{"service": {frontend}, "spanKind": {"server"}}, 200, &ops)
	if want := []ui.Operation{{Name: "GET /dispatch", SpanKind: "server"}}; !slices.Equal(ops, want) {
		t.Errorf("/api/operations?service=%s&spanKind=server: %+v, want %+v", frontend, ops, want)
	}

	// Search as the Jaeger UI (lookback=1h) and as Grafana (start and end
	// in microseconds, lookback=custom) do, and by tags.
	now := time.Now()
	searches := []url.Values{
		{"service": {frontend}, "limit": {"20"}, "lookback": {"1h"}},
		{"service": {frontend}, "limit": {"20"}, "lookback": {"custom"},
			"start": {strconv.FormatInt(now.Add(-time.Hour).UnixMicro(), 10)}, "end": {strconv.FormatInt(now.Add(time.Minute).UnixMicro(), 10)}},
		{"service": {frontend}, "tags": {`{"customer.id":"c-123"}`}, "limit": {"20"}},
		{"service": {frontend}, "operation": {"GET /dispatch"}, "tags": {`{"http.response.status_code":"503","host.name":"host-a"}`}},
		{"service": {customer}, "limit": {"20"}},
	}
	for _, p := range searches {
		var traces []ui.Trace
		jaegerGet(t, v.URL, "/api/traces", p, 200, &traces)
		if len(traces) != 1 {
			t.Errorf("/api/traces?%s: %d traces, want 1", p.Encode(), len(traces))
			continue
		}
		tr.check(t, "/api/traces?"+p.Encode(), traces[0])
	}
	// No match is an empty list, not null: Grafana maps over it.
	empty := jaegerGet(t, v.URL, "/api/traces", url.Values{"service": {frontend}, "tags": {`{"customer.id":"nobody"}`}}, 200, nil)
	if d := string(empty.Data); d != "[]" {
		t.Errorf("/api/traces with a tag no span has: data %s, want []", d)
	}

	var byID []ui.Trace
	jaegerGet(t, v.URL, "/api/traces/"+tr.traceID, nil, 200, &byID)
	if len(byID) != 1 {
		t.Fatalf("/api/traces/%s: %d traces, want 1", tr.traceID, len(byID))
	}
	tr.check(t, "/api/traces/{id}", byID[0])

	jaegerError(t, v.URL, "/api/traces/not-a-trace-id", 400, "")
	jaegerError(t, v.URL, "/api/traces/"+randomHex(16), 404, "trace not found")

	// The frontend's client span calls the customer's server span.
	eventually(t, 90*time.Second, func() string {
		var deps []ui.DependencyLink
		p := url.Values{"endTs": {strconv.FormatInt(time.Now().UnixMilli(), 10)}, "lookback": {strconv.FormatInt(time.Hour.Milliseconds(), 10)}}
		jaegerGet(t, v.URL, "/api/dependencies", p, 200, &deps)
		for _, d := range deps {
			if d.Parent == frontend && d.Child == customer && d.CallCount >= 1 {
				return ""
			}
		}
		return fmt.Sprintf("/api/dependencies?%s: %+v, want %s -> %s with callCount >= 1", p.Encode(), deps, frontend, customer)
	})
}

// jaegerFixture is one trace across two services: frontend's server span
// GET /dispatch (error, an event, typed attributes) -> its client span
// HTTP GET /customer -> customer's server span /customer.
type jaegerFixture struct {
	export                     []byte
	traceID                    string
	rootID, clientID, serverID string
	start                      time.Time
}

func newJaegerFixture() *jaegerFixture {
	f := &jaegerFixture{
		// Jaeger prints 128-bit ids as 32 digits when the high half is
		// not zero, so start with a non-zero byte.
		traceID: "7a" + randomHex(15),
		rootID:  randomHex(8), clientID: randomHex(8), serverID: randomHex(8),
		// Whole microseconds, so Jaeger's microsecond times are exact.
		start: time.Now().Add(-5 * time.Second).Truncate(time.Microsecond),
	}
	at := func(d time.Duration) string { return strconv.FormatInt(f.start.Add(d).UnixNano(), 10) }
	f.export = otlpTraces(
		otlpResourceSpans([]otlpKV{otlpStr("service.name", "jaeger-e2e-frontend"), otlpStr("host.name", "host-a"), otlpStr("service.version", "1.2.3")},
			"e2e.jaeger", "0.1.0",
			otlpSpan{TraceID: f.traceID, SpanID: f.rootID, Name: "GET /dispatch", Kind: 2,
				StartTimeUnixNano: at(0), EndTimeUnixNano: at(120 * time.Millisecond),
				Attributes: []otlpKV{otlpStr("customer.id", "c-123"), otlpInt("http.response.status_code", 503),
					otlpBool("retry", true), otlpDouble("load", 0.75)},
				Events: []otlpEvent{{TimeUnixNano: at(10 * time.Millisecond), Name: "retrying",
					Attributes: []otlpKV{otlpInt("attempt", 2), otlpStr("reason", "timeout")}}},
				Status: otlpStatus{Code: 2, Message: "upstream unavailable"}},
			otlpSpan{TraceID: f.traceID, SpanID: f.clientID, ParentSpanID: f.rootID, Name: "HTTP GET /customer", Kind: 3,
				StartTimeUnixNano: at(5 * time.Millisecond), EndTimeUnixNano: at(105 * time.Millisecond),
				Attributes: []otlpKV{otlpStr("peer.service", "jaeger-e2e-customer")}}),
		otlpResourceSpans([]otlpKV{otlpStr("service.name", "jaeger-e2e-customer"), otlpStr("host.name", "host-b")},
			"e2e.jaeger", "0.1.0",
			otlpSpan{TraceID: f.traceID, SpanID: f.serverID, ParentSpanID: f.clientID, Name: "/customer", Kind: 2,
				StartTimeUnixNano: at(10 * time.Millisecond), EndTimeUnixNano: at(90 * time.Millisecond),
				Attributes: []otlpKV{otlpStr("db.system", "mysql")}}),
	)
	return f
}

// check compares a trace the Jaeger API answered with the fixture.
func (f *jaegerFixture) check(t *testing.T, where string, tr ui.Trace) {
	t.Helper()
	if string(tr.TraceID) != f.traceID {
		t.Errorf("%s: traceID %q, want %q", where, tr.TraceID, f.traceID)
	}
	if len(tr.Spans) != 3 {
		t.Errorf("%s: %d spans, want 3", where, len(tr.Spans))
		return
	}
	byID := map[string]ui.Span{}
	for _, s := range tr.Spans {
		byID[string(s.SpanID)] = s
		if string(s.TraceID) != f.traceID {
			t.Errorf("%s: span %s has traceID %q", where, s.SpanID, s.TraceID)
		}
		if _, ok := tr.Processes[s.ProcessID]; s.ProcessID == "" || !ok {
			t.Errorf("%s: span %s: processID %q not in processes %v", where, s.SpanID, s.ProcessID, tr.Processes)
		}
		for _, kv := range s.Tags {
			checkKV(t, where+" span "+s.OperationName+" tag", kv)
		}
		for _, l := range s.Logs {
			for _, kv := range l.Fields {
				checkKV(t, where+" span "+s.OperationName+" log field", kv)
			}
		}
	}
	us := func(d time.Duration) uint64 { return uint64(f.start.Add(d).UnixMicro()) }
	want := []struct {
		id, op, service, parent, kind string
		start, dur                    uint64
		tags                          map[string]string
	}{
		{f.rootID, "GET /dispatch", "jaeger-e2e-frontend", "", "server", us(0), 120_000,
			map[string]string{"customer.id": "c-123", "http.response.status_code": "503", "retry": "true", "load": "0.75"}},
		{f.clientID, "HTTP GET /customer", "jaeger-e2e-frontend", f.rootID, "client", us(5 * time.Millisecond), 100_000,
			map[string]string{"peer.service": "jaeger-e2e-customer"}},
		{f.serverID, "/customer", "jaeger-e2e-customer", f.clientID, "server", us(10 * time.Millisecond), 80_000,
			map[string]string{"db.system": "mysql"}},
	}
	for _, w := range want {
		s, ok := byID[w.id]
		if !ok {
			t.Errorf("%s: no span %s (%s)", where, w.id, w.op)
			continue
		}
		if s.OperationName != w.op || s.StartTime != w.start || s.Duration != w.dur {
			t.Errorf("%s: span %s: operationName %q startTime %d duration %d, want %q %d %d (µs)",
				where, w.id, s.OperationName, s.StartTime, s.Duration, w.op, w.start, w.dur)
		}
		var wantRefs []ui.Reference
		if w.parent != "" {
			wantRefs = []ui.Reference{{RefType: ui.ChildOf, TraceID: ui.TraceID(f.traceID), SpanID: ui.SpanID(w.parent)}}
		}
		if len(s.References) != len(wantRefs) || (len(wantRefs) == 1 && s.References[0] != wantRefs[0]) {
			t.Errorf("%s: span %s references %+v, want %+v", where, w.op, s.References, wantRefs)
		}
		if p := tr.Processes[s.ProcessID]; p.ServiceName != w.service {
			t.Errorf("%s: span %s: process %+v, want service %q", where, w.op, p, w.service)
		}
		tags := kvStrings(s.Tags)
		for k, v := range w.tags {
			if tags[k] != v {
				t.Errorf("%s: span %s: tag %s = %q, want %q; tags %+v", where, w.op, k, tags[k], v, s.Tags)
			}
		}
		// Jaeger's conventions for OTLP spans: the kind as a span.kind tag.
		if tags["span.kind"] != w.kind {
			t.Errorf("%s: span %s: span.kind tag %q, want %q; tags %+v", where, w.op, tags["span.kind"], w.kind, s.Tags)
		}
	}
	root := byID[f.rootID]
	// An error span carries error=true (a bool: Grafana and the Jaeger UI
	// test tag.value === true) and the OTLP status as otel.status_*.
	var errTag *ui.KeyValue
	for i := range root.Tags {
		if root.Tags[i].Key == "error" {
			errTag = &root.Tags[i]
		}
	}
	if errTag == nil || errTag.Type != ui.BoolType || errTag.Value != true {
		t.Errorf("%s: root span error tag %+v, want {error bool true}", where, errTag)
	}
	if tags := kvStrings(root.Tags); tags["otel.status_code"] != "ERROR" || tags["otel.status_description"] != "upstream unavailable" {
		t.Errorf("%s: root span otel.status_code %q otel.status_description %q, want ERROR, upstream unavailable",
			where, tags["otel.status_code"], tags["otel.status_description"])
	}
	if len(root.Logs) != 1 {
		t.Errorf("%s: root span logs %+v, want the one event", where, root.Logs)
	} else {
		l := root.Logs[0]
		fields := kvStrings(l.Fields)
		if l.Timestamp != us(10*time.Millisecond) || fields["event"] != "retrying" || fields["attempt"] != "2" || fields["reason"] != "timeout" {
			t.Errorf("%s: root span log %+v, want timestamp %d and fields event=retrying attempt=2 reason=timeout",
				where, l, us(10*time.Millisecond))
		}
	}
	for _, s := range []ui.Span{root, byID[f.serverID]} {
		p := tr.Processes[s.ProcessID]
		host := map[string]string{"jaeger-e2e-frontend": "host-a", "jaeger-e2e-customer": "host-b"}[p.ServiceName]
		if got := kvStrings(p.Tags)["host.name"]; got != host {
			t.Errorf("%s: process %s tags %+v, want host.name=%s", where, p.ServiceName, p.Tags, host)
		}
		for _, kv := range p.Tags {
			checkKV(t, where+" process tag", kv)
		}
	}
}

// checkKV requires a Jaeger KeyValue whose type is one Grafana knows and
// whose JSON value has that type.
func checkKV(t *testing.T, where string, kv ui.KeyValue) {
	t.Helper()
	ok := false
	switch kv.Type {
	case ui.StringType:
		_, ok = kv.Value.(string)
	case ui.BoolType:
		_, ok = kv.Value.(bool)
	case ui.Int64Type:
		n, isNum := kv.Value.(float64)
		ok = isNum && n == float64(int64(n))
	case ui.Float64Type:
		_, ok = kv.Value.(float64)
	}
	if kv.Key == "" || !ok {
		t.Errorf("%s %q: type %q with value %#v: want a key and a string, bool, int64 or float64 value of that type", where, kv.Key, kv.Type, kv.Value)
	}
}

// kvStrings maps keys to the values' printed form (2, 0.75, true, text).
func kvStrings(kvs []ui.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[kv.Key] = fmt.Sprint(kv.Value)
	}
	return m
}

// jaegerEnvelope is the Jaeger query service's response (structuredResponse
// in its http_handler.go, unexported there).
type jaegerEnvelope struct {
	Data   json.RawMessage `json:"data"`
	Total  int             `json:"total"`
	Limit  int             `json:"limit"`
	Offset int             `json:"offset"`
	Errors []struct {
		Code    int    `json:"code"`
		Msg     string `json:"msg"`
		TraceID string `json:"traceID"`
	} `json:"errors"`
	// Raw holds every top-level field as sent.
	Raw map[string]json.RawMessage `json:"-"`
}

// jaegerGet GETs a Jaeger API path, requires the status and the envelope's
// five fields, decodes data into into (when not nil) and returns the
// envelope.
func jaegerGet(t *testing.T, base, path string, p url.Values, status int, into any) jaegerEnvelope {
	t.Helper()
	u := base + path
	if len(p) > 0 {
		u += "?" + p.Encode()
	}
	resp, body := httpGet(t, u)
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d, want %d: %s", u, resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("GET %s: Content-Type %q, want application/json", u, ct)
	}
	var env jaegerEnvelope
	if err := json.Unmarshal([]byte(body), &env.Raw); err != nil {
		t.Fatalf("GET %s: not a JSON object: %v: %s", u, err, body)
	}
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		t.Fatalf("GET %s: not Jaeger's envelope: %v: %s", u, err, body)
	}
	for _, k := range []string{"data", "total", "limit", "offset", "errors"} {
		if _, ok := env.Raw[k]; !ok {
			t.Errorf("GET %s: envelope has no %q: %s", u, k, body)
		}
	}
	if status == 200 {
		if len(env.Errors) != 0 {
			t.Errorf("GET %s: errors %+v on success", u, env.Errors)
		}
		var items []json.RawMessage
		if err := json.Unmarshal(env.Data, &items); err == nil && env.Total != len(items) {
			t.Errorf("GET %s: total %d, data has %d items", u, env.Total, len(items))
		}
	}
	if into != nil {
		if err := json.Unmarshal(env.Data, into); err != nil {
			t.Fatalf("GET %s: cannot decode data into %T: %v: %s", u, into, err, env.Data)
		}
	}
	return env
}

// jaegerError requires an error answer with errors[0].code = status (and
// msg, when given).
func jaegerError(t *testing.T, base, path string, status int, msg string) {
	t.Helper()
	env := jaegerGet(t, base, path, nil, status, nil)
	if len(env.Errors) == 0 || env.Errors[0].Code != status || env.Errors[0].Msg == "" || (msg != "" && env.Errors[0].Msg != msg) {
		t.Errorf("GET %s: errors %+v, want [{code %d msg %q}]", path, env.Errors, status, msg)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// OTLP/JSON (the protobuf JSON mapping: hex ids, enums as numbers, 64-bit
// integers as strings), built by hand so the test depends on the wire
// format alone.
type otlpKV struct {
	Key   string         `json:"key"`
	Value map[string]any `json:"value"`
}

func otlpStr(k, v string) otlpKV { return otlpKV{k, map[string]any{"stringValue": v}} }
func otlpInt(k string, v int64) otlpKV {
	return otlpKV{k, map[string]any{"intValue": strconv.FormatInt(v, 10)}}
}
func otlpBool(k string, v bool) otlpKV { return otlpKV{k, map[string]any{"boolValue": v}} }
func otlpDouble(k string, v float64) otlpKV {
	return otlpKV{k, map[string]any{"doubleValue": v}}
}

type otlpSpan struct {
	TraceID           string      `json:"traceId"`
	SpanID            string      `json:"spanId"`
	ParentSpanID      string      `json:"parentSpanId,omitempty"`
	Name              string      `json:"name"`
	Kind              int         `json:"kind"` // 1 internal, 2 server, 3 client
	StartTimeUnixNano string      `json:"startTimeUnixNano"`
	EndTimeUnixNano   string      `json:"endTimeUnixNano"`
	Attributes        []otlpKV    `json:"attributes,omitempty"`
	Events            []otlpEvent `json:"events,omitempty"`
	Links             []otlpLink  `json:"links,omitempty"`
	Status            otlpStatus  `json:"status"`
}

type otlpEvent struct {
	TimeUnixNano string   `json:"timeUnixNano"`
	Name         string   `json:"name"`
	Attributes   []otlpKV `json:"attributes,omitempty"`
}

type otlpLink struct {
	TraceID    string   `json:"traceId"`
	SpanID     string   `json:"spanId"`
	Attributes []otlpKV `json:"attributes,omitempty"`
}

type otlpStatus struct {
	Code    int    `json:"code,omitempty"` // 1 ok, 2 error
	Message string `json:"message,omitempty"`
}

func otlpResourceSpans(resource []otlpKV, scope, version string, spans ...otlpSpan) any {
	return map[string]any{
		"resource": map[string]any{"attributes": resource},
		"scopeSpans": []any{map[string]any{
			"scope": map[string]any{"name": scope, "version": version},
			"spans": spans,
		}},
	}
}

func otlpTraces(resourceSpans ...any) []byte {
	b, err := json.Marshal(map[string]any{"resourceSpans": resourceSpans})
	if err != nil {
		panic("BUG: " + err.Error())
	}
	return b
}

// postOTLPJSON exports traces to the OTLP HTTP listener and requires
// full acceptance.
func postOTLPJSON(t *testing.T, addr string, body []byte) {
	t.Helper()
	resp, err := http.Post("http://"+addr+"/v1/traces", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST /v1/traces: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("POST /v1/traces: %d %s", resp.StatusCode, b)
	}
	var ans struct {
		PartialSuccess *struct {
			RejectedSpans string `json:"rejectedSpans"`
			ErrorMessage  string `json:"errorMessage"`
		} `json:"partialSuccess"`
	}
	if err := json.Unmarshal(b, &ans); err == nil && ans.PartialSuccess != nil &&
		ans.PartialSuccess.RejectedSpans != "" && ans.PartialSuccess.RejectedSpans != "0" {
		t.Fatalf("POST /v1/traces: partial success: %s", b)
	}
}
