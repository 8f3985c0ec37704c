// Package jaegerapi serves traces through the Jaeger query service's HTTP
// API (the one Jaeger's UI and Grafana's Jaeger data source call), with
// Jaeger's JSON shapes, so those tools work against Vigil unchanged.
//
// Spans are converted the way Jaeger converts OpenTelemetry spans: kind
// becomes the span.kind tag (internal spans carry none), an error status
// the error=true tag plus otel.status_code and otel.status_description,
// the scope otel.scope.name/version, events become logs with an "event"
// field, the parent a CHILD_OF reference and links FOLLOWS_FROM ones.
// Attribute values are stored as strings (storage/spans), so every tag is
// of type string except the ones Jaeger itself types (error: bool).
package jaegerapi

import (
	"context"
	"encoding/hex"
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
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"

	"github.com/vigilhq/vigil/storage/spans"
	"github.com/vigilhq/vigil/traces/search"
)

// Options configure the API.
type Options struct {
	Searcher *search.Searcher
	// Metrics is where the service-graph series are read for
	// /api/dependencies; nil answers an empty list.
	Metrics storage.Queryable
	Logger  *slog.Logger
}

// Handler serves /api/services, /api/services/{s}/operations,
// /api/operations, /api/traces, /api/traces/{id} and /api/dependencies.
type Handler struct {
	o   Options
	mux *http.ServeMux
}

// New returns the API.
func New(o Options) *Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{o: o, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /api/services", h.services)
	h.mux.HandleFunc("GET /api/services/{service}/operations", h.serviceOperations)
	h.mux.HandleFunc("GET /api/operations", h.operations)
	h.mux.HandleFunc("GET /api/traces", h.findTraces)
	h.mux.HandleFunc("GET /api/traces/{id}", h.getTrace)
	h.mux.HandleFunc("GET /api/dependencies", h.dependencies)
	return h
}

// Patterns are the paths to mount the handler on.
var Patterns = []string{"/api/services", "/api/services/", "/api/operations", "/api/traces", "/api/traces/", "/api/dependencies"}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Jaeger's JSON model (model/json in Jaeger's repository).

// Trace is a trace with its processes.
type Trace struct {
	TraceID   string             `json:"traceID"`
	Spans     []Span             `json:"spans"`
	Processes map[string]Process `json:"processes"`
	Warnings  []string           `json:"warnings"`
}

// Span is a Jaeger span.
type Span struct {
	TraceID       string      `json:"traceID"`
	SpanID        string      `json:"spanID"`
	Flags         uint32      `json:"flags,omitempty"`
	OperationName string      `json:"operationName"`
	References    []Reference `json:"references"`
	StartTime     uint64      `json:"startTime"` // microseconds since the epoch
	Duration      uint64      `json:"duration"`  // microseconds
	Tags          []KeyValue  `json:"tags"`
	Logs          []Log       `json:"logs"`
	ProcessID     string      `json:"processID"`
	Warnings      []string    `json:"warnings"`
}

// Reference is a CHILD_OF or FOLLOWS_FROM reference.
type Reference struct {
	RefType string `json:"refType"`
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID"`
}

// Process is a span's emitter.
type Process struct {
	ServiceName string     `json:"serviceName"`
	Tags        []KeyValue `json:"tags"`
}

// Log is a span event.
type Log struct {
	Timestamp uint64     `json:"timestamp"`
	Fields    []KeyValue `json:"fields"`
}

// KeyValue is a tag.
type KeyValue struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// Dependency is a service-graph edge.
type Dependency struct {
	Parent    string `json:"parent"`
	Child     string `json:"child"`
	CallCount uint64 `json:"callCount"`
}

type apiError struct {
	Code    int    `json:"code"`
	Msg     string `json:"msg"`
	TraceID string `json:"traceID,omitempty"`
}

type response struct {
	Data   any        `json:"data"`
	Total  int        `json:"total"`
	Limit  int        `json:"limit"`
	Offset int        `json:"offset"`
	Errors []apiError `json:"errors"`
}

func writeData(w http.ResponseWriter, data any, total int) {
	writeJSON(w, http.StatusOK, response{Data: data, Total: total})
}

