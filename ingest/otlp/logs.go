package otlp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vigilhq/vigil/ingest"
	"github.com/vigilhq/vigil/ingest/logline"
	"github.com/vigilhq/vigil/storage/logs"
)

// streamResourceAttrs are the resource attributes that become stream
// labels of a log record (dots replaced by underscores), as Loki indexes
// them by default for OTLP logs: they name where a line comes from with
// few distinct values, so they make good selectors. The other resource
// attributes stay in Record.Resource.
var streamResourceAttrs = []string{
	"service.namespace",
	"deployment.environment",
	"deployment.environment.name",
	"k8s.namespace.name",
	"k8s.deployment.name",
	"k8s.statefulset.name",
	"k8s.daemonset.name",
	"k8s.cronjob.name",
	"k8s.job.name",
	"k8s.container.name",
	"k8s.cluster.name",
	"cloud.region",
	"cloud.availability_zone",
	"container.name",
}

// maxBodyDepth bounds how deep a map body is converted for its fields;
// deeper values are kept as their JSON text.
const maxBodyDepth = 32

// LogsFrom turns OTLP logs into log records, each completed by
// logline.Finish with now as the observed time of records without one.
// Every record is accepted (OTLP's types leave nothing to refuse) and
// counted in batch.
//
// The time is TimeUnixNano, else a time field of a JSON body, else the
// observed time. A string body that is a JSON object and a map body have
// their fields read by the logline rules: the message field becomes the
// body, the others attributes; a body of another type is kept as its
// text. The service is the resource's service.name; the stream labels are
// service_name, level and the resource attributes of streamResourceAttrs.
func LogsFrom(ld plog.Logs, batch *ingest.Batch, now time.Time) []logs.Record {
	streams := map[string]string{}
	out := make([]logs.Record, 0, ld.LogRecordCount())
	rls := ld.ResourceLogs()
	for i := range rls.Len() {
		rl := rls.At(i)
		res := attrs(rl.Resource().Attributes())
		service := res["service.name"]
		var extra map[string]string
		for _, k := range streamResourceAttrs {
			if v, ok := res[k]; ok {
				if extra == nil {
					extra = make(map[string]string, 4)
				}
				extra[strings.ReplaceAll(k, ".", "_")] = v
				delete(res, k)
			}
		}
		if len(res) == 0 {
			res = nil
		}
		opts := logline.Options{Now: now, ExtraLabels: extra, Streams: streams}
		sls := rl.ScopeLogs()
		for j := range sls.Len() {
			sl := sls.At(j)
			scope := sl.Scope().Name()
			lrs := sl.LogRecords()
			for k := range lrs.Len() {
				lr := lrs.At(k)
				rec := logs.Record{Service: service, Resource: res}
				rec.Attributes = attrs(lr.Attributes())
				setBody(&rec, lr.Body())
				if ts := lr.Timestamp(); ts != 0 {
					rec.Time = ts.AsTime()
				} else if rec.Time.IsZero() && lr.ObservedTimestamp() != 0 {
					rec.Time = lr.ObservedTimestamp().AsTime()
				}
				if ot := lr.ObservedTimestamp(); ot != 0 {
					rec.ObservedTime = ot.AsTime()
				}
				if n, text := int32(lr.SeverityNumber()), lr.SeverityText(); n != 0 || text != "" {
					if n == 0 {
						n = logs.SeverityOf(text)
					}
					rec.SeverityNumber, rec.SeverityText = n, text
				}
				if id := lr.TraceID(); !id.IsEmpty() {
					rec.TraceID = id
				}
				if id := lr.SpanID(); !id.IsEmpty() {
					rec.SpanID = id
				}
				if scope != "" {
					setAttr(&rec, "otel.scope.name", scope)
				}
				if name := lr.EventName(); name != "" {
					setAttr(&rec, "event.name", name)
				}
				logline.Finish(&rec, nil, opts)
				out = append(out, rec)
				batch.Accepted++
			}
		}
	}
	return out
}

