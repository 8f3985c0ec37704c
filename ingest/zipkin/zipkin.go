// Package zipkin accepts spans in Zipkin's v2 JSON format (POST
// /api/v2/spans), so services instrumented with Zipkin libraries (Brave,
// zipkin-go, py_zipkin) or an OpenTelemetry Zipkin exporter can send to
// Vigil unchanged. Spans are converted to the stored model the way the
// OpenTelemetry Collector's zipkin receiver does: localEndpoint.serviceName
// is the service, the kind maps one to one, an "error" tag makes the
// status an error (its value the message), annotations become events and
// remoteEndpoint.serviceName becomes peer.service.
package zipkin

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vigilhq/vigil/ingest"
	"github.com/vigilhq/vigil/storage/spans"
)

// SpanAppender stores spans durably (storage/events.Store[spans.Span]).
type SpanAppender interface {
	Append(ctx context.Context, rows []spans.Span) error
}

// Options configure the handler.
type Options struct {
	Store SpanAppender
	// Observe, if set, sees every stored span (derived metrics, catalog).
	Observe         func([]spans.Span)
	MaxRequestBytes int64 // after decompression; 0 means 64 MiB
	MaxSpans        int   // per request; 0 means no limit
	Metrics         *ingest.Metrics
	Logger          *slog.Logger
}

// Handler serves POST /api/v2/spans.
type Handler struct{ o Options }

const protocol = "zipkin"

