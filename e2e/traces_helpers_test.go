package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// The JSON shapes of docs/traces-api.md, decoded as a client would.

type apiTrace struct {
	TraceID string    `json:"traceID"`
	Spans   []apiSpan `json:"spans"`
}

type apiSpan struct {
	TraceID           string `json:"traceID"`
	SpanID            string `json:"spanID"`
	ParentSpanID      string `json:"parentSpanID"`
	TraceState        string `json:"traceState"`
	Service           string `json:"service"`
	Name              string `json:"name"`
	Kind              string `json:"kind"`
	StartTimeUnixNano string `json:"startTimeUnixNano"`
	DurationNanos     int64  `json:"durationNanos"`
	StatusCode        string `json:"statusCode"`
	StatusMessage     string `json:"statusMessage"`
	Scope             struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"scope"`
	Resource   map[string]any `json:"resource"`
	Attributes map[string]any `json:"attributes"`
	Events     []struct {
		TimeUnixNano string         `json:"timeUnixNano"`
		Name         string         `json:"name"`
		Attributes   map[string]any `json:"attributes"`
	} `json:"events"`
	Links []struct {
		TraceID    string         `json:"traceID"`
		SpanID     string         `json:"spanID"`
		TraceState string         `json:"traceState"`
		Attributes map[string]any `json:"attributes"`
	} `json:"links"`
}

type traceSummary struct {
	TraceID           string   `json:"traceID"`
	RootService       string   `json:"rootService"`
	RootName          string   `json:"rootName"`
	StartTimeUnixNano string   `json:"startTimeUnixNano"`
	DurationNanos     int64    `json:"durationNanos"`
	SpanCount         int      `json:"spanCount"`
	ErrorCount        int      `json:"errorCount"`
	Services          []string `json:"services"`
}

type searchPage struct {
	Traces     []traceSummary `json:"traces"`
	NextCursor string         `json:"nextCursor"`
}

// traceClient reads the trace API. Its timeout only guards against a hung
// server: the tests do not assert how fast an answer comes.
var traceClient = &http.Client{Timeout: 3 * time.Minute, Transport: insecureTransport()}

// traceAPIGet GETs a path of Vigil's own JSON API and decodes a 200 answer
// into into. It returns the status code; err is set for a transport error,
// an undecodable body, or a status other than 200 and 404 (the body is in
// the error). It never fails the test, so goroutines may call it.
func traceAPIGet(base, path string, p url.Values, into any) (int, error) {
	u := base + path
	if len(p) > 0 {
		u += "?" + p.Encode()
	}
	resp, err := traceClient.Get(u)
	if err != nil {
		return 0, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("GET %s: cannot read body: %w", u, err)
	}
	switch resp.StatusCode {
	case 200:
		if err := json.Unmarshal(b, into); err != nil {
			return 200, fmt.Errorf("GET %s: cannot decode %.300s: %w", u, b, err)
		}
		return 200, nil
	case 404:
		return 404, nil
	default:
		return resp.StatusCode, fmt.Errorf("GET %s: %d %.500s", u, resp.StatusCode, b)
	}
}

// fetchTrace gets one trace by id; found is false on 404.
func fetchTrace(base, traceID string) (tr apiTrace, found bool, err error) {
	code, err := traceAPIGet(base, "/api/vigil/v1/traces/"+traceID, nil, &tr)
	return tr, code == 200, err
}

// waitTrace polls until the trace has at least want spans: spans are
// visible soon after their export is acknowledged, not necessarily at once.
func waitTrace(t *testing.T, base, traceID string, want int) apiTrace {
	t.Helper()
	var tr apiTrace
	eventually(t, 20*time.Second, func() string {
		var found bool
		var err error
		tr, found, err = fetchTrace(base, traceID)
		switch {
		case err != nil:
			t.Fatal(err)
		case !found:
			return fmt.Sprintf("trace %s: 404", traceID)
		case len(tr.Spans) < want:
			return fmt.Sprintf("trace %s: %d spans, want %d", traceID, len(tr.Spans), want)
		}
		return ""
	})
	if tr.TraceID != traceID {
		t.Errorf("trace %s answered with traceID %q", traceID, tr.TraceID)
	}
	return tr
}

// searchTraces runs one search page and fails the test on an error.
func searchTraces(t *testing.T, base string, p url.Values) searchPage {
	t.Helper()
	var page searchPage
	if _, err := traceAPIGet(base, "/api/vigil/v1/traces", p, &page); err != nil {
		t.Fatal(err)
	}
	return page
}

// searchIDs returns the trace ids of one search page, sorted.
func searchIDs(t *testing.T, base string, p url.Values) []string {
	t.Helper()
	page := searchTraces(t, base, p)
	var ids []string
	for _, s := range page.Traces {
		ids = append(ids, s.TraceID)
	}
	slices.Sort(ids)
	return ids
}

// waitSearch polls a search until it answers exactly the trace ids want.
func waitSearch(t *testing.T, base string, p url.Values, want []string) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	eventually(t, 20*time.Second, func() string {
		if got := searchIDs(t, base, p); !slices.Equal(got, want) {
			return fmt.Sprintf("search %s: got %d traces %v, want %d %v", p.Encode(), len(got), got, len(want), want)
		}
		return ""
	})
}

// jsonAttrString is an attribute value as text: JSON strings as they are,
// anything else (numbers, booleans, arrays) in its JSON form, which is
// also OTLP's AnyValue.AsString for those types.
func jsonAttrString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func jsonAttrStrings(m map[string]any) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = jsonAttrString(v)
	}
	return out
}

// diffAttrs describes how got differs from want, or is "".
func diffAttrs(got map[string]any, want map[string]string) string {
	g := jsonAttrStrings(got)
	var d []string
	for k, w := range want {
		if gv, ok := g[k]; !ok {
			d = append(d, fmt.Sprintf("%s missing (want %q)", k, w))
		} else if gv != w {
			d = append(d, fmt.Sprintf("%s=%q, want %q", k, gv, w))
		}
	}
	for k, gv := range g {
		if _, ok := want[k]; !ok {
			d = append(d, fmt.Sprintf("unexpected %s=%q", k, gv))
		}
	}
	slices.Sort(d)
	return strings.Join(d, "; ")
}

// checkParents reports spans whose parent is not in the trace, and
// whether exactly one root exists.
func checkParents(tr apiTrace) string {
	ids := map[string]bool{}
	for _, s := range tr.Spans {
		ids[s.SpanID] = true
	}
	roots := 0
	var d []string
	for _, s := range tr.Spans {
		if s.TraceID != tr.TraceID {
			d = append(d, fmt.Sprintf("span %s has traceID %s", s.SpanID, s.TraceID))
		}
		if s.ParentSpanID == "" {
			roots++
		} else if !ids[s.ParentSpanID] {
			d = append(d, fmt.Sprintf("span %s (%s/%s): parent %s not in the trace", s.SpanID, s.Service, s.Name, s.ParentSpanID))
		}
	}
	if roots != 1 {
		d = append(d, fmt.Sprintf("%d root spans, want 1", roots))
	}
	return strings.Join(d, "; ")
}
