// Package loki accepts log lines through Loki's push API (POST
// /loki/api/v1/push, and the legacy /api/prom/push), so Promtail, Grafana
// Alloy, the Docker driver and the Loki client libraries can ship to Vigil
// unchanged: snappy-compressed protobuf (decoded here with protowire, no
// generated code) or JSON.
//
// Records keep Loki's semantics: the stream is exactly the labels sent
// plus service_name (discovered as Loki does by default), the line is
// kept verbatim, and structured metadata becomes attributes. The answers
// are Loki's too: 204 when every line was stored, 400 with a plain-text
// reason when some were refused (the rest are stored), 429 for limits.
package loki

import (
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/vigilhq/vigil/ingest"
	"github.com/vigilhq/vigil/ingest/logline"
	"github.com/vigilhq/vigil/storage/logs"
)

// Options configure the handler.
type Options struct {
	Sink logline.Sink
	// MaxRequestBytes bounds a body after decompression; 0 means 64 MiB.
	MaxRequestBytes int64
	Metrics         *ingest.Metrics // protocol "loki"; lines count as samples
	Logger          *slog.Logger
	// Now is the clock (observed times, the future bound); nil means
	// time.Now.
	Now func() time.Time
}

// MaxFuture is how far past the receiver's clock an entry's timestamp may
// be; later entries are refused alone (Loki's creation grace period).
const MaxFuture = 10 * time.Minute

// maxCachedStreams bounds the parsed-labels cache; when full it starts
// over, so a client cycling through label sets costs parses, not memory.
const maxCachedStreams = 8192

const protocol = "loki"

// Handler serves Loki's push endpoints. It is safe for concurrent use.
type Handler struct {
	o Options

	mu      sync.Mutex
	streams map[string]*streamInfo // by labels text; mu must be held
}

// New returns the handler.
func New(o Options) *Handler {
	if o.MaxRequestBytes <= 0 {
		o.MaxRequestBytes = 64 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Handler{o: o, streams: map[string]*streamInfo{}}
}

// streamInfo is what a stream's labels give every entry: the labels with
// service_name, and the level they name. It is shared and never changed.
type streamInfo struct {
	labels   map[string]string
	stream   string // labels in canonical text
	level    string
	severity int32 // of level
	err      error
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, http.StatusMethodNotAllowed, "only POST is allowed")
		return
	}
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" {
		// Loki reads a body without a content type as protobuf.
		mt, err = "application/x-protobuf", nil
	}
	if err != nil || (mt != "application/x-protobuf" && mt != "application/json") {
		h.fail(w, http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported Content-Type %q: send application/x-protobuf (snappy-compressed) or application/json", ct))
		return
	}
	body, berr := ingest.ReadBody(r, h.o.MaxRequestBytes)
	if berr != nil {
		h.fail(w, berr.Status, berr.Msg)
		return
	}
	var req PushRequest
	if mt == "application/json" {
		req, err = UnmarshalJSON(body)
	} else {
		req, err = h.decodeProto(body)
	}
	if err != nil {
		var be *ingest.BodyError
		if errors.As(err, &be) {
			h.fail(w, be.Status, be.Msg)
			return
		}
		h.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	now := h.o.Now()
	batch := ingest.NewBatch(protocol)
	recs := h.Records(&req, now, batch)
	if len(recs) > 0 {
		if err := h.o.Sink.Append(r.Context(), recs); err != nil {
			var le *logline.LimitError
			if errors.As(err, &le) {
				batch.Accepted -= min(le.Refused, batch.Accepted)
				batch.RejectReason("limit", le.Msg, le.Refused)
				batch.Record(h.o.Metrics)
				h.fail(w, http.StatusTooManyRequests, le.Msg)
				return
			}
			h.o.Logger.Error("cannot store log lines", "err", err)
			h.fail(w, logline.HTTPStatus(err), "cannot store log lines: "+err.Error())
			return
		}
	}
	batch.Record(h.o.Metrics)
	if err := batch.Err(); err != nil {
		// As Loki: the valid lines are stored, the answer names what was
		// not, as a 400 the shipper won't retry.
		h.fail(w, http.StatusBadRequest, fmt.Sprintf("stored %d log lines; %v", batch.Accepted, err))
		return
	}
	h.count(http.StatusNoContent)
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) decodeProto(body []byte) (PushRequest, error) {
	n, err := snappy.DecodedLen(body)
	if err != nil {
		return PushRequest{}, fmt.Errorf("cannot decode snappy-compressed body (Loki's protobuf push is snappy block-compressed): %w", err)
	}
	if int64(n) > h.o.MaxRequestBytes {
		return PushRequest{}, &ingest.BodyError{Status: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("request body decompresses to %d bytes, more than the limit of %d bytes (limits.max_request_bytes)", n, h.o.MaxRequestBytes)}
	}
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		return PushRequest{}, fmt.Errorf("cannot decode snappy-compressed body (Loki's protobuf push is snappy block-compressed): %w", err)
	}
	return UnmarshalProto(raw)
}

func (h *Handler) fail(w http.ResponseWriter, code int, msg string) {
	h.count(code)
	http.Error(w, msg, code)
}

func (h *Handler) count(code int) {
	if h.o.Metrics != nil {
		h.o.Metrics.Requests.WithLabelValues(protocol, strconv.Itoa(code)).Inc()
	}
}

