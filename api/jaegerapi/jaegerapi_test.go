package jaegerapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/vigilhq/vigil/storage/metricstore"
	"github.com/vigilhq/vigil/storage/spans"
	"github.com/vigilhq/vigil/traces/search"
	"github.com/vigilhq/vigil/traces/search/searchtest"
)

type memStore []spans.Span

type envelope struct {
	Data   json.RawMessage `json:"data"`
	Total  int             `json:"total"`
	Limit  int             `json:"limit"`
	Offset int             `json:"offset"`
	Errors []apiError      `json:"errors"`
}

func call(t *testing.T, h http.Handler, u string, code int) envelope {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, u, nil))
	if rec.Code != code {
		t.Fatalf("GET %s: %d %s, want %d", u, rec.Code, rec.Body, code)
	}
	var e envelope
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestTracesInJaegerShape(t *testing.T) {
	now := time.Now()
	root := spans.Span{TraceID: [16]byte{8: 0xab, 15: 1}, SpanID: [8]byte{1}, Service: "web", Name: "GET /", Kind: "server",
		Start: now.Add(-time.Minute), DurationNanos: 3_000_000, StatusCode: "error", StatusMessage: "boom", ScopeName: "otelhttp",
		Resource: map[string]string{"service.name": "web", "host.name": "h1"}, Attributes: map[string]string{"http.route": "/"},
		Events: []spans.Event{{Time: now.Add(-time.Minute), Name: "exception", Attributes: map[string]string{"exception.message": "x"}}},
		Links:  []spans.Link{{TraceID: [16]byte{2}, SpanID: [8]byte{3}}}}
	child := spans.Span{TraceID: root.TraceID, SpanID: [8]byte{2}, ParentSpanID: [8]byte{1}, Service: "db", Name: "select", Kind: "internal",
		Start: now.Add(-time.Minute + time.Millisecond), DurationNanos: 1000, StatusCode: "ok"}
	st := memStore{root, child}
	s := search.New(searchtest.Store(t, st), nil)
	s.Catalog().Observe(st)
	h := New(Options{Searcher: s})

	e := call(t, h, "/api/traces/ab00000000000001", 200)
	var tr []Trace
	if err := json.Unmarshal(e.Data, &tr); err != nil || len(tr) != 1 || e.Total != 1 || e.Errors != nil {
		t.Fatalf("envelope %+v, %v", e, err)
	}
	got := tr[0]
	if got.TraceID != "ab00000000000001" || len(got.Spans) != 2 || len(got.Processes) != 2 {
		t.Fatalf("trace = %+v", got)
	}
	r, c := got.Spans[0], got.Spans[1]
	if r.OperationName != "GET /" || r.StartTime != uint64(root.Start.UnixMicro()) || r.Duration != 3000 || len(r.References) != 1 ||
		r.References[0].RefType != "FOLLOWS_FROM" || len(r.Logs) != 1 || r.Logs[0].Fields[0].Value != "exception" {
		t.Fatalf("root = %+v", r)
	}
	tags := map[string]any{}
	for _, kv := range r.Tags {
		tags[kv.Key] = kv.Value
	}
	if tags["span.kind"] != "server" || tags["error"] != true || tags["otel.status_code"] != "ERROR" || tags["otel.status_description"] != "boom" || tags["http.route"] != "/" {
		t.Fatalf("root tags = %v", tags)
	}
	if len(c.References) != 1 || c.References[0].RefType != "CHILD_OF" || c.References[0].SpanID != "0100000000000000" || c.References[0].TraceID != got.TraceID {
		t.Fatalf("child refs = %+v", c.References)
	}
	for _, kv := range c.Tags {
		if kv.Key == "span.kind" {
			t.Fatal("internal spans carry no span.kind, as in Jaeger")
		}
	}
	p := got.Processes[r.ProcessID]
	if p.ServiceName != "web" || len(p.Tags) != 1 || p.Tags[0].Key != "host.name" {
		t.Fatalf("process = %+v", p)
	}

	e = call(t, h, "/api/traces/ab00000000000002", 404)
	if len(e.Errors) != 1 || e.Errors[0].Code != 404 || e.Errors[0].Msg != "trace not found" {
		t.Fatalf("404 = %+v", e)
	}
	call(t, h, "/api/traces/zz", 400)
	call(t, h, "/api/traces?operation=x", 400) // service is required

	start := strconv.FormatInt(now.Add(-time.Hour).UnixMicro(), 10)
	for _, q := range []string{
		"service=web&start=" + start,
		"service=web&lookback=2h&minDuration=2ms",
		"service=web&tags=" + url.QueryEscape(`{"error":"true","http.route":"/"}`),
		"service=db&tag=" + url.QueryEscape("span.kind:internal"),
		"traceID=ab00000000000001",
	} {
		e = call(t, h, "/api/traces?"+q, 200)
		if json.Unmarshal(e.Data, &tr); len(tr) != 1 || len(tr[0].Spans) != 2 {
			t.Errorf("%s: %d traces", q, len(tr))
		}
	}
	for _, q := range []string{"service=web&minDuration=4ms", "service=db&tags=" + url.QueryEscape(`{"error":"true"}`)} {
		if e = call(t, h, "/api/traces?"+q, 200); e.Total != 0 {
			t.Errorf("%s: %d traces, want 0", q, e.Total)
		}
	}
	call(t, h, "/api/traces?service=web&tags=notjson", 400)
	call(t, h, "/api/traces?service=web&minDuration=soon", 400)

	var names []string
	e = call(t, h, "/api/services", 200)
	if json.Unmarshal(e.Data, &names); len(names) != 2 || names[0] != "db" {
		t.Fatalf("services %s", e.Data)
	}
	e = call(t, h, "/api/services/web/operations", 200)
	if json.Unmarshal(e.Data, &names); len(names) != 1 || names[0] != "GET /" {
		t.Fatalf("operations %s", e.Data)
	}
	var ops []struct{ Name, SpanKind string }
	e = call(t, h, "/api/operations?service=web&spanKind=server", 200)
	if json.Unmarshal(e.Data, &ops); len(ops) != 1 || ops[0].SpanKind != "server" {
		t.Fatalf("operations %s", e.Data)
	}
}

