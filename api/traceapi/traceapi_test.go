package traceapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/storage/spans"
	"github.com/vigilhq/vigil/traces/search"
	"github.com/vigilhq/vigil/traces/search/searchtest"
)

type memStore []spans.Span

func fixture(now time.Time) memStore {
	tid := [16]byte{0x5b, 0x8e, 15: 0x0c}
	root := spans.Span{TraceID: tid, SpanID: [8]byte{0xee, 7: 1}, Service: "checkout", Name: "GET /cart", Kind: "server",
		Start: now.Add(-time.Minute), DurationNanos: 1_200_000, StatusCode: "error", StatusMessage: "boom",
		ScopeName: "flask", ScopeVersion: "0.1", Resource: map[string]string{"service.name": "checkout"},
		Attributes: map[string]string{"http.method": "GET"},
		Events:     []spans.Event{{Time: now.Add(-time.Minute + time.Microsecond), Name: "exception", Attributes: map[string]string{"exception.type": "ValueError"}}},
		Links:      []spans.Link{{TraceID: [16]byte{9}, SpanID: [8]byte{8}}}}
	child := spans.Span{TraceID: tid, SpanID: [8]byte{0xee, 7: 2}, ParentSpanID: root.SpanID, Service: "payments", Name: "charge", Kind: "client",
		Start: now.Add(-time.Minute + time.Millisecond), DurationNanos: 100_000, StatusCode: "unset"}
	return memStore{child, root}
}

func get(t *testing.T, h http.Handler, url string, wantCode int, into any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
	if rec.Code != wantCode {
		t.Fatalf("GET %s: %d %s, want %d", url, rec.Code, rec.Body, wantCode)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s: Content-Type %q", url, ct)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), into); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, rec.Body)
	}
}

func TestTraceByID(t *testing.T) {
	now := time.Now()
	s := search.New(searchtest.Store(t, fixture(now)), nil)
	h := New(s, nil)
	var got struct {
		TraceID string `json:"traceID"`
		Spans   []Span `json:"spans"`
	}
	get(t, h, "/api/vigil/v1/traces/5b8e000000000000000000000000000c", 200, &got)
	if got.TraceID != "5b8e000000000000000000000000000c" || len(got.Spans) != 2 {
		t.Fatalf("got %+v", got)
	}
	r, c := got.Spans[0], got.Spans[1]
	if r.ParentSpanID != "" || r.SpanID != "ee00000000000001" || c.ParentSpanID != r.SpanID || r.Kind != "server" ||
		r.StatusCode != "error" || r.StatusMessage != "boom" || r.Scope.Name != "flask" || r.Attributes["http.method"] != "GET" ||
		r.Resource["service.name"] != "checkout" || len(r.Events) != 1 || r.Events[0].Attributes["exception.type"] != "ValueError" ||
		len(r.Links) != 1 || r.Links[0].TraceID != "09000000000000000000000000000000" || r.DurationNanos != 1_200_000 ||
		r.StartTimeUnixNano != strconv.FormatInt(now.Add(-time.Minute).UnixNano(), 10) {
		t.Fatalf("root span = %+v", r)
	}
	if c.Attributes == nil || c.Events == nil || c.Links == nil {
		t.Fatal("empty collections must be [] / {} for the UI, not null")
	}
	var e struct{ Error string }
	get(t, h, "/api/vigil/v1/traces/0123", 404, &e)
	if e.Error != "trace not found" {
		t.Fatalf("404 body %+v", e)
	}
	get(t, h, "/api/vigil/v1/traces/nothex", 400, &e)
	if !strings.Contains(e.Error, "invalid trace id") {
		t.Fatalf("400 body %+v", e)
	}
}

