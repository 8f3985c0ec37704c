package otlp

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/vigilhq/vigil/ingest"
	"github.com/vigilhq/vigil/storage/spans"
)

// SpansFrom turns OTLP traces into stored spans. A span with an invalid id
// (all zeros, as the specification forbids) or an end before its start is
// refused alone and recorded in batch with the reason; the rest is
// returned. The service is the resource's service.name, or
// "unknown_service" as the SDKs default it.
func SpansFrom(td ptrace.Traces, batch *ingest.Batch) []spans.Span {
	out := make([]spans.Span, 0, td.SpanCount())
	rss := td.ResourceSpans()
	for i := range rss.Len() {
		rs := rss.At(i)
		res := attrs(rs.Resource().Attributes())
		service := res["service.name"]
		if service == "" {
			service = "unknown_service"
		}
		sss := rs.ScopeSpans()
		for j := range sss.Len() {
			ss := sss.At(j)
			sp := ss.Spans()
			for k := range sp.Len() {
				s := sp.At(k)
				if s.TraceID().IsEmpty() {
					batch.RejectReason("invalid_trace_id", fmt.Sprintf("span %q of service %q has an all-zero trace id", s.Name(), service), 1)
					continue
				}
				if s.SpanID().IsEmpty() {
					batch.RejectReason("invalid_span_id", fmt.Sprintf("span %q of trace %s has an all-zero span id", s.Name(), s.TraceID()), 1)
					continue
				}
				start, end := s.StartTimestamp(), s.EndTimestamp()
				if end < start {
					batch.RejectReason("invalid_span_time", fmt.Sprintf("span %q of trace %s ends before it starts", s.Name(), s.TraceID()), 1)
					continue
				}
				row := spans.Span{
					TraceID:       s.TraceID(),
					SpanID:        s.SpanID(),
					ParentSpanID:  s.ParentSpanID(),
					TraceState:    s.TraceState().AsRaw(),
					Service:       service,
					Name:          s.Name(),
					Kind:          spans.KindName(int32(s.Kind())),
					Start:         start.AsTime(),
					DurationNanos: int64(end - start),
					StatusCode:    spans.StatusName(int32(s.Status().Code())),
					StatusMessage: s.Status().Message(),
					ScopeName:     ss.Scope().Name(),
					ScopeVersion:  ss.Scope().Version(),
					Resource:      res,
					Attributes:    attrs(s.Attributes()),
				}
				for e := range s.Events().Len() {
					ev := s.Events().At(e)
					row.Events = append(row.Events, spans.Event{Time: ev.Timestamp().AsTime(), Name: ev.Name(), Attributes: attrs(ev.Attributes())})
				}
				for l := range s.Links().Len() {
					ln := s.Links().At(l)
					row.Links = append(row.Links, spans.Link{TraceID: ln.TraceID(), SpanID: ln.SpanID(), TraceState: ln.TraceState().AsRaw(), Attributes: attrs(ln.Attributes())})
				}
				out = append(out, row)
				batch.Accepted++
			}
		}
	}
	return out
}

// attrs flattens OTLP attributes to strings (nil when there are none, so
// empty maps cost nothing in Parquet).
func attrs(m pcommon.Map) map[string]string {
	if m.Len() == 0 {
		return nil
	}
	out := make(map[string]string, m.Len())
	m.Range(func(k string, v pcommon.Value) bool {
		out[k] = v.AsString()
		return true
	})
	return out
}

// SpanAppender stores spans durably; storage/events.Store[spans.Span] is
// one. Append must return only once the spans are durable.
type SpanAppender interface {
	Append(ctx context.Context, rows []spans.Span) error
}

// TracesOptions configure a TracesReceiver.
type TracesOptions struct {
	Store SpanAppender
	// MaxRequestBytes bounds a body after decompression; 0 means 64 MiB.
	MaxRequestBytes int64
	// MaxSpans bounds the spans of one request; 0 means no limit.
	MaxSpans int
	Metrics  *ingest.Metrics // protocol "otlp_traces"; spans count as samples
	// Observe, if set, sees every span once Store has taken it: derived
	// metrics and the service catalog. It must not keep the slice.
	Observe func([]spans.Span)
	Logger  *slog.Logger
}

// TracesReceiver is the OTLP traces endpoint: an http.Handler for POST
// /v1/traces and a ptraceotlp.GRPCServer. An acknowledged export is
// durable (the store's contract); invalid spans are refused alone and
// reported in partial_success.
type TracesReceiver struct {
	ptraceotlp.UnimplementedGRPCServer
	o TracesOptions
	x exchange
}

const tracesProtocol = "otlp_traces"

// NewTraces returns a receiver writing to o.Store.
func NewTraces(o TracesOptions) *TracesReceiver {
	if o.MaxRequestBytes <= 0 {
		o.MaxRequestBytes = 64 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &TracesReceiver{o: o, x: exchange{protocol: tracesProtocol, maxRequestBytes: o.MaxRequestBytes, metrics: o.Metrics}}
}

// Export implements ptraceotlp.GRPCServer.
func (t *TracesReceiver) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	resp, err := t.store(ctx, req.Traces())
	if err != nil {
		return ptraceotlp.ExportResponse{}, t.x.grpcError(err)
	}
	t.x.count(http.StatusOK)
	return resp, nil
}

// ServeHTTP implements OTLP/HTTP for traces (POST /v1/traces).
func (t *TracesReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t.x.serveHTTP(w, r, "traces", func(ctx context.Context, enc encoding, body []byte) ([]byte, error) {
		req := ptraceotlp.NewExportRequest()
		unmarshal, marshal := req.UnmarshalProto, ptraceotlp.ExportResponse.MarshalProto
		if enc.json {
			unmarshal, marshal = req.UnmarshalJSON, ptraceotlp.ExportResponse.MarshalJSON
		}
		if err := unmarshal(body); err != nil {
			return nil, &decodeError{err}
		}
		resp, err := t.store(ctx, req.Traces())
		if err != nil {
			return nil, err
		}
		return marshal(resp)
	})
}

func (t *TracesReceiver) store(ctx context.Context, td ptrace.Traces) (ptraceotlp.ExportResponse, error) {
	resp := ptraceotlp.NewExportResponse()
	if t.o.MaxSpans > 0 && td.SpanCount() > t.o.MaxSpans {
		return resp, &requestError{fmt.Sprintf("request has %d spans, more than the limit of %d (limits.max_samples_per_request); export smaller batches", td.SpanCount(), t.o.MaxSpans)}
	}
	batch := ingest.NewBatch(tracesProtocol)
	rows := SpansFrom(td, batch)
	if err := t.o.Store.Append(ctx, rows); err != nil {
		t.o.Logger.Error("cannot store spans", "err", err)
		return resp, fmt.Errorf("cannot store spans: %w", err)
	}
	if t.o.Observe != nil {
		t.o.Observe(rows)
	}
	batch.Record(t.o.Metrics)
	if err := batch.Err(); err != nil {
		ps := resp.PartialSuccess()
		ps.SetRejectedSpans(int64(batch.Rejected()))
		ps.SetErrorMessage(err.Error())
	}
	return resp, nil
}
