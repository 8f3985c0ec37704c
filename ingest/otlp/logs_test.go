package otlp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/vigilhq/vigil/ingest"
	"github.com/vigilhq/vigil/ingest/logline"
	"github.com/vigilhq/vigil/storage/events"
	"github.com/vigilhq/vigil/storage/logs"
)

var logsNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// logFixture is one resource (checkout in prod on k8s) with four records:
// a plain string, a JSON string body, a map body and an int body.
func logFixture() plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	ra := rl.Resource().Attributes()
	ra.PutStr("service.name", "checkout")
	ra.PutStr("deployment.environment.name", "prod")
	ra.PutStr("k8s.namespace.name", "shop")
	ra.PutStr("host.name", "node-7")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("checkout.payments")

	lr := sl.LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Unix(1700000000, 5)))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Unix(1700000001, 0)))
	lr.SetSeverityNumber(plog.SeverityNumberWarn)
	lr.SetSeverityText("WARN")
	lr.Body().SetStr("card declined")
	lr.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	lr.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
	lr.Attributes().PutInt("http.status_code", 402)

	lr = sl.LogRecords().AppendEmpty()
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Unix(1700000002, 0)))
	lr.SetSeverityText("error") // number 0: from the text
	lr.Body().SetStr(`{"event":"payment failed","order_id":42,"user":{"id":"u1"}}`)

	lr = sl.LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Unix(1700000003, 0)))
	m := lr.Body().SetEmptyMap()
	m.PutStr("message", "retrying")
	m.PutInt("attempt", 3)
	m.PutDouble("backoff", 1.5)
	m.PutBool("final", false)
	m.PutEmptyMap("ctx").PutStr("region", "eu")
	m.PutEmptySlice("tags").AppendEmpty().SetStr("a")

	lr = sl.LogRecords().AppendEmpty()
	lr.Body().SetInt(7)
	return ld
}

func TestLogsFrom(t *testing.T) {
	batch := ingest.NewBatch(logsProtocol)
	recs := LogsFrom(logFixture(), batch, logsNow)
	if len(recs) != 4 || batch.Accepted != 4 || batch.Rejected() != 0 {
		t.Fatalf("%d records, batch %+v", len(recs), batch)
	}
	stream := `{deployment_environment_name="prod", k8s_namespace_name="shop", level="%s", service_name="checkout"}`
	for i, c := range []struct {
		body     string
		time     time.Time
		observed time.Time
		sevNum   int32
		sevText  string
		stream   string
		attrs    map[string]string
	}{
		{"card declined", time.Unix(1700000000, 5), time.Unix(1700000001, 0), 13, "WARN", fmt.Sprintf(stream, "warn"),
			map[string]string{"http.status_code": "402", "otel.scope.name": "checkout.payments"}},
		{"payment failed", time.Unix(1700000002, 0), time.Unix(1700000002, 0), 17, "error", fmt.Sprintf(stream, "error"),
			map[string]string{"order_id": "42", "user.id": "u1", "otel.scope.name": "checkout.payments"}},
		{"retrying", time.Unix(1700000003, 0), logsNow, 0, "", fmt.Sprintf(stream, "unknown"),
			map[string]string{"attempt": "3", "backoff": "1.5", "final": "false", "ctx.region": "eu", "tags": `["a"]`, "otel.scope.name": "checkout.payments"}},
		{"7", logsNow, logsNow, 0, "", fmt.Sprintf(stream, "unknown"),
			map[string]string{"otel.scope.name": "checkout.payments"}},
	} {
		r := recs[i]
		if r.Body != c.body || !r.Time.Equal(c.time) || !r.ObservedTime.Equal(c.observed) || r.SeverityNumber != c.sevNum || r.SeverityText != c.sevText {
			t.Errorf("record %d: body %q time %v observed %v severity %d %q", i, r.Body, r.Time, r.ObservedTime, r.SeverityNumber, r.SeverityText)
		}
		if r.Stream != c.stream || r.Service != "checkout" {
			t.Errorf("record %d: service %q stream %s, want %s", i, r.Service, r.Stream, c.stream)
		}
		if !mapsEqual(r.Attributes, c.attrs) {
			t.Errorf("record %d: attributes %v, want %v", i, r.Attributes, c.attrs)
		}
		if !mapsEqual(r.Resource, map[string]string{"service.name": "checkout", "host.name": "node-7"}) {
			t.Errorf("record %d: resource %v", i, r.Resource)
		}
	}
	if recs[0].TraceID != [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16} || recs[0].SpanID != [8]byte{1, 2, 3, 4, 5, 6, 7, 8} {
		t.Errorf("ids %x %x", recs[0].TraceID, recs[0].SpanID)
	}
	if recs[1].HasTrace() {
		t.Errorf("record without trace id got %x", recs[1].TraceID)
	}
}