func setAttr(rec *logs.Record, k, v string) {
	if rec.Attributes == nil {
		rec.Attributes = make(map[string]string, 1)
	}
	rec.Attributes[k] = v
}

// setBody reads an OTLP body into rec (see LogsFrom).
func setBody(rec *logs.Record, v pcommon.Value) {
	switch v.Type() {
	case pcommon.ValueTypeEmpty:
	case pcommon.ValueTypeStr:
		s := v.Str()
		if !logline.ParseJSONBody(rec, []byte(s), logline.Fields{}) {
			rec.Body = s
		}
	case pcommon.ValueTypeMap:
		// The whole map is the body unless it has a message field.
		rec.Body = v.AsString()
		logline.ApplyObject(rec, mapObject(v.Map(), 0), logline.Fields{})
	default:
		rec.Body = v.AsString()
	}
}

// mapObject converts an OTLP map to what encoding/json gives with
// UseNumber, the form logline.ApplyObject reads.
func mapObject(m pcommon.Map, depth int) map[string]any {
	obj := make(map[string]any, m.Len())
	m.Range(func(k string, v pcommon.Value) bool {
		obj[k] = valueAny(v, depth+1)
		return true
	})
	return obj
}

func valueAny(v pcommon.Value, depth int) any {
	switch v.Type() {
	case pcommon.ValueTypeEmpty:
		return nil
	case pcommon.ValueTypeStr:
		return v.Str()
	case pcommon.ValueTypeBool:
		return v.Bool()
	case pcommon.ValueTypeInt:
		return json.Number(strconv.FormatInt(v.Int(), 10))
	case pcommon.ValueTypeDouble:
		f := v.Double()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return strconv.FormatFloat(f, 'g', -1, 64) // not a JSON number: "+Inf", "NaN"
		}
		return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
	case pcommon.ValueTypeMap:
		if depth >= maxBodyDepth {
			return v.AsString()
		}
		return mapObject(v.Map(), depth)
	case pcommon.ValueTypeSlice:
		if depth >= maxBodyDepth {
			return v.AsString()
		}
		s := v.Slice()
		out := make([]any, s.Len())
		for i := range s.Len() {
			out[i] = valueAny(s.At(i), depth+1)
		}
		return out
	}
	return v.AsString() // bytes: base64
}

// LogsOptions configure a LogsReceiver.
type LogsOptions struct {
	Sink logline.Sink
	// MaxRequestBytes bounds a body after decompression; 0 means 64 MiB.
	MaxRequestBytes int64
	// MaxRecords bounds the log records of one request; 0 means no limit.
	MaxRecords int
	Metrics    *ingest.Metrics // protocol "otlp_logs"; records count as samples
	Logger     *slog.Logger
	// Now is the clock for records without an observed time; nil means
	// time.Now.
	Now func() time.Time
}

// LogsReceiver is the OTLP logs endpoint: an http.Handler for POST
// /v1/logs and a plogotlp.GRPCServer. An acknowledged export is durable
// (the sink's contract). Records refused by the sink's limits make the
// export fail with HTTP 429 / gRPC ResourceExhausted, which exporters
// retry after backing off; a full disk gives 503 / Unavailable.
// It is safe for concurrent use.
type LogsReceiver struct {
	plogotlp.UnimplementedGRPCServer
	o LogsOptions
	x exchange
}

const logsProtocol = "otlp_logs"