func TestDependencies(t *testing.T) {
	st, err := metricstore.Open(metricstore.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().Truncate(time.Second)
	app := st.AppenderV2(context.Background())
	add := func(client, server string, ago time.Duration, v float64) {
		ls := labels.FromStrings("__name__", "traces_service_graph_request_total", "client", client, "server", server, "connection_type", "")
		if _, err := app.Append(0, ls, 0, now.Add(-ago).UnixMilli(), v, nil, nil, storage.AppendV2Options{}); err != nil {
			t.Fatal(err)
		}
	}
	// old→gone has nothing inside the window
	add("old", "gone", 3*time.Hour, 50)
	// web→api: 10 before the window, 25 then a restart to 4 inside it: 15+4
	add("web", "api", 70*time.Minute, 10)
	add("web", "api", 30*time.Minute, 25)
	add("web", "api", 10*time.Minute, 4)
	// api→db started inside the window: all 7 count
	add("api", "db", 20*time.Minute, 7)
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
	h := New(Options{Searcher: search.New(searchtest.Store(t, nil), nil), Metrics: st})
	e := call(t, h, "/api/dependencies?endTs="+strconv.FormatInt(now.UnixMilli(), 10)+"&lookback="+strconv.FormatInt(time.Hour.Milliseconds(), 10), 200)
	var deps []Dependency
	if err := json.Unmarshal(e.Data, &deps); err != nil {
		t.Fatal(err)
	}
	want := []Dependency{{"api", "db", 7}, {"web", "api", 19}}
	if len(deps) != 2 || deps[0] != want[0] || deps[1] != want[1] {
		t.Fatalf("dependencies = %+v, want %+v", deps, want)
	}
	call(t, h, "/api/dependencies?endTs=x", 400)
}

// FuzzParseQuery: Jaeger search parameters are refused or within bounds.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"service=a&lookback=2h&minDuration=1ms&limit=20", `service=a&tags=%7B%22error%22%3A%22true%22%7D`, "service=a&tag=span.kind:server&start=1&end=2", "service=a&limit=99999"} {
		f.Add(s)
	}
	now := time.Unix(1_800_000_000, 0)
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := parseQuery(v, now)
		if err != nil {
			return
		}
		if q.Service == "" || q.Limit <= 0 || q.Limit > search.MaxLimit || q.Start.IsZero() || q.End.IsZero() {
			t.Fatalf("accepted %+v", q)
		}
	})
}