// New returns the handler.
func New(o Options) *Handler {
	if o.MaxRequestBytes <= 0 {
		o.MaxRequestBytes = 64 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{o: o}
}

// Span is a Zipkin v2 span as JSON.
type Span struct {
	TraceID        string            `json:"traceId"`
	ID             string            `json:"id"`
	ParentID       string            `json:"parentId"`
	Name           string            `json:"name"`
	Kind           string            `json:"kind"`
	Timestamp      int64             `json:"timestamp"` // microseconds
	Duration       int64             `json:"duration"`  // microseconds
	LocalEndpoint  *Endpoint         `json:"localEndpoint"`
	RemoteEndpoint *Endpoint         `json:"remoteEndpoint"`
	Annotations    []Annotation      `json:"annotations"`
	Tags           map[string]string `json:"tags"`
}

// Endpoint is a Zipkin endpoint.
type Endpoint struct {
	ServiceName string `json:"serviceName"`
	IPv4        string `json:"ipv4"`
	IPv6        string `json:"ipv6"`
	Port        int    `json:"port"`
}

// Annotation is a timestamped event.
type Annotation struct {
	Timestamp int64  `json:"timestamp"`
	Value     string `json:"value"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "only POST is allowed", http.StatusMethodNotAllowed)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		h.fail(w, http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported Content-Type %q: Vigil takes Zipkin v2 spans as application/json", r.Header.Get("Content-Type")))
		return
	}
	body, berr := ingest.ReadBody(r, h.o.MaxRequestBytes)
	if berr != nil {
		h.fail(w, berr.Status, berr.Msg)
		return
	}
	var in []Span
	if err := json.Unmarshal(body, &in); err != nil {
		h.fail(w, http.StatusBadRequest, "cannot decode Zipkin v2 JSON (want an array of spans): "+err.Error())
		return
	}
	if h.o.MaxSpans > 0 && len(in) > h.o.MaxSpans {
		h.fail(w, http.StatusBadRequest, fmt.Sprintf("request has %d spans, more than the limit of %d (limits.max_samples_per_request)", len(in), h.o.MaxSpans))
		return
	}
	batch := ingest.NewBatch(protocol)
	rows := Convert(in, batch)
	if err := h.o.Store.Append(r.Context(), rows); err != nil {
		h.o.Logger.Error("cannot store spans", "err", err)
		h.fail(w, http.StatusServiceUnavailable, "cannot store spans: "+err.Error())
		return
	}
	if h.o.Observe != nil {
		h.o.Observe(rows)
	}
	batch.Record(h.o.Metrics)
	if err := batch.Err(); err != nil {
		// Zipkin has no partial success: the valid spans are stored and
		// the answer says which were not, as a 400 the client won't retry.
		h.fail(w, http.StatusBadRequest, fmt.Sprintf("stored %d spans, refused %d: %v", len(rows), batch.Rejected(), err))
		return
	}
	if h.o.Metrics != nil {
		h.o.Metrics.Requests.WithLabelValues(protocol, "202").Inc()
	}
	w.WriteHeader(http.StatusAccepted)
}

func (h *Handler) fail(w http.ResponseWriter, code int, msg string) {
	if h.o.Metrics != nil {
		h.o.Metrics.Requests.WithLabelValues(protocol, strconv.Itoa(code)).Inc()
	}
	http.Error(w, msg, code)
}

// Convert turns Zipkin spans into stored spans, refusing invalid ones
// alone with the reason recorded in batch.
func Convert(in []Span, batch *ingest.Batch) []spans.Span {
	out := make([]spans.Span, 0, len(in))
	for i := range in {
		z := &in[i]
		var row spans.Span
		if err := decodeID(row.TraceID[:], z.TraceID, true); err != nil {
			batch.RejectReason("invalid_trace_id", fmt.Sprintf("span %q: traceId: %v", z.Name, err), 1)
			continue
		}
		if err := decodeID(row.SpanID[:], z.ID, false); err != nil {
			batch.RejectReason("invalid_span_id", fmt.Sprintf("span %q: id: %v", z.Name, err), 1)
			continue
		}
		if z.ParentID != "" {
			if err := decodeID(row.ParentSpanID[:], z.ParentID, false); err != nil {
				batch.RejectReason("invalid_span_id", fmt.Sprintf("span %q: parentId: %v", z.Name, err), 1)
				continue
			}
		}
		if z.Timestamp <= 0 || z.Duration < 0 {
			batch.RejectReason("invalid_span_time", fmt.Sprintf("span %q: timestamp %d / duration %d are not valid microseconds", z.Name, z.Timestamp, z.Duration), 1)
			continue
		}
		row.Service = "unknown_service"
		if z.LocalEndpoint != nil && z.LocalEndpoint.ServiceName != "" {
			row.Service = z.LocalEndpoint.ServiceName
		}
		row.Resource = map[string]string{"service.name": row.Service}
		row.Name = z.Name
		row.Kind = kind(z.Kind)
		row.Start = time.UnixMicro(z.Timestamp)
		row.DurationNanos = z.Duration * 1000
		row.StatusCode = "unset"
		row.ScopeName = "zipkin"
		if len(z.Tags) > 0 {
			row.Attributes = make(map[string]string, len(z.Tags)+1)
			for k, v := range z.Tags {
				if k == "error" {
					row.StatusCode, row.StatusMessage = "error", v
					continue
				}
				row.Attributes[k] = v
			}
		}
		if z.RemoteEndpoint != nil && z.RemoteEndpoint.ServiceName != "" {
			if row.Attributes == nil {
				row.Attributes = map[string]string{}
			}
			row.Attributes["peer.service"] = z.RemoteEndpoint.ServiceName
		}
		for _, a := range z.Annotations {
			row.Events = append(row.Events, spans.Event{Time: time.UnixMicro(a.Timestamp), Name: a.Value})
		}
		out = append(out, row)
		batch.Accepted++
	}
	return out
}

// decodeID reads a hex id; trace ids may be 16 or 32 digits (64 or 128
// bits), span ids 16.
func decodeID(dst []byte, s string, trace bool) error {
	if trace && len(s) == 16 {
		s = strings.Repeat("0", 16) + s
	}
	if len(s) != 2*len(dst) {
		return fmt.Errorf("%q is not %d hex digits", s, 2*len(dst))
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		return fmt.Errorf("%q is not hex", s)
	}
	for _, b := range dst {
		if b != 0 {
			return nil
		}
	}
	return fmt.Errorf("%q is all zeros", s)
}

func kind(k string) string {
	switch k {
	case "CLIENT":
		return "client"
	case "SERVER":
		return "server"
	case "PRODUCER":
		return "producer"
	case "CONSUMER":
		return "consumer"
	default:
		return "unspecified"
	}
}