func writeErr(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, response{Errors: []apiError{{Code: code, Msg: msg}}})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (h *Handler) services(w http.ResponseWriter, _ *http.Request) {
	s := h.o.Searcher.Catalog().Services()
	writeData(w, s, len(s))
}

func (h *Handler) serviceOperations(w http.ResponseWriter, r *http.Request) {
	var names []string
	for _, op := range h.o.Searcher.Catalog().Operations(r.PathValue("service"), "") {
		if i, found := slices.BinarySearch(names, op.Name); !found {
			names = slices.Insert(names, i, op.Name)
		}
	}
	if names == nil {
		names = []string{}
	}
	writeData(w, names, len(names))
}

func (h *Handler) operations(w http.ResponseWriter, r *http.Request) {
	service := r.URL.Query().Get("service")
	if service == "" {
		writeErr(w, http.StatusBadRequest, "parameter 'service' is required")
		return
	}
	type op struct {
		Name     string `json:"name"`
		SpanKind string `json:"spanKind"`
	}
	out := []op{}
	for _, o := range h.o.Searcher.Catalog().Operations(service, strings.ToLower(r.URL.Query().Get("spanKind"))) {
		out = append(out, op{o.Name, o.Kind})
	}
	writeData(w, out, len(out))
}

func (h *Handler) getTrace(w http.ResponseWriter, r *http.Request) {
	id, err := search.ParseTraceID(r.PathValue("id"))
	if err != nil {
		writeErr(w, http.StatusBadRequest, err.Error())
		return
	}
	all, err := h.o.Searcher.Trace(r.Context(), id)
	if err != nil {
		h.fail(w, err)
		return
	}
	if len(all) == 0 {
		writeErr(w, http.StatusNotFound, "trace not found")
		return
	}
	writeData(w, []Trace{Convert(all)}, 1)
}

// findTraces answers a search with whole traces, or, with traceID
// parameters, those traces.
func (h *Handler) findTraces(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	var ids [][16]byte
	for _, s := range v["traceID"] {
		id, err := search.ParseTraceID(s)
		if err != nil {
			writeErr(w, http.StatusBadRequest, err.Error())
			return
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		q, err := parseQuery(v, time.Now())
		if err != nil {
			writeErr(w, http.StatusBadRequest, err.Error())
			return
		}
		page, err := h.o.Searcher.Search(r.Context(), q)
		if err != nil {
			h.fail(w, err)
			return
		}
		for _, t := range page.Traces {
			ids = append(ids, t.TraceID)
		}
	}
	out := []Trace{}
	for _, id := range ids {
		all, err := h.o.Searcher.Trace(r.Context(), id)
		if err != nil {
			h.fail(w, err)
			return
		}
		if len(all) > 0 {
			out = append(out, Convert(all))
		}
	}
	writeData(w, out, len(out))
}

const defaultLimit = 100

// parseQuery reads Jaeger's search parameters: service (required),
// operation, tags (a JSON object) or tag=key:value, start and end in
// microseconds, lookback (a duration, used when start is absent),
// minDuration, maxDuration and limit.
func parseQuery(v map[string][]string, now time.Time) (search.Query, error) {
	get := func(k string) string {
		if s := v[k]; len(s) > 0 {
			return s[0]
		}
		return ""
	}
	q := search.Query{Service: get("service"), Operation: get("operation"), Limit: defaultLimit}
	if q.Service == "" {
		return q, errors.New("parameter 'service' is required")
	}
	if t := get("tags"); t != "" {
		var tags map[string]string
		if err := json.Unmarshal([]byte(t), &tags); err != nil {
			return q, fmt.Errorf("malformed 'tags' parameter: want a JSON object of strings: %v", err)
		}
		q.Attributes = tags
	}
	for _, t := range v["tag"] {
		k, val, ok := strings.Cut(t, ":")
		if !ok {
			return q, fmt.Errorf("malformed 'tag' parameter %q: want key:value", t)
		}
		if q.Attributes == nil {
			q.Attributes = map[string]string{}
		}
		q.Attributes[k] = val
	}
	// Jaeger reports errors as the error=true tag; search on the status.
	if q.Attributes["error"] == "true" {
		delete(q.Attributes, "error")
		q.Status = "error"
	}
	if k := q.Attributes["span.kind"]; k != "" {
		delete(q.Attributes, "span.kind")
		q.Kind = k
	}
	micros := func(k string) (time.Time, error) {
		s := get(k)
		if s == "" {
			return time.Time{}, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("unable to parse param '%s': want microseconds since the epoch", k)
		}
		return time.UnixMicro(n), nil
	}
	var err error
	if q.End, err = micros("end"); err != nil {
		return q, err
	}
	if q.End.IsZero() {
		q.End = now
	}
	if q.Start, err = micros("start"); err != nil {
		return q, err
	}
	if q.Start.IsZero() {
		lookback := time.Hour
		if s := get("lookback"); s != "" && s != "custom" {
			if lookback, err = time.ParseDuration(s); err != nil {
				return q, fmt.Errorf("unable to parse param 'lookback': %v", err)
			}
		}
		q.Start = q.End.Add(-lookback)
	}
	dur := func(k string) (time.Duration, error) {
		s := get(k)
		if s == "" {
			return 0, nil
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("unable to parse param '%s': %v", k, err)
		}
		return d, nil
	}
	if q.MinDuration, err = dur("minDuration"); err != nil {
		return q, err
	}
	if q.MaxDuration, err = dur("maxDuration"); err != nil {
		return q, err
	}
	if s := get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return q, fmt.Errorf("unable to parse param 'limit': %q", s)
		}
		if n > 0 {
			q.Limit = min(n, search.MaxLimit)
		}
	}
	return q, nil
}

