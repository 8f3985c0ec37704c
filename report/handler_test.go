package report

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// handlerNow is the handler's clock in these tests: December 2026, so the
// default period is November.
var handlerNow = time.Date(2026, 12, 10, 15, 4, 5, 0, time.UTC)

func testHandler(q QueryFunc, lookup SLOLookup) http.Handler {
	return &handler{q: q, lookup: lookup, now: func() time.Time { return handlerNow }}
}

type apiAnswer struct {
	Status    string `json:"status"`
	Data      Report `json:"data"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
}

func serve(t *testing.T, h http.Handler, method string, params url.Values) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(method, "/api/v1/sla?"+params.Encode(), nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestHandlerFormats(t *testing.T) {
	h := testHandler(testQuery(t), nil)
	base := url.Values{"service": {"checkout"}, "from": {"2026-11-01"}, "to": {"1793750400"}} // 2026-11-04
	for format, want := range map[string]struct{ contentType, contains string }{
		"":          {"application/json", `"status":"success"`},
		"json":      {"application/json", `"total_requests":302400`},
		"csv":       {"text/csv; charset=utf-8", "service,from,to,source,total_requests"},
		"csv-daily": {"text/csv; charset=utf-8", "2026-11-03,"},
		"md":        {"text/markdown; charset=utf-8", "| Requests | 302,400 |"},
		"html":      {"text/html; charset=utf-8", "<td>302,400</td>"},
	} {
		p := url.Values{}
		for k, v := range base {
			p[k] = v
		}
		if format != "" {
			p.Set("format", format)
		}
		resp, body := serve(t, h, http.MethodGet, p)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != want.contentType || !strings.Contains(body, want.contains) {
			t.Errorf("format %q: %d %s, want %s containing %q:\n%.400s", format, resp.StatusCode, resp.Header.Get("Content-Type"), want.contentType, want.contains, body)
		}
		if format == "html" && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("html without a restrictive CSP: %q", resp.Header.Get("Content-Security-Policy"))
		}
	}
}

func TestHandlerObjectives(t *testing.T) {
	lookup := func(service string) (float64, *LatencyObjective, bool) {
		if service != "checkout" {
			return 0, nil, false
		}
		return 99.9, &LatencyObjective{Quantile: 0.99, Seconds: 0.5}, true
	}
	h := testHandler(testQuery(t), lookup)
	get := func(extra url.Values) Report {
		t.Helper()
		p := url.Values{"service": {"checkout"}, "from": {"2026-11-01"}, "to": {"2026-11-04"}}
		for k, v := range extra {
			p[k] = v
		}
		resp, body := serve(t, h, http.MethodGet, p)
		var a apiAnswer
		if err := json.Unmarshal([]byte(body), &a); err != nil || resp.StatusCode != 200 || a.Status != "success" {
			t.Fatalf("%d %v: %s", resp.StatusCode, err, body)
		}
		return a.Data
	}
	rep := get(nil)
	if rep.Objective == nil || *rep.Objective != 99.9 || rep.LatencyObjective == nil || rep.LatencyObjective.Seconds != 0.5 || !sameBool(rep.LatencyObjectiveMet, new(false)) {
		t.Errorf("the SLO's objectives were not used: %+v", rep)
	}
	rep = get(url.Values{"objective": {"97"}})
	if rep.Objective == nil || *rep.Objective != 97 || !sameBool(rep.ObjectiveMet, new(true)) || rep.LatencyObjective == nil || rep.LatencyObjective.Seconds != 0.5 {
		t.Errorf("objective=97 should override only the availability objective: %+v", rep)
	}
	rep = get(url.Values{"latency_objective": {"p99:2s"}})
	if *rep.Objective != 99.9 || rep.LatencyObjective.Seconds != 2 || !sameBool(rep.LatencyObjectiveMet, new(true)) {
		t.Errorf("latency_objective=p99:2s should override only the latency objective: %+v", rep)
	}
}

func TestHandlerDefaultPeriod(t *testing.T) {
	type call struct {
		expr string
		at   time.Time
	}
	var calls []call
	q := func(_ context.Context, expr string, at time.Time) (model.Vector, error) {
		calls = append(calls, call{expr, at})
		return nil, nil
	}
	resp, body := serve(t, testHandler(q, nil), http.MethodGet, url.Values{"service": {"checkout"}})
	if resp.StatusCode != http.StatusNotFound || len(calls) == 0 {
		t.Fatalf("%d %s (%d queries)", resp.StatusCode, body, len(calls))
	}
	// November 2026 has 30 days.
	if want := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC); !calls[0].at.Equal(want) || !strings.Contains(calls[0].expr, "[30d]") {
		t.Errorf("first query %s at %s, want a 30d range at %s", calls[0].expr, calls[0].at, want)
	}

	calls = nil
	serve(t, testHandler(q, nil), http.MethodGet, url.Values{"service": {"checkout"}, "from": {"2026-12-01"}})
	if want := handlerNow; len(calls) == 0 || !calls[0].at.Equal(want) {
		t.Errorf("with from only, the first query ran at %v, want now (%s)", calls, want)
	}

	// January's last full month is the previous year's December.
	from, to := lastFullMonth(time.Date(2027, 1, 31, 23, 0, 0, 0, time.UTC))
	if !from.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) || !to.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("lastFullMonth in January = %s..%s", from, to)
	}
}

func TestHandlerErrors(t *testing.T) {
	h := testHandler(testQuery(t), nil)
	f := func(params url.Values, code int, errType, contains string) {
		t.Helper()
		resp, body := serve(t, h, http.MethodGet, params)
		var a apiAnswer
		if err := json.Unmarshal([]byte(body), &a); err != nil {
			t.Fatalf("%v: not JSON: %s", params, body)
		}
		if resp.StatusCode != code || a.Status != "error" || a.ErrorType != errType || !strings.Contains(a.Error, contains) {
			t.Errorf("%v: %d %s %q, want %d %s containing %q", params, resp.StatusCode, a.ErrorType, a.Error, code, errType, contains)
		}
	}
	p := func(kv ...string) url.Values {
		v := url.Values{"service": {"checkout"}, "from": {"2026-11-01"}, "to": {"2026-11-04"}}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				v.Del(kv[i])
			} else {
				v.Set(kv[i], kv[i+1])
			}
		}
		return v
	}
	f(p("service", ""), 400, "bad_data", `invalid parameter "service"`)
	f(p("from", "yesterday"), 400, "bad_data", `invalid parameter "from"`)
	f(p("to", "2026-11-31"), 400, "bad_data", `invalid parameter "to"`)
	f(p("from", ""), 400, "bad_data", `invalid parameter "from": required when to is given`)
	f(p("to", "2027-01-01"), 400, "bad_data", `invalid parameter "to": 2027-01-01T00:00:00Z is in the future`)
	f(p("from", "2026-11-05"), 400, "bad_data", `invalid parameter "from": the start`)
	f(p("from", "2025-01-01"), 400, "bad_data", `invalid parameter "from": the period of`)
	f(p("format", "pdf"), 400, "bad_data", `invalid parameter "format"`)
	f(p("objective", "high"), 400, "bad_data", `invalid parameter "objective"`)
	f(p("objective", "100"), 400, "bad_data", `invalid parameter "objective"`)
	f(p("latency_objective", "99:1s"), 400, "bad_data", `invalid parameter "latency_objective"`)
	f(p("source", "logs"), 400, "bad_data", `invalid parameter "source"`)
	f(p("source", "custom", "total", "rate(", "errors", "x"), 400, "bad_data", `invalid parameter "total"`)
	f(p("source", "custom", "total", "x"), 400, "bad_data", `invalid parameter "errors"`)
	f(p("span_kinds", ","), 400, "bad_data", `invalid parameter "span_kinds"`)
	f(p("service", "ghost"), 404, "not_found", `no request metrics for service "ghost"`)

	failing := testHandler(func(context.Context, string, time.Time) (model.Vector, error) {
		return nil, errors.New("disk on fire")
	}, nil)
	resp, body := serve(t, failing, http.MethodGet, p())
	if resp.StatusCode != 422 || !strings.Contains(body, "disk on fire") {
		t.Errorf("failing query: %d %s", resp.StatusCode, body)
	}
	canceled := testHandler(func(context.Context, string, time.Time) (model.Vector, error) {
		return nil, context.DeadlineExceeded
	}, nil)
	if resp, body := serve(t, canceled, http.MethodGet, p()); resp.StatusCode != 503 || !strings.Contains(body, `"timeout"`) {
		t.Errorf("timed-out query: %d %s", resp.StatusCode, body)
	}
	if resp, _ := serve(t, h, http.MethodPost, p()); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") == "" {
		t.Errorf("POST: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}
