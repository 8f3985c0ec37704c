package report

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Formats a report is served in, by the format parameter.
var formats = map[string]struct {
	contentType string
	write       func(Report, io.Writer) error
}{
	"json":      {"application/json", writeEnvelope},
	"csv":       {"text/csv; charset=utf-8", Report.WriteCSV},
	"csv-daily": {"text/csv; charset=utf-8", Report.WriteDailyCSV},
	"md":        {"text/markdown; charset=utf-8", Report.WriteMarkdown},
	"html":      {"text/html; charset=utf-8", Report.WriteHTML},
}

// SLOLookup returns the objectives of a service's SLO, ok false when it
// has none.
type SLOLookup func(service string) (objective float64, latency *LatencyObjective, ok bool)

// Handler serves GET /api/v1/sla with the parameters
//
//	service            required
//	from, to           a date (2026-11-01 is its 00:00 UTC), RFC 3339 or
//	                   Unix seconds; both absent: the last full calendar
//	                   month in UTC; to absent: now; to may not be in the
//	                   future
//	format             json (default; {"status":"success","data":report}),
//	                   csv, csv-daily, md or html
//	objective          availability objective in percent (99.9)
//	latency_objective  p99:500ms
//	source             spans, slo or custom (default: auto, see Request)
//	total, errors      counter selectors or PromQL using {{.range}}
//	latency_histogram, latency_selector
//	span_kinds         comma-separated, for source spans
//
// An objective parameter that is absent comes from the service's SLO
// through lookupSLO, which may be nil. Errors are Prometheus-style JSON: 400 bad_data naming the
// parameter, 404 not_found when there is no data to report on, 422
// execution when a query fails, 503 timeout when the request's context
// ended. q is called from the request's goroutine; the handler keeps no
// state.
func Handler(q QueryFunc, lookupSLO SLOLookup) http.Handler {
	return &handler{q: q, lookup: lookupSLO, now: time.Now}
}

type handler struct {
	q      QueryFunc
	lookup SLOLookup
	now    func() time.Time
}

// fieldParams names, for each Request field, the parameter that sets it.
var fieldParams = map[string]string{
	"Service": "service", "From": "from", "To": "to", "Source": "source",
	"TotalQuery": "total", "ErrorQuery": "errors",
	"LatencyHistogram": "latency_histogram", "LatencySelector": "latency_selector",
	"Objective": "objective", "LatencyObjective": "latency_objective", "SpanKinds": "span_kinds",
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "bad_data", "method "+r.Method+" not allowed; use GET")
		return
	}
	req, format, param, err := h.request(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", fmt.Sprintf("invalid parameter %q: %v", param, err))
		return
	}
	rep, err := Build(r.Context(), h.q, req)
	if err != nil {
		var inv *InvalidRequestError
		switch {
		case errors.As(err, &inv):
			writeError(w, http.StatusBadRequest, "bad_data", fmt.Sprintf("invalid parameter %q: %s", fieldParams[inv.Field], inv.Msg))
		case errors.Is(err, ErrNoData):
			writeError(w, http.StatusNotFound, "not_found", err.Error())
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			writeError(w, http.StatusServiceUnavailable, "timeout", err.Error())
		default:
			writeError(w, http.StatusUnprocessableEntity, "execution", err.Error())
		}
		return
	}
	f := formats[format]
	var buf bytes.Buffer
	if err := f.write(rep, &buf); err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "cannot render the report: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if format == "html" {
		// The page needs nothing but its own inline style.
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// request reads the parameters; on error param names the bad one.
func (h *handler) request(r *http.Request) (req Request, format, param string, err error) {
	v := r.URL.Query()
	req.Service = v.Get("service")
	if req.Service == "" {
		return req, "", "service", errors.New("required")
	}
	format = v.Get("format")
	if format == "" {
		format = "json"
	}
	if _, ok := formats[format]; !ok {
		return req, "", "format", fmt.Errorf("unknown format %q; want json, csv, csv-daily, md or html", format)
	}
	now := h.now().UTC()
	from, to := v.Get("from"), v.Get("to")
	switch {
	case from == "" && to == "":
		req.From, req.To = lastFullMonth(now)
	case from == "":
		return req, "", "from", errors.New("required when to is given")
	default:
		if req.From, err = ParseTime(from); err != nil {
			return req, "", "from", err
		}
		req.To = now.Truncate(time.Second)
		if to != "" {
			if req.To, err = ParseTime(to); err != nil {
				return req, "", "to", err
			}
			if req.To.After(now) {
				return req, "", "to", fmt.Errorf("%s is in the future", req.To.Format(time.RFC3339))
			}
		}
	}

	req.Source = v.Get("source")
	req.TotalQuery, req.ErrorQuery = v.Get("total"), v.Get("errors")
	req.LatencyHistogram, req.LatencySelector = v.Get("latency_histogram"), v.Get("latency_selector")
	if s := v.Get("span_kinds"); s != "" {
		req.SpanKinds = strings.Split(s, ",")
	}

	objSet, latSet := v.Has("objective"), v.Has("latency_objective")
	if objSet {
		if req.Objective, err = strconv.ParseFloat(v.Get("objective"), 64); err != nil {
			return req, "", "objective", fmt.Errorf("cannot parse %q as a percentage", v.Get("objective"))
		}
	}
	if latSet {
		if req.LatencyObjective, err = ParseLatencyObjective(v.Get("latency_objective")); err != nil {
			return req, "", "latency_objective", err
		}
	}
	if h.lookup != nil && (!objSet || !latSet) {
		if obj, lat, ok := h.lookup(req.Service); ok {
			if !objSet {
				req.Objective = obj
			}
			if !latSet {
				req.LatencyObjective = lat
			}
		}
	}
	return req, format, "", nil
}

// lastFullMonth is the calendar month before now's, in UTC.
func lastFullMonth(now time.Time) (from, to time.Time) {
	y, m, _ := now.UTC().Date()
	to = time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	return to.AddDate(0, -1, 0), to
}

func writeEnvelope(r Report, w io.Writer) error {
	return json.NewEncoder(w).Encode(struct {
		Status string `json:"status"`
		Data   Report `json:"data"`
	}{"success", r})
}

func writeError(w http.ResponseWriter, code int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "error", "errorType": typ, "error": msg})
}
