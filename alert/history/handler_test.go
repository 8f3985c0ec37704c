package history

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

type apiResponse struct {
	Status    string   `json:"status"`
	Data      []Event  `json:"data"`
	Warnings  []string `json:"warnings"`
	ErrorType string   `json:"errorType"`
	Error     string   `json:"error"`
}

func get(t *testing.T, h http.Handler, method string, params url.Values) (int, apiResponse, string) {
	t.Helper()
	req := httptest.NewRequest(method, "/api/v1/alerts/history?"+params.Encode(), nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var r apiResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("%s: body is not JSON: %v\n%s", params.Encode(), err, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	return rec.Code, r, rec.Body.String()
}

func TestHandlerErrors(t *testing.T) {
	c := &clock{t: t0}
	h := open(t, "", c, Options{}).Handler()
	f := func(params url.Values, want string) {
		t.Helper()
		code, r, body := get(t, h, http.MethodGet, params)
		if code != http.StatusBadRequest || r.Status != "error" || r.ErrorType != "bad_data" || !strings.Contains(r.Error, want) {
			t.Errorf("%s: %d %s, want 400 bad_data containing %q", params.Encode(), code, body, want)
		}
	}
	f(url.Values{"start": {"yesterday"}}, `invalid parameter "start"`)
	f(url.Values{"end": {"2026-13-01T00:00:00Z"}}, `invalid parameter "end"`)
	f(url.Values{"end": {"NaN"}}, `invalid parameter "end"`)
	f(url.Values{"start": {"1e300"}}, `invalid parameter "start"`)
	f(url.Values{"start": {"100"}, "end": {"99"}}, "end timestamp must not be before start time")
	f(url.Values{"match[]": {`{alertname=`}}, `invalid parameter "match[]"`)
	f(url.Values{"match[]": {`up`, ``}}, `invalid parameter "match[]"`)
	f(url.Values{"state": {"firing,burning"}}, `invalid parameter "state": unknown state "burning"`)
	f(url.Values{"limit": {"-1"}}, `invalid parameter "limit"`)
	f(url.Values{"limit": {"10001"}}, `invalid parameter "limit"`)
	f(url.Values{"limit": {"ten"}}, `invalid parameter "limit"`)

	code, r, _ := get(t, h, http.MethodPost, nil)
	if code != http.StatusMethodNotAllowed || r.Status != "error" {
		t.Errorf("POST: %d %+v", code, r)
	}
}

func TestHandlerSuccess(t *testing.T) {
	c := &clock{t: t0}
	s := open(t, "", c, Options{})
	h := s.Handler()
	s.Record(
		ev(t0.Add(-25*time.Hour), "Old", StateFiring, "severity", "page"),
		ev(t0.Add(-2*time.Hour), "A", StatePending, "severity", "page"),
		ev(t0.Add(-time.Hour), "A", StateFiring, "severity", "page"),
		ev(t0.Add(-30*time.Minute), "B", StateFiring, "severity", "ticket"),
		ev(t0.Add(-10*time.Minute), "A", StateResolved, "severity", "page"),
	)
	names := func(r apiResponse) []string {
		var out []string
		for _, e := range r.Data {
			out = append(out, e.AlertName+"/"+e.State)
		}
		return out
	}
	f := func(params url.Values, want []string, truncated bool) {
		t.Helper()
		code, r, body := get(t, h, http.MethodGet, params)
		if code != http.StatusOK || r.Status != "success" {
			t.Fatalf("%s: %d %s", params.Encode(), code, body)
		}
		if got := names(r); !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", params.Encode(), got, want)
		}
		if (len(r.Warnings) > 0) != truncated {
			t.Errorf("%s: warnings %q, want truncated=%v", params.Encode(), r.Warnings, truncated)
		}
	}
	// Default: the last 24h, so "Old" is out.
	f(nil, []string{"A/resolved", "B/firing", "A/firing", "A/pending"}, false)
	f(url.Values{"start": {t0.Add(-48 * time.Hour).Format(time.RFC3339)}, "end": {"2026-12-02T10:00:00Z"}},
		[]string{"A/resolved", "B/firing", "A/firing", "A/pending", "Old/firing"}, false)
	f(url.Values{"start": {"0"}, "end": {"1796205600.5"}}, // t0 in Unix seconds, with a fraction
		[]string{"A/resolved", "B/firing", "A/firing", "A/pending", "Old/firing"}, false)
	f(url.Values{"match[]": {`A{severity="page"}`}, "state": {"firing", "pending"}}, []string{"A/firing", "A/pending"}, false)
	f(url.Values{"match[]": {`{severity="ticket"}`, `{alertname="A"}`}, "state": {"firing,resolved"}},
		[]string{"A/resolved", "B/firing", "A/firing"}, false)
	f(url.Values{"limit": {"2"}}, []string{"A/resolved", "B/firing"}, true)
	f(url.Values{"limit": {"4"}}, []string{"A/resolved", "B/firing", "A/firing", "A/pending"}, false)

	// Nothing found is an empty array, not null.
	_, _, body := get(t, h, http.MethodGet, url.Values{"match[]": {`{alertname="None"}`}})
	if !strings.Contains(body, `"data":[]`) {
		t.Errorf("empty result: %s", body)
	}
	// HEAD is served like GET.
	req := httptest.NewRequest(http.MethodHead, "/api/v1/alerts/history", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("HEAD: %d", rec.Code)
	}
}