// Records turns a push into records, finished with logline.Finish. An
// entry without a timestamp or more than MaxFuture past now, and every
// entry of a stream whose labels are invalid or empty, is refused alone
// with the reason recorded in batch.
func (h *Handler) Records(req *PushRequest, now time.Time, batch *ingest.Batch) []logs.Record {
	total := 0
	for i := range req.Streams {
		total += len(req.Streams[i].Entries)
	}
	out := make([]logs.Record, 0, total)
	latest := now.Add(MaxFuture)
	opts := logline.Options{Now: now}
	for i := range req.Streams {
		st := &req.Streams[i]
		if len(st.Entries) == 0 {
			continue
		}
		info := h.streamInfo(st)
		if info.err != nil {
			batch.RejectReason("invalid_labels", info.err.Error(), len(st.Entries))
			continue
		}
		for j := range st.Entries {
			e := &st.Entries[j]
			switch {
			case e.err != "":
				batch.RejectReason("invalid_entry", fmt.Sprintf("stream %s: %s", streamName(st), e.err), 1)
				continue
			case e.Time.IsZero():
				batch.RejectReason("missing_timestamp", fmt.Sprintf("stream %s: entry %d has no timestamp", streamName(st), j), 1)
				continue
			case e.Time.After(latest):
				batch.RejectReason("too_far_in_future", fmt.Sprintf("stream %s: entry %d has timestamp %s, more than %s past the server's time %s", streamName(st), j, e.Time.Format(time.RFC3339Nano), MaxFuture, now.UTC().Format(time.RFC3339)), 1)
				continue
			}
			rec := logs.Record{Time: e.Time, ObservedTime: now, Body: e.Line, SeverityText: info.level, SeverityNumber: info.severity}
			if len(e.Metadata) > 0 {
				rec.Attributes = make(map[string]string, len(e.Metadata))
				for _, l := range e.Metadata {
					rec.Attributes[l.Name] = l.Value
				}
				if lvl := levelOf(rec.Attributes); lvl != "" {
					rec.SeverityText, rec.SeverityNumber = lvl, logs.SeverityOf(lvl)
				}
			}
			opts.Stream = info.stream
			logline.Finish(&rec, info.labels, opts)
			out = append(out, rec)
			batch.Accepted++
		}
	}
	return out
}

func streamName(st *Stream) string {
	if st.LabelMap != nil {
		return logs.StreamString(st.LabelMap)
	}
	return st.Labels
}

// levelFields are the labels and metadata fields that name a line's
// level, in order of preference.
var levelFields = []string{"level", "detected_level", "severity"}

func levelOf(m map[string]string) string {
	for _, k := range levelFields {
		if v := m[k]; v != "" {
			return v
		}
	}
	return ""
}

// streamInfo returns the parsed labels of a stream: cached by labels text
// for protobuf pushes, built afresh for JSON ones (whose labels come as a
// map already).
func (h *Handler) streamInfo(st *Stream) *streamInfo {
	if st.LabelMap != nil {
		text := logs.StreamString(st.LabelMap)
		if _, bad := st.LabelMap[""]; bad {
			return &streamInfo{err: fmt.Errorf("stream %s has a label with an empty name", text)}
		}
		return newStreamInfo(text, st.LabelMap)
	}
	h.mu.Lock()
	info, ok := h.streams[st.Labels]
	h.mu.Unlock()
	if ok {
		return info
	}
	info = parseLabels(st.Labels)
	h.mu.Lock()
	if len(h.streams) >= maxCachedStreams {
		clear(h.streams)
	}
	// The key is cloned: st.Labels shares the request body's memory.
	h.streams[strings.Clone(st.Labels)] = info
	h.mu.Unlock()
	return info
}

// parseLabels reads a stream's labels in Prometheus text form,
// `{app="api", env="prod"}`.
func parseLabels(text string) *streamInfo {
	ls, err := parser.ParseMetric(text)
	if err != nil {
		return &streamInfo{err: fmt.Errorf("cannot parse stream labels %q: %w", text, err)}
	}
	m := make(map[string]string, ls.Len()+1)
	var perr error
	ls.Range(func(l labels.Label) {
		switch {
		case perr != nil:
		case l.Name == "__name__":
			perr = fmt.Errorf("cannot parse stream labels %q: a stream is a label set in braces, {name=\"value\", ...}, without a metric name", text)
		default:
			if _, dup := m[l.Name]; dup {
				perr = fmt.Errorf("cannot parse stream labels %q: label %q appears twice", text, l.Name)
			}
			m[strings.Clone(l.Name)] = strings.Clone(l.Value)
		}
	})
	if perr != nil {
		return &streamInfo{err: perr}
	}
	return newStreamInfo(text, m)
}

// newStreamInfo checks a stream's labels and adds service_name.
func newStreamInfo(text string, m map[string]string) *streamInfo {
	empty := true
	for _, v := range m {
		if v != "" {
			empty = false
			break
		}
	}
	if empty {
		return &streamInfo{err: fmt.Errorf("stream %s has no labels: a stream needs at least one label with a value", text)}
	}
	if m["service_name"] == "" {
		m["service_name"] = ServiceName(m)
	}
	info := &streamInfo{labels: m, stream: logs.StreamString(m), level: levelOf(m)}
	if info.level != "" {
		info.severity = logs.SeverityOf(info.level)
	}
	return info
}

// serviceLabels are the labels service_name is taken from when a stream
// has none, first present wins (Loki's default discover_service_name).
var serviceLabels = []string{"service", "app", "application", "name", "app_kubernetes_io_name", "container", "container_name", "component", "workload", "job"}

// ServiceName is the service_name Loki gives a stream by default: the
// service_name label, else the first of serviceLabels present, else
// "unknown_service".
func ServiceName(ls map[string]string) string {
	if v := ls["service_name"]; v != "" {
		return v
	}
	for _, k := range serviceLabels {
		if v := ls[k]; v != "" {
			return v
		}
	}
	return "unknown_service"
}
