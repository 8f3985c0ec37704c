// Package lokiapi serves Grafana Loki's HTTP query API over Vigil's log
// store, so Grafana's Loki data source and logcli work unchanged:
// /loki/api/v1/query, query_range, labels, label/<name>/values, series,
// index/stats and tail (WebSocket). Answers have Loki's JSON shapes;
// errors are plain text with the status Loki uses (400 for a bad query or
// parameter), as Loki answers them.
package lokiapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigilhq/vigil/logs/logql"
	"github.com/vigilhq/vigil/logs/tail"
)

// Streams lists the streams with records in a time range (logs/store).
type Streams interface {
	Streams(ctx context.Context, matchers []*labels.Matcher, start, end int64) ([]string, error)
	Labels(stream string) (labels.Labels, error)
}

// Options configure the API.
type Options struct {
	Engine  *logql.Engine
	Streams Streams
	Tail    *tail.Broker
	// MaxLines bounds a log query's limit (default 5000, as Loki's
	// max_entries_limit_per_query).
	MaxLines int
	// MaxTail bounds how long one live tail stays open (default 1h).
	MaxTail time.Duration
	Logger  *slog.Logger
	Now     func() time.Time
}

// Patterns are the paths the API serves, for the server's mux.
var Patterns = []string{"/loki/api/v1/query", "/loki/api/v1/query_range", "/loki/api/v1/labels", "/loki/api/v1/label/", "/loki/api/v1/series", "/loki/api/v1/index/stats", "/loki/api/v1/tail"}

// Handler serves the API.
type Handler struct {
	o   Options
	mux *http.ServeMux
}