func TestSearchAndCatalog(t *testing.T) {
	now := time.Now()
	st := fixture(now)
	s := search.New(searchtest.Store(t, st), nil)
	s.Catalog().Observe(st)
	h := New(s, nil)
	var res struct {
		Traces     []Summary `json:"traces"`
		NextCursor string    `json:"nextCursor"`
	}
	get(t, h, "/api/vigil/v1/traces?service=payments&kind=client&attr=service.name%3Dcheckout&minDuration=1ms", 200, &res)
	if len(res.Traces) != 0 {
		t.Fatalf("conditions on different spans matched: %+v", res)
	}
	get(t, h, "/api/vigil/v1/traces?service=checkout&status=error&minDuration=1ms&maxDuration=2s&attr=http.method%3DGET&start="+
		strconv.FormatInt(now.Add(-2*time.Minute).Unix(), 10)+"&end="+now.Format(time.RFC3339Nano), 200, &res)
	if len(res.Traces) != 1 || res.Traces[0].RootName != "GET /cart" || res.Traces[0].SpanCount != 2 || res.Traces[0].ErrorCount != 1 ||
		len(res.Traces[0].Services) != 2 || res.NextCursor != "" {
		t.Fatalf("search = %+v", res)
	}
	var e struct{ Error string }
	for url, want := range map[string]string{
		"/api/vigil/v1/traces?kind=sideways":                 "invalid kind",
		"/api/vigil/v1/traces?status=bad":                    "invalid status",
		"/api/vigil/v1/traces?minDuration=fast":              "invalid minDuration",
		"/api/vigil/v1/traces?minDuration=2s&maxDuration=1s": "above maxDuration",
		"/api/vigil/v1/traces?attr=novalue":                  "invalid attr",
		"/api/vigil/v1/traces?start=yesterday":               "invalid start",
		"/api/vigil/v1/traces?start=200&end=100":             "end is before start",
		"/api/vigil/v1/traces?limit=0":                       "invalid limit",
		"/api/vigil/v1/traces?cursor=zz":                     "invalid cursor",
		"/api/vigil/v1/operations":                           "service is required",
	} {
		get(t, h, url, 400, &e)
		if !strings.Contains(e.Error, want) {
			t.Errorf("%s: error %q, want it to contain %q", url, e.Error, want)
		}
	}
	var svc struct{ Services []string }
	get(t, h, "/api/vigil/v1/services", 200, &svc)
	if len(svc.Services) != 2 || svc.Services[0] != "checkout" {
		t.Fatalf("services = %v", svc)
	}
	var ops struct{ Operations []struct{ Name, Kind string } }
	get(t, h, "/api/vigil/v1/operations?service=payments", 200, &ops)
	if len(ops.Operations) != 1 || ops.Operations[0].Name != "charge" || ops.Operations[0].Kind != "client" {
		t.Fatalf("operations = %+v", ops)
	}
	get(t, h, "/api/vigil/v1/nothing", 404, &e)
}

// FuzzParseQuery: any query string is either refused with an error or
// yields a query within the documented bounds; it never panics.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"service=a&minDuration=1ms&maxDuration=2s&attr=k%3Dv&limit=5", "start=1.5&end=2", "start=2026-01-01T00:00:00Z", "minDuration=1d", "limit=-1", "attr==", "kind=SERVER&status=Error"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseQuery(v)
		if err != nil {
			return
		}
		if q.Limit < 0 || q.Limit > search.MaxLimit {
			t.Fatalf("limit %d out of bounds", q.Limit)
		}
		if q.MinDuration < 0 || q.MaxDuration < 0 || (q.MaxDuration > 0 && q.MinDuration > q.MaxDuration) {
			t.Fatalf("durations %v..%v", q.MinDuration, q.MaxDuration)
		}
		if q.Kind != "" && !kinds[q.Kind] || q.Status != "" && !statuses[q.Status] {
			t.Fatalf("kind %q status %q accepted", q.Kind, q.Status)
		}
		for k := range q.Attributes {
			if k == "" {
				t.Fatal("empty attribute key accepted")
			}
		}
	})
}