// NewLogs returns a receiver writing to o.Sink.
func NewLogs(o LogsOptions) *LogsReceiver {
	if o.MaxRequestBytes <= 0 {
		o.MaxRequestBytes = 64 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &LogsReceiver{o: o, x: exchange{protocol: logsProtocol, maxRequestBytes: o.MaxRequestBytes, metrics: o.Metrics}}
}

// Export implements plogotlp.GRPCServer.
func (l *LogsReceiver) Export(ctx context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	resp, err := l.store(ctx, req.Logs())
	if err != nil {
		var le *logline.LimitError
		if errors.As(err, &le) {
			l.x.count(http.StatusTooManyRequests)
			return plogotlp.ExportResponse{}, status.Error(codes.ResourceExhausted, le.Msg)
		}
		return plogotlp.ExportResponse{}, l.x.grpcError(err)
	}
	l.x.count(http.StatusOK)
	return resp, nil
}

// ServeHTTP implements OTLP/HTTP for logs (POST /v1/logs). It is the
// exchange's serveHTTP plus the sink's limit refusal, answered as 429
// with a ResourceExhausted status.
func (l *LogsReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		l.x.count(http.StatusMethodNotAllowed)
		http.Error(w, "only POST is allowed", http.StatusMethodNotAllowed)
		return
	}
	var enc encoding
	switch mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); {
	case err != nil:
		l.x.count(http.StatusUnsupportedMediaType)
		http.Error(w, fmt.Sprintf("invalid Content-Type %q: use application/x-protobuf or application/json", r.Header.Get("Content-Type")), http.StatusUnsupportedMediaType)
		return
	case mt == "application/x-protobuf":
	case mt == "application/json":
		enc.json = true
	default:
		l.x.count(http.StatusUnsupportedMediaType)
		http.Error(w, fmt.Sprintf("unsupported Content-Type %q: use application/x-protobuf or application/json", mt), http.StatusUnsupportedMediaType)
		return
	}
	body, berr := ingest.ReadBody(r, l.x.maxRequestBytes)
	if berr != nil {
		l.x.writeStatus(w, enc, berr.Status, berr.Msg)
		return
	}
	req := plogotlp.NewExportRequest()
	unmarshal, marshal := req.UnmarshalProto, plogotlp.ExportResponse.MarshalProto
	if enc.json {
		unmarshal, marshal = req.UnmarshalJSON, plogotlp.ExportResponse.MarshalJSON
	}
	if err := unmarshal(body); err != nil {
		l.x.writeStatus(w, enc, http.StatusBadRequest, fmt.Sprintf("cannot decode OTLP logs request (%s): %v", enc.name(), err))
		return
	}
	resp, err := l.store(r.Context(), req.Logs())
	var le *logline.LimitError
	switch {
	case errors.As(err, &le):
		l.x.count(http.StatusTooManyRequests)
		b, merr := enc.marshalStatus(status.New(codes.ResourceExhausted, le.Msg))
		if merr != nil {
			http.Error(w, le.Msg, http.StatusTooManyRequests)
			return
		}
		w.Header().Set("Content-Type", enc.contentType())
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write(b)
		return
	case err != nil && isClientError(err):
		l.x.writeStatus(w, enc, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		l.x.writeStatus(w, enc, http.StatusServiceUnavailable, err.Error())
		return
	}
	out, err := marshal(resp)
	if err != nil {
		l.x.writeStatus(w, enc, http.StatusInternalServerError, "cannot encode response: "+err.Error())
		return
	}
	l.x.count(http.StatusOK)
	w.Header().Set("Content-Type", enc.contentType())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

func (l *LogsReceiver) store(ctx context.Context, ld plog.Logs) (plogotlp.ExportResponse, error) {
	resp := plogotlp.NewExportResponse()
	if n := ld.LogRecordCount(); l.o.MaxRecords > 0 && n > l.o.MaxRecords {
		return resp, &requestError{fmt.Sprintf("request has %d log records, more than the limit of %d (limits.max_samples_per_request); export smaller batches", n, l.o.MaxRecords)}
	}
	batch := ingest.NewBatch(logsProtocol)
	recs := LogsFrom(ld, batch, l.o.Now())
	if len(recs) == 0 {
		return resp, nil
	}
	if err := l.o.Sink.Append(ctx, recs); err != nil {
		var le *logline.LimitError
		if errors.As(err, &le) {
			batch.Accepted -= min(le.Refused, batch.Accepted)
			batch.RejectReason("limit", le.Msg, le.Refused)
			batch.Record(l.o.Metrics)
			return resp, err
		}
		l.o.Logger.Error("cannot store log records", "err", err)
		return resp, fmt.Errorf("cannot store log records: %w", err)
	}
	batch.Record(l.o.Metrics)
	return resp, nil
}