// New returns the API.
func New(o Options) *Handler {
	if o.MaxLines <= 0 {
		o.MaxLines = 5000
	}
	if o.MaxTail <= 0 {
		o.MaxTail = time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	h := &Handler{o: o, mux: http.NewServeMux()}
	h.mux.HandleFunc("/loki/api/v1/query", h.query)
	h.mux.HandleFunc("/loki/api/v1/query_range", h.queryRange)
	h.mux.HandleFunc("/loki/api/v1/labels", h.labelNames)
	h.mux.HandleFunc("/loki/api/v1/label/{name}/values", h.labelValues)
	h.mux.HandleFunc("/loki/api/v1/series", h.series)
	h.mux.HandleFunc("/loki/api/v1/index/stats", h.indexStats)
	h.mux.HandleFunc("/loki/api/v1/tail", h.tail)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// writeError answers as Loki does: plain text, the status of the error.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	var pe *paramError
	var qe *logql.ParseError
	switch {
	case errors.As(err, &pe), errors.As(err, &qe), isQueryError(err):
		status = http.StatusBadRequest
	case errors.Is(err, context.Canceled):
		status = 499 // client went away, as Loki and nginx say
	case errors.Is(err, context.DeadlineExceeded):
		status = http.StatusGatewayTimeout
	default:
		h.o.Logger.Warn("log query failed", "path", r.URL.Path, "err", err)
	}
	http.Error(w, err.Error(), status)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "cannot encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = w.Write(b)
}

func (h *Handler) form(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return false
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "cannot parse form: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

func direction(r *http.Request) (logql.Direction, error) {
	switch v := r.Form.Get("direction"); v {
	case "", "backward", "BACKWARD":
		return logql.Backward, nil
	case "forward", "FORWARD":
		return logql.Forward, nil
	default:
		return 0, &paramError{fmt.Sprintf("invalid direction %q: want forward or backward", v)}
	}
}

func (h *Handler) query(w http.ResponseWriter, r *http.Request) {
	if !h.form(w, r) {
		return
	}
	t, err := parseTime("time", r.Form.Get("time"), h.o.Now())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	h.run(w, r, t, t, 0)
}

func (h *Handler) queryRange(w http.ResponseWriter, r *http.Request) {
	if !h.form(w, r) {
		return
	}
	start, end, err := timeRange(r, h.o.Now())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	step := defaultStep(start, end)
	if v := r.Form.Get("step"); v != "" {
		if step, err = parseDuration("step", v); err != nil {
			h.writeError(w, r, err)
			return
		}
	}
	// Loki's guard against answers of millions of points.
	if end.Sub(start)/step > 11000 {
		h.writeError(w, r, &paramError{"exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"})
		return
	}
	h.run(w, r, start, end, step)
}

func (h *Handler) run(w http.ResponseWriter, r *http.Request, start, end time.Time, step time.Duration) {
	q := r.Form.Get("query")
	if q == "" {
		h.writeError(w, r, &paramError{"query must not be empty"})
		return
	}
	limit, err := parseLimit(r, 100, h.o.MaxLines)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	dir, err := direction(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	p := logql.Params{Query: q, Start: start, End: end, Step: step, Limit: limit, Direction: dir}
	if v := r.Form.Get("interval"); v != "" {
		if p.Interval, err = parseDuration("interval", v); err != nil {
			h.writeError(w, r, err)
			return
		}
	}
	began := time.Now()
	res, err := h.o.Engine.Query(r.Context(), p)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	data, err := encodeResult(res, time.Since(began))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, map[string]any{"status": "success", "data": data})
}

// isQueryError tells a query the engine refused to evaluate (too many
// series or steps, a pipeline error) from a failure to read: the first
// is the client's to change, 400 as Loki answers it.
func isQueryError(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return strings.HasPrefix(err.Error(), "cannot evaluate query: ")
}

// selectors reads the optional query (labels, values) or match[]
// (series) parameters into matcher sets.
func selectors(r *http.Request, param string) ([][]*labels.Matcher, error) {
	var out [][]*labels.Matcher
	for _, v := range r.Form[param] {
		if v == "" {
			continue
		}
		expr, err := logql.ParseExpr(v)
		if err != nil {
			return nil, err
		}
		le, ok := expr.(*logql.LogExpr)
		if !ok {
			return nil, &paramError{fmt.Sprintf("%s must be a stream selector such as {service_name=\"api\"}, not a metric query", param)}
		}
		out = append(out, le.Matchers)
	}
	return out, nil
}

// streams lists the matching streams' label sets in the request's range.
func (h *Handler) streams(r *http.Request, param string) ([]labels.Labels, error) {
	start, end, err := timeRange(r, h.o.Now())
	if err != nil {
		return nil, err
	}
	sets, err := selectors(r, param)
	if err != nil {
		return nil, err
	}
	if len(sets) == 0 {
		sets = [][]*labels.Matcher{nil}
	}
	seen := map[string]bool{}
	var out []labels.Labels
	for _, ms := range sets {
		ss, err := h.o.Streams.Streams(r.Context(), ms, start.UnixNano(), end.UnixNano())
		if err != nil {
			return nil, err
		}
		for _, s := range ss {
			if seen[s] {
				continue
			}
			seen[s] = true
			ls, err := h.o.Streams.Labels(s)
			if err != nil {
				continue
			}
			out = append(out, ls)
		}
	}
	return out, nil
}

func (h *Handler) labelNames(w http.ResponseWriter, r *http.Request) {
	if !h.form(w, r) {
		return
	}
	sets, err := h.streams(r, "query")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	names := map[string]bool{}
	for _, ls := range sets {
		ls.Range(func(l labels.Label) { names[l.Name] = true })
	}
	writeJSON(w, map[string]any{"status": "success", "data": sortedKeys(names)})
}

func (h *Handler) labelValues(w http.ResponseWriter, r *http.Request) {
	if !h.form(w, r) {
		return
	}
	name := r.PathValue("name")
	sets, err := h.streams(r, "query")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	values := map[string]bool{}
	for _, ls := range sets {
		if v := ls.Get(name); v != "" {
			values[v] = true
		}
	}
	writeJSON(w, map[string]any{"status": "success", "data": sortedKeys(values)})
}

func (h *Handler) series(w http.ResponseWriter, r *http.Request) {
	if !h.form(w, r) {
		return
	}
	if len(r.Form["match[]"]) == 0 && len(r.Form["match"]) == 0 {
		h.writeError(w, r, &paramError{"at least one match[] parameter is required"})
		return
	}
	param := "match[]"
	if len(r.Form[param]) == 0 {
		param = "match"
	}
	sets, err := h.streams(r, param)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	data := make([]map[string]string, 0, len(sets))
	for _, ls := range sets {
		data = append(data, ls.Map())
	}
	writeJSON(w, map[string]any{"status": "success", "data": data})
}

// indexStats answers Grafana's query-size estimate with the number of
// matching streams; entries and bytes would need reading, and are 0.
func (h *Handler) indexStats(w http.ResponseWriter, r *http.Request) {
	if !h.form(w, r) {
		return
	}
	sets, err := h.streams(r, "query")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, map[string]any{"streams": len(sets), "chunks": 0, "entries": 0, "bytes": 0})
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// formatValue renders a sample value as Prometheus and Loki do.
func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}
