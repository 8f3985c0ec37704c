// Package traceapi is Vigil's own JSON API for traces, which the web UI
// uses: a trace by id, trace search with paging, and the services and
// operations seen. docs/traces-api.md is its reference.
package traceapi

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vigilhq/vigil/storage/spans"
	"github.com/vigilhq/vigil/traces/search"
)

// Prefix is where the API is mounted.
const Prefix = "/api/vigil/v1/"

// Handler serves the API under Prefix.
type Handler struct {
	s   *search.Searcher
	log *slog.Logger
	mux *http.ServeMux
}

// New returns the API over s.
func New(s *search.Searcher, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{s: s, log: log, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET "+Prefix+"traces/{id}", h.trace)
	h.mux.HandleFunc("GET "+Prefix+"traces", h.search)
	h.mux.HandleFunc("GET "+Prefix+"services", h.services)
	h.mux.HandleFunc("GET "+Prefix+"operations", h.operations)
	h.mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Span is the JSON form of a stored span.
type Span struct {
	TraceID           string            `json:"traceID"`
	SpanID            string            `json:"spanID"`
	ParentSpanID      string            `json:"parentSpanID"`
	TraceState        string            `json:"traceState"`
	Service           string            `json:"service"`
	Name              string            `json:"name"`
	Kind              string            `json:"kind"`
	StartTimeUnixNano string            `json:"startTimeUnixNano"`
	DurationNanos     int64             `json:"durationNanos"`
	StatusCode        string            `json:"statusCode"`
	StatusMessage     string            `json:"statusMessage"`
	Scope             Scope             `json:"scope"`
	Resource          map[string]string `json:"resource"`
	Attributes        map[string]string `json:"attributes"`
	Events            []Event           `json:"events"`
	Links             []Link            `json:"links"`
}

// Scope is the instrumentation scope of a span.
type Scope struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Event is a span event.
type Event struct {
	TimeUnixNano string            `json:"timeUnixNano"`
	Name         string            `json:"name"`
	Attributes   map[string]string `json:"attributes"`
}

// Link is a span link.
type Link struct {
	TraceID    string            `json:"traceID"`
	SpanID     string            `json:"spanID"`
	TraceState string            `json:"traceState"`
	Attributes map[string]string `json:"attributes"`
}

// Summary is a search result.
type Summary struct {
	TraceID           string   `json:"traceID"`
	RootService       string   `json:"rootService"`
	RootName          string   `json:"rootName"`
	StartTimeUnixNano string   `json:"startTimeUnixNano"`
	DurationNanos     int64    `json:"durationNanos"`
	SpanCount         int64    `json:"spanCount"`
	ErrorCount        int64    `json:"errorCount"`
	Services          []string `json:"services"`
}

// SpanJSON converts a stored span.
func SpanJSON(sp *spans.Span) Span {
	out := Span{
		TraceID:           spans.TraceIDString(sp.TraceID),
		SpanID:            hex.EncodeToString(sp.SpanID[:]),
		TraceState:        sp.TraceState,
		Service:           sp.Service,
		Name:              sp.Name,
		Kind:              sp.Kind,
		StartTimeUnixNano: strconv.FormatInt(sp.Start.UnixNano(), 10),
		DurationNanos:     sp.DurationNanos,
		StatusCode:        sp.StatusCode,
		StatusMessage:     sp.StatusMessage,
		Scope:             Scope{Name: sp.ScopeName, Version: sp.ScopeVersion},
		Resource:          orEmpty(sp.Resource),
		Attributes:        orEmpty(sp.Attributes),
		Events:            []Event{},
		Links:             []Link{},
	}
	if !sp.IsRoot() {
		out.ParentSpanID = hex.EncodeToString(sp.ParentSpanID[:])
	}
	for _, e := range sp.Events {
		out.Events = append(out.Events, Event{TimeUnixNano: strconv.FormatInt(e.Time.UnixNano(), 10), Name: e.Name, Attributes: orEmpty(e.Attributes)})
	}
	for _, l := range sp.Links {
		out.Links = append(out.Links, Link{TraceID: spans.TraceIDString(l.TraceID), SpanID: hex.EncodeToString(l.SpanID[:]), TraceState: l.TraceState, Attributes: orEmpty(l.Attributes)})
	}
	return out
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func (h *Handler) trace(w http.ResponseWriter, r *http.Request) {
	id, err := search.ParseTraceID(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	all, err := h.s.Trace(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if len(all) == 0 {
		writeError(w, http.StatusNotFound, "trace not found")
		return
	}
	out := struct {
		TraceID string `json:"traceID"`
		Spans   []Span `json:"spans"`
	}{TraceID: spans.TraceIDString(id)}
	for i := range all {
		out.Spans = append(out.Spans, SpanJSON(&all[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) search(w http.ResponseWriter, r *http.Request) {
	q, err := ParseQuery(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	page, err := h.s.Search(r.Context(), q)
	if errors.Is(err, search.ErrBadCursor) {
		writeError(w, http.StatusBadRequest, "invalid cursor: pass the nextCursor of the previous page unchanged")
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := struct {
		Traces     []Summary `json:"traces"`
		NextCursor string    `json:"nextCursor,omitempty"`
	}{Traces: []Summary{}, NextCursor: page.NextCursor}
	for i := range page.Traces {
		out.Traces = append(out.Traces, SummaryJSON(&page.Traces[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

// SummaryJSON converts a trace summary.
func SummaryJSON(t *spans.TraceSummary) Summary {
	s := Summary{
		TraceID:           spans.TraceIDString(t.TraceID),
		RootService:       t.RootService,
		RootName:          t.RootName,
		StartTimeUnixNano: strconv.FormatInt(t.Start.UnixNano(), 10),
		DurationNanos:     t.DurationNanos,
		SpanCount:         t.SpanCount,
		ErrorCount:        t.ErrorCount,
		Services:          t.Services,
	}
	if s.Services == nil {
		s.Services = []string{}
	}
	return s
}

var kinds = map[string]bool{"server": true, "client": true, "producer": true, "consumer": true, "internal": true, "unspecified": true}
var statuses = map[string]bool{"unset": true, "ok": true, "error": true}

// ParseQuery reads search parameters, naming the one that is wrong.
func ParseQuery(v url.Values) (search.Query, error) {
	q := search.Query{
		Service:   v.Get("service"),
		Operation: v.Get("operation"),
		Kind:      strings.ToLower(v.Get("kind")),
		Status:    strings.ToLower(v.Get("status")),
		Cursor:    v.Get("cursor"),
	}
	if q.Kind != "" && !kinds[q.Kind] {
		return q, fmt.Errorf("invalid kind %q: want server, client, producer, consumer, internal or unspecified", q.Kind)
	}
	if q.Status != "" && !statuses[q.Status] {
		return q, fmt.Errorf("invalid status %q: want error, ok or unset", q.Status)
	}
	var err error
	if q.MinDuration, err = durationParam(v, "minDuration"); err != nil {
		return q, err
	}
	if q.MaxDuration, err = durationParam(v, "maxDuration"); err != nil {
		return q, err
	}
	if q.MaxDuration > 0 && q.MinDuration > q.MaxDuration {
		return q, fmt.Errorf("minDuration %s is above maxDuration %s", q.MinDuration, q.MaxDuration)
	}
	for _, a := range v["attr"] {
		k, val, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return q, fmt.Errorf("invalid attr %q: want key=value", a)
		}
		if q.Attributes == nil {
			q.Attributes = map[string]string{}
		}
		q.Attributes[k] = val
	}
	if q.Start, err = TimeParam(v.Get("start"), "start"); err != nil {
		return q, err
	}
	if q.End, err = TimeParam(v.Get("end"), "end"); err != nil {
		return q, err
	}
	if !q.Start.IsZero() && !q.End.IsZero() && q.End.Before(q.Start) {
		return q, errors.New("end is before start")
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return q, fmt.Errorf("invalid limit %q: want a positive integer", s)
		}
		q.Limit = min(n, search.MaxLimit)
	}
	return q, nil
}

func durationParam(v url.Values, name string) (time.Duration, error) {
	s := v.Get(name)
	if s == "" {
		return 0, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return d, nil
	}
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	return 0, fmt.Errorf("invalid %s %q: want a duration such as 250ms, 1.5s or 2m", name, s)
}

// TimeParam reads RFC 3339 or Unix seconds (with a fraction); "" is zero.
func TimeParam(s, name string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("invalid %s %q: want RFC 3339 or Unix seconds", name, s)
}

func (h *Handler) services(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string][]string{"services": h.s.Catalog().Services()})
}

func (h *Handler) operations(w http.ResponseWriter, r *http.Request) {
	service := r.URL.Query().Get("service")
	if service == "" {
		writeError(w, http.StatusBadRequest, "service is required")
		return
	}
	type op struct {
		Name string `json:"name"`
		Kind string `json:"kind"`
	}
	out := []op{}
	for _, o := range h.s.Catalog().Operations(service, strings.ToLower(r.URL.Query().Get("kind"))) {
		out = append(out, op{o.Name, o.Kind})
	}
	writeJSON(w, http.StatusOK, map[string][]op{"operations": out})
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		writeError(w, http.StatusServiceUnavailable, "query cancelled: "+err.Error())
		return
	}
	h.log.Error("trace query failed", "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "cannot read spans: "+err.Error())
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