// A map body without a message field stays whole as the body; a resource
// without service.name gives unknown_service; a trace id in a JSON body
// is taken.
func TestLogsFromEdgeCases(t *testing.T) {
	ld := plog.NewLogs()
	sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	lr := sl.LogRecords().AppendEmpty()
	lr.Body().SetEmptyMap().PutStr("k", "v")
	lr = sl.LogRecords().AppendEmpty()
	lr.Body().SetStr(`{"msg":"hi","trace_id":"0af7651916cd43dd8448eb211c80319c","level":"debug"}`)
	lr = sl.LogRecords().AppendEmpty()
	lr.Body().SetStr(`{"not closed"`)
	lr = sl.LogRecords().AppendEmpty()
	lr.Body().SetEmptyMap().PutDouble("msg", math.Inf(1))

	recs := LogsFrom(ld, ingest.NewBatch(logsProtocol), logsNow)
	if recs[0].Body != `{"k":"v"}` || recs[0].Attributes["k"] != "v" {
		t.Errorf("map body without message: %q %v", recs[0].Body, recs[0].Attributes)
	}
	if recs[0].Service != "unknown_service" || recs[0].Stream != `{level="unknown", service_name="unknown_service"}` {
		t.Errorf("service %q stream %s", recs[0].Service, recs[0].Stream)
	}
	if recs[1].Body != "hi" || recs[1].TraceID[0] != 0x0a || recs[1].Level() != logs.LevelDebug {
		t.Errorf("JSON body: %q %x %s", recs[1].Body, recs[1].TraceID, recs[1].Level())
	}
	if recs[2].Body != `{"not closed"` {
		t.Errorf("invalid JSON body %q", recs[2].Body)
	}
	if recs[3].Body != "+Inf" {
		t.Errorf("infinite message %q", recs[3].Body)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// recSink keeps what it is given, or fails with err.
type recSink struct {
	mu   sync.Mutex
	recs []logs.Record
	err  error
}

func (s *recSink) Append(_ context.Context, recs []logs.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.recs = append(s.recs, recs...)
	return nil
}

func (s *recSink) bodies() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.recs {
		out = append(out, r.Body)
	}
	return out
}

// Logs over HTTP (protobuf, JSON, gzip) and gRPC reach the sink.
func TestLogsReceiver(t *testing.T) {
	sink := &recSink{}
	m := ingest.NewMetrics(prometheus.NewRegistry())
	recv := NewLogs(LogsOptions{Sink: sink, Metrics: m, Now: func() time.Time { return logsNow }})
	req := plogotlp.NewExportRequestFromLogs(logFixture())
	pb, _ := req.MarshalProto()
	js, _ := req.MarshalJSON()
	for _, c := range []struct{ ct, enc string }{
		{"application/x-protobuf", ""},
		{"application/json", ""},
		{"application/x-protobuf", "gzip"},
	} {
		body := pb
		if c.ct == "application/json" {
			body = js
		}
		if c.enc == "gzip" {
			body = gz(body)
		}
		resp := post(t, recv, c.ct, c.enc, body)
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != c.ct {
			t.Fatalf("%s %s: status %d %q", c.ct, c.enc, resp.StatusCode, out)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	plogotlp.RegisterGRPCServer(srv, recv)
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plogotlp.NewGRPCClient(cc).Export(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	cc.Close()
	srv.Stop()
	<-done

	bodies := sink.bodies()
	if len(bodies) != 16 || bodies[12] != "card declined" || bodies[15] != "7" {
		t.Errorf("stored bodies %q", bodies)
	}
	if got := testutil.ToFloat64(m.Samples.WithLabelValues(logsProtocol)); got != 16 {
		t.Errorf("samples counted %v, want 16", got)
	}
	if got := testutil.ToFloat64(m.Requests.WithLabelValues(logsProtocol, "200")); got != 4 {
		t.Errorf("requests counted %v, want 4", got)
	}
}

// Bad requests, limits and sink failures get the status an exporter acts
// on, with a message naming the problem.
func TestLogsBadInput(t *testing.T) {
	good, _ := plogotlp.NewExportRequestFromLogs(logFixture()).MarshalProto()
	small := NewLogs(LogsOptions{Sink: &recSink{}, MaxRequestBytes: 64})
	many := NewLogs(LogsOptions{Sink: &recSink{}, MaxRecords: 3})
	limited := NewLogs(LogsOptions{Sink: &recSink{err: &logline.LimitError{Refused: 2, Msg: "ingestion rate limit of 1 MiB/s exceeded for service checkout"}}})
	full := NewLogs(LogsOptions{Sink: &recSink{err: fmt.Errorf("log store: %w (12 MiB free)", events.ErrDiskFull)}})
	broken := NewLogs(LogsOptions{Sink: &recSink{err: errors.New("wal: bad sector")}})
	for _, c := range []struct {
		name     string
		recv     *LogsReceiver
		ct, enc  string
		body     []byte
		code     int
		grpcCode codes.Code
		contains string
	}{
		{"oversized", small, "application/x-protobuf", "", good, 413, 0, "64"},
		{"not protobuf", small, "application/x-protobuf", "", []byte{0x0a, 0xff}, 400, 0, "cannot decode OTLP logs request (protobuf)"},
		{"not JSON", small, "application/json", "", []byte(`{"resourceLogs":[`), 400, 0, "JSON"},
		{"bad gzip", small, "application/x-protobuf", "gzip", []byte("plain"), 400, 0, "gzip"},
		{"unknown type", small, "text/plain", "", []byte("x"), 415, 0, "application/x-protobuf"},
		{"too many records", many, "application/x-protobuf", "", good, 400, codes.InvalidArgument, "limit of 3"},
		{"rate limited", limited, "application/x-protobuf", "", good, 429, codes.ResourceExhausted, "ingestion rate limit"},
		{"disk full", full, "application/x-protobuf", "", good, 503, codes.Unavailable, "free"},
		{"store broken", broken, "application/x-protobuf", "", good, 503, codes.Unavailable, "bad sector"},
	} {
		resp := post(t, c.recv, c.ct, c.enc, c.body)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != c.code || !strings.Contains(string(body), c.contains) {
			t.Errorf("%s: %d %q, want %d containing %q", c.name, resp.StatusCode, body, c.code, c.contains)
		}
		if c.grpcCode == 0 {
			continue
		}
		_, err := c.recv.Export(context.Background(), plogotlp.NewExportRequestFromLogs(logFixture()))
		if status.Code(err) != c.grpcCode || !strings.Contains(err.Error(), c.contains) {
			t.Errorf("%s over gRPC: %v, want %v containing %q", c.name, err, c.grpcCode, c.contains)
		}
	}
	resp := post(t, limited, "application/json", "", []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"x"}}]}]}]}`))
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 429 || !strings.Contains(string(body), `"code":8`) {
		t.Errorf("limit over JSON: %d %s, want a ResourceExhausted status", resp.StatusCode, body)
	}
}

// FuzzOTLPLogs feeds arbitrary protobuf to the HTTP handler: no panic, no
// server error, and every stored record is complete.
func FuzzOTLPLogs(f *testing.F) {
	pb, _ := plogotlp.NewExportRequestFromLogs(logFixture()).MarshalProto()
	f.Add(pb)
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x02, 0x12, 0x00})
	recv := NewLogs(LogsOptions{Sink: logline.SinkFunc(func(_ context.Context, recs []logs.Record) error {
		for _, r := range recs {
			if r.Service == "" || r.Stream == "" || r.Time.IsZero() || r.ObservedTime.IsZero() {
				panic(fmt.Sprintf("incomplete record reached the sink: %+v", r))
			}
		}
		return nil
	}), MaxRequestBytes: 1 << 20})
	f.Fuzz(func(t *testing.T, body []byte) {
		resp := post(t, recv, "application/x-protobuf", "", body)
		if resp.StatusCode != 200 && resp.StatusCode != 400 {
			t.Fatalf("status %d for input %x", resp.StatusCode, body)
		}
	})
}
