package history

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
)

// DefaultRange is the span a history request covers when it gives no
// start.
const DefaultRange = 24 * time.Hour

// Handler serves the history API (GET /api/v1/alerts/history) in the
// shape of Prometheus's API:
//
//   - start, end: RFC 3339 or Unix seconds; end defaults to now, start
//     to DefaultRange before end;
//   - match[]: series selectors (`{alertname="X",severity="page"}` or
//     `X{severity="page"}`); an event matches when it matches any one;
//   - state: states to keep, repeated or comma-separated;
//   - limit: the most events (default DefaultLimit, at most MaxLimit).
//
// It answers {"status":"success","data":[events, newest first]}, with a
// warning when the limit cut the result; a bad parameter is a 400
// {"status":"error","errorType":"bad_data","error":"..."} naming it.
func (s *Store) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "bad_data", fmt.Sprintf("method %s not allowed; use GET", r.Method))
			return
		}
		q, err := parseQuery(r.URL.Query(), s.o.Now())
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_data", err.Error())
			return
		}
		limit := q.Limit
		q.peek = true
		events, err := s.Query(q)
		if err != nil {
			s.o.Logger.Error("cannot query alert history", "err", err)
			writeError(w, http.StatusInternalServerError, "internal", err.Error())
			return
		}
		resp := struct {
			Status   string   `json:"status"`
			Data     []Event  `json:"data"`
			Warnings []string `json:"warnings,omitempty"`
		}{Status: "success", Data: events}
		if len(events) > limit {
			resp.Data = events[:limit]
			resp.Warnings = []string{fmt.Sprintf("results truncated at limit %d; narrow the time range or raise limit (at most %d)", limit, MaxLimit)}
		}
		writeJSON(w, http.StatusOK, resp)
	})
}

// parseQuery reads a history request's parameters; errors name the
// parameter.
func parseQuery(v url.Values, now time.Time) (Query, error) {
	var q Query
	end, err := parseTime(v, "end", now)
	if err != nil {
		return q, err
	}
	start, err := parseTime(v, "start", end.Add(-DefaultRange))
	if err != nil {
		return q, err
	}
	if end.Before(start) {
		return q, fmt.Errorf("invalid parameter \"end\": end timestamp must not be before start time")
	}
	q.Start, q.End = start, end

	for _, sel := range v["match[]"] {
		ms, err := parser.ParseMetricSelector(sel)
		if err != nil {
			return q, fmt.Errorf("invalid parameter \"match[]\": %w", err)
		}
		q.anyOf = append(q.anyOf, ms)
	}

	for _, val := range v["state"] {
		for st := range strings.SplitSeq(val, ",") {
			st = strings.TrimSpace(st)
			if !slices.Contains(States, st) {
				return q, fmt.Errorf("invalid parameter \"state\": unknown state %q; want one of %s", st, strings.Join(States, ", "))
			}
			q.States = append(q.States, st)
		}
	}

	q.Limit = DefaultLimit
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > MaxLimit {
			return q, fmt.Errorf("invalid parameter \"limit\": %q is not a whole number from 0 to %d", s, MaxLimit)
		}
		if n > 0 {
			q.Limit = n
		}
	}
	return q, nil
}

// Unix seconds that time.Time can format (years 1 to 9999).
const (
	minUnix = -62135596800
	maxUnix = 253402300799
)

// parseTime reads a time as Prometheus's API does: Unix seconds (with a
// fraction) or RFC 3339.
func parseTime(v url.Values, name string, def time.Time) (time.Time, error) {
	s := v.Get(name)
	if s == "" {
		return def, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || f < minUnix || f > maxUnix {
			return time.Time{}, fmt.Errorf("invalid parameter %q: timestamp %q is out of range", name, s)
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(math.Round(frac*1e3))*int64(time.Millisecond)).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid parameter %q: cannot parse %q to a valid timestamp; want RFC 3339 or Unix seconds", name, s)
	}
	return t, nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, typ, msg string) {
	writeJSON(w, code, map[string]string{"status": "error", "errorType": typ, "error": msg})
}