// Convert turns the spans of one trace into a Jaeger trace, one process
// per distinct (service, resource).
func Convert(all []spans.Span) Trace {
	t := Trace{TraceID: jaegerTraceID(all[0].TraceID), Processes: map[string]Process{}, Spans: make([]Span, 0, len(all)), Warnings: []string{}}
	procKeys := map[string]string{}
	for i := range all {
		sp := &all[i]
		key := processKey(sp)
		pid, ok := procKeys[key]
		if !ok {
			pid = "p" + strconv.Itoa(len(procKeys)+1)
			procKeys[key] = pid
			t.Processes[pid] = Process{ServiceName: sp.Service, Tags: sortedTags(sp.Resource, "service.name")}
		}
		t.Spans = append(t.Spans, convertSpan(sp, pid))
	}
	return t
}

func processKey(sp *spans.Span) string {
	keys := make([]string, 0, len(sp.Resource))
	for k := range sp.Resource {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(sp.Service)
	for _, k := range keys {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(sp.Resource[k])
	}
	return b.String()
}

func convertSpan(sp *spans.Span, pid string) Span {
	out := Span{
		TraceID:       jaegerTraceID(sp.TraceID),
		SpanID:        hex.EncodeToString(sp.SpanID[:]),
		OperationName: sp.Name,
		References:    []Reference{},
		StartTime:     uint64(sp.Start.UnixMicro()),
		Duration:      uint64(sp.DurationNanos / 1000),
		Tags:          sortedTags(sp.Attributes, ""),
		Logs:          []Log{},
		ProcessID:     pid,
		Warnings:      []string{},
	}
	if !sp.IsRoot() {
		out.References = append(out.References, Reference{RefType: "CHILD_OF", TraceID: out.TraceID, SpanID: hex.EncodeToString(sp.ParentSpanID[:])})
	}
	for _, l := range sp.Links {
		out.References = append(out.References, Reference{RefType: "FOLLOWS_FROM", TraceID: jaegerTraceID(l.TraceID), SpanID: hex.EncodeToString(l.SpanID[:])})
	}
	str := func(k, v string) KeyValue { return KeyValue{Key: k, Type: "string", Value: v} }
	if sp.Kind != "internal" && sp.Kind != "unspecified" && sp.Kind != "" {
		out.Tags = append(out.Tags, str("span.kind", sp.Kind))
	}
	switch sp.StatusCode {
	case "error":
		out.Tags = append(out.Tags, KeyValue{Key: "error", Type: "bool", Value: true}, str("otel.status_code", "ERROR"))
		if sp.StatusMessage != "" {
			out.Tags = append(out.Tags, str("otel.status_description", sp.StatusMessage))
		}
	case "ok":
		out.Tags = append(out.Tags, str("otel.status_code", "OK"))
	}
	if sp.ScopeName != "" {
		out.Tags = append(out.Tags, str("otel.scope.name", sp.ScopeName))
	}
	if sp.ScopeVersion != "" {
		out.Tags = append(out.Tags, str("otel.scope.version", sp.ScopeVersion))
	}
	if sp.TraceState != "" {
		out.Tags = append(out.Tags, str("w3c.tracestate", sp.TraceState))
	}
	for _, e := range sp.Events {
		fields := []KeyValue{str("event", e.Name)}
		fields = append(fields, sortedTags(e.Attributes, "")...)
		out.Logs = append(out.Logs, Log{Timestamp: uint64(e.Time.UnixMicro()), Fields: fields})
	}
	return out
}

func sortedTags(m map[string]string, skip string) []KeyValue {
	out := make([]KeyValue, 0, len(m))
	for k, v := range m {
		if k != skip {
			out = append(out, KeyValue{Key: k, Type: "string", Value: v})
		}
	}
	slices.SortFunc(out, func(a, b KeyValue) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// jaegerTraceID renders ids as Jaeger does: 16 hex digits when the high
// half is zero (a 64-bit id), else 32.
func jaegerTraceID(id [16]byte) string {
	if [8]byte(id[:8]) == [8]byte{} {
		return hex.EncodeToString(id[8:])
	}
	return hex.EncodeToString(id[:])
}

// dependencies answers the service-graph edges with their call counts
// over [endTs-lookback, endTs] (both milliseconds, as Jaeger takes them).
func (h *Handler) dependencies(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	end := time.Now()
	if s := v.Get("endTs"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			writeErr(w, http.StatusBadRequest, "unable to parse param 'endTs': want milliseconds since the epoch")
			return
		}
		end = time.UnixMilli(n)
	}
	lookback := 24 * time.Hour
	if s := v.Get("lookback"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			writeErr(w, http.StatusBadRequest, "unable to parse param 'lookback': want milliseconds")
			return
		}
		lookback = time.Duration(n) * time.Millisecond
	}
	deps, err := Dependencies(r.Context(), h.o.Metrics, end.Add(-lookback), end)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeData(w, deps, len(deps))
}

// Dependencies sums the increase of traces_service_graph_request_total per
// (client, server) over [from, to], counter resets included.
func Dependencies(ctx context.Context, q storage.Queryable, from, to time.Time) ([]Dependency, error) {
	out := []Dependency{}
	if q == nil {
		return out, nil
	}
	// A sample shortly before the window is the baseline; a series with
	// none started inside the window, from zero.
	const baselineLookback = 15 * time.Minute
	querier, err := q.Querier(from.Add(-baselineLookback).UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, err
	}
	defer querier.Close()
	set := querier.Select(ctx, false, nil, labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, "traces_service_graph_request_total"))
	type edge struct{ client, server string }
	sums := map[edge]float64{}
	fromMs := from.UnixMilli()
	for set.Next() {
		s := set.At()
		e := edge{s.Labels().Get("client"), s.Labels().Get("server")}
		if e.client == "user" && s.Labels().Get("connection_type") == "virtual_node" {
			continue // the service graph's entry-point node, not a service
		}
		var total, prev float64
		it := s.Iterator(nil)
		for it.Next() != 0 {
			t, v := it.At()
			if value.IsStaleNaN(v) || math.IsNaN(v) {
				continue
			}
			switch {
			case t < fromMs:
				// still before the window: only the baseline moves
			case v >= prev:
				total += v - prev
			default:
				total += v // a counter reset
			}
			prev = v
		}
		if it.Err() != nil {
			return nil, it.Err()
		}
		sums[e] += total
	}
	if err := set.Err(); err != nil {
		return nil, err
	}
	for e, n := range sums {
		if n > 0 {
			out = append(out, Dependency{Parent: e.client, Child: e.server, CallCount: uint64(math.Round(n))})
		}
	}
	slices.SortFunc(out, func(a, b Dependency) int {
		if c := strings.Compare(a.Parent, b.Parent); c != 0 {
			return c
		}
		return strings.Compare(a.Child, b.Child)
	})
	return out, nil
}

func (h *Handler) fail(w http.ResponseWriter, err error) {
	h.o.Logger.Error("jaeger query failed", "err", err)
	writeErr(w, http.StatusInternalServerError, err.Error())
}
