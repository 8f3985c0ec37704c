package otlp

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/vigilhq/vigil/ingest"
	"github.com/vigilhq/vigil/storage/events"
	"github.com/vigilhq/vigil/storage/parts"
	"github.com/vigilhq/vigil/storage/spans"
)

func traceFixture() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	rs.Resource().Attributes().PutInt("process.pid", 42)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("flask")
	start := pcommon.NewTimestampFromTime(time.Unix(1_700_000_000, 0))
	tid := pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}

	root := ss.Spans().AppendEmpty()
	root.SetTraceID(tid)
	root.SetSpanID(pcommon.SpanID{1, 1, 1, 1, 1, 1, 1, 1})
	root.SetName("POST /orders")
	root.SetKind(ptrace.SpanKindServer)
	root.SetStartTimestamp(start)
	root.SetEndTimestamp(start + 250_000_000)
	root.Status().SetCode(ptrace.StatusCodeError)
	root.Status().SetMessage("boom")
	root.Attributes().PutInt("http.response.status_code", 500)
	ev := root.Events().AppendEmpty()
	ev.SetName("exception")
	ev.SetTimestamp(start + 100)
	ev.Attributes().PutStr("exception.type", "ValueError")

	child := ss.Spans().AppendEmpty()
	child.SetTraceID(tid)
	child.SetSpanID(pcommon.SpanID{2, 2, 2, 2, 2, 2, 2, 2})
	child.SetParentSpanID(root.SpanID())
	child.SetName("SELECT orders")
	child.SetKind(ptrace.SpanKindClient)
	child.SetStartTimestamp(start + 1_000_000)
	child.SetEndTimestamp(start + 5_000_000)
	ln := child.Links().AppendEmpty()
	ln.SetTraceID(pcommon.TraceID{9})
	ln.SetSpanID(pcommon.SpanID{9})

	bad := ss.Spans().AppendEmpty() // all-zero trace id
	bad.SetSpanID(pcommon.SpanID{3})
	bad.SetName("bad")
	backwards := ss.Spans().AppendEmpty()
	backwards.SetTraceID(tid)
	backwards.SetSpanID(pcommon.SpanID{4})
	backwards.SetName("backwards")
	backwards.SetStartTimestamp(start + 10)
	backwards.SetEndTimestamp(start)
	return td
}

// OTLP spans become stored rows with ids, parent links, attributes,
// events, links and status; invalid spans are refused alone. A part of
// them reads back identical.
func TestSpansFromAndPartRoundTrip(t *testing.T) {
	batch := ingest.NewBatch("otlp_traces")
	rows := SpansFrom(traceFixture(), batch)
	if len(rows) != 2 || batch.Rejected() != 2 || batch.Accepted != 2 {
		t.Fatalf("%d rows, %d rejected (%v)", len(rows), batch.Rejected(), batch.Err())
	}
	root, child := rows[0], rows[1]
	if root.Service != "checkout" || root.Kind != "server" || root.StatusCode != "error" || root.StatusMessage != "boom" ||
		root.DurationNanos != 250_000_000 || !root.IsRoot() || root.Attributes["http.response.status_code"] != "500" ||
		root.Resource["process.pid"] != "42" || len(root.Events) != 1 || root.Events[0].Attributes["exception.type"] != "ValueError" {
		t.Errorf("root = %+v", root)
	}
	if child.ParentSpanID != root.SpanID || child.Kind != "client" || len(child.Links) != 1 || child.Links[0].TraceID[0] != 9 || child.IsRoot() {
		t.Errorf("child = %+v", child)
	}
	if spans.TraceIDString(root.TraceID) != "0102030405060708090a0b0c0d0e0f10" {
		t.Errorf("trace id %s", spans.TraceIDString(root.TraceID))
	}

	spans.Sort(rows)
	dir := t.TempDir()
	meta, err := parts.Write(dir, spans.Schema, rows, parts.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := parts.Open(filepath.Join(dir, "part-"+meta.ID))
	if err != nil {
		t.Fatal(err)
	}
	if g := p.RowGroupsFor(0, 1<<62, spans.TraceIDString(root.TraceID), spans.AttributeToken("http.response.status_code", "500")); len(g) != 1 {
		t.Errorf("bloom lookup by trace id and attribute: %v", g)
	}
	back, err := parts.Read[spans.Span](p, []int{0})
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 2 || back[0].SpanID != rows[0].SpanID || !back[0].Start.Equal(rows[0].Start) || back[1].ParentSpanID != rows[1].ParentSpanID ||
		back[0].Events[0].Name != "exception" || back[1].Links[0].SpanID != rows[1].Links[0].SpanID {
		t.Errorf("read back %+v", back)
	}
}

func openSpans(t testing.TB, dir string) *events.Store[spans.Span] {
	t.Helper()
	s, err := events.Open(events.Options[spans.Span]{Dir: dir, Schema: spans.Schema, Compare: spans.Compare})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Traces over HTTP (protobuf and JSON) and gRPC are stored durably: after
// the store is reopened every accepted span is there; invalid spans come
// back in partial_success.
func TestTracesReceiver(t *testing.T) {
	dir := t.TempDir()
	store := openSpans(t, dir)
	recv := NewTraces(TracesOptions{Store: store, Metrics: ingest.NewMetrics(prometheus.NewRegistry())})

	req := ptraceotlp.NewExportRequestFromTraces(traceFixture())
	pb, _ := req.MarshalProto()
	resp := post(t, recv, "application/x-protobuf", "", pb)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	body, _ := io.ReadAll(resp.Body)
	out := ptraceotlp.NewExportResponse()
	if err := out.UnmarshalProto(body); err != nil {
		t.Fatal(err)
	}
	if out.PartialSuccess().RejectedSpans() != 2 || !strings.Contains(out.PartialSuccess().ErrorMessage(), "all-zero trace id") {
		t.Errorf("partial success %d %q", out.PartialSuccess().RejectedSpans(), out.PartialSuccess().ErrorMessage())
	}

	// JSON, with distinct ids so the spans are new.
	td := traceFixture()
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetTraceID(pcommon.TraceID{0xaa, 1})
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(1).SetTraceID(pcommon.TraceID{0xaa, 1})
	js, _ := ptraceotlp.NewExportRequestFromTraces(td).MarshalJSON()
	if resp := post(t, recv, "application/json", "", js); resp.StatusCode != 200 {
		t.Fatalf("JSON status %d", resp.StatusCode)
	}
	if resp := post(t, recv, "application/x-protobuf", "", []byte{0xff, 0xff}); resp.StatusCode != 400 {
		t.Errorf("bad protobuf status %d", resp.StatusCode)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, recv)
	go srv.Serve(ln)
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	td = traceFixture()
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetTraceID(pcommon.TraceID{0xbb, 2})
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(1).SetTraceID(pcommon.TraceID{0xbb, 2})
	if _, err := ptraceotlp.NewGRPCClient(cc).Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(td)); err != nil {
		t.Fatal(err)
	}
	cc.Close()
	srv.Stop()

	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	store = openSpans(t, dir)
	defer store.Close()
	traces := map[string]int{}
	store.Scan(0, 1<<62, nil, func(s *spans.Span) bool {
		traces[spans.TraceIDString(s.TraceID)]++
		return true
	})
	if len(traces) != 3 || traces["0102030405060708090a0b0c0d0e0f10"] != 2 {
		t.Errorf("stored traces %v, want 3 traces of 2 spans", traces)
	}
}

func FuzzOTLPTraces(f *testing.F) {
	pb, _ := ptraceotlp.NewExportRequestFromTraces(traceFixture()).MarshalProto()
	f.Add(pb)
	f.Add([]byte{})
	// The decoder and conversion are fuzzed; storage is tested above and
	// in storage/events, and an fsync per run would slow fuzzing 100x.
	recv := NewTraces(TracesOptions{Store: spanSink{}, MaxRequestBytes: 1 << 20})
	f.Fuzz(func(t *testing.T, body []byte) {
		resp := post(t, recv, "application/x-protobuf", "", body)
		if resp.StatusCode >= 500 {
			t.Fatalf("status %d for bad input", resp.StatusCode)
		}
	})
}

// spanSink accepts spans and checks they are valid.
type spanSink struct{}

func (spanSink) Append(_ context.Context, rows []spans.Span) error {
	for _, r := range rows {
		if r.TraceID == [16]byte{} || r.SpanID == [8]byte{} || r.DurationNanos < 0 {
			panic("invalid span reached storage")
		}
	}
	return nil
}

type fullStore struct{}

func (fullStore) Append(context.Context, []spans.Span) error {
	return fmt.Errorf("span store: %w (12 MiB free, need 256 MiB)", events.ErrDiskFull)
}

// Bad or unstorable trace exports get answers that name the problem, with
// the status an OTLP exporter acts on: 4xx/InvalidArgument is final,
// 503/Unavailable is retried.
func TestTracesBadInput(t *testing.T) {
	good, _ := ptraceotlp.NewExportRequestFromTraces(traceFixture()).MarshalProto()
	st1, st2 := openSpans(t, t.TempDir()), openSpans(t, t.TempDir())
	defer st1.Close()
	defer st2.Close()
	small := NewTraces(TracesOptions{Store: st1, MaxRequestBytes: 64, MaxSpans: 2})
	for _, c := range []struct {
		name     string
		ct, enc  string
		body     []byte
		code     int
		contains string
	}{
		{"oversized", "application/x-protobuf", "", good, 413, "64"},
		{"oversized after gzip", "application/x-protobuf", "gzip", gz(good), 413, "64"},
		{"not protobuf", "application/x-protobuf", "", []byte{0x0a, 0xff}, 400, "protobuf"},
		{"not JSON", "application/json", "", []byte(`{"resourceSpans":[`), 400, "JSON"},
		{"bad gzip", "application/x-protobuf", "gzip", []byte("plain"), 400, "gzip"},
		{"unknown type", "text/plain", "", []byte("x"), 415, "application/x-protobuf"},
	} {
		resp := post(t, small, c.ct, c.enc, c.body)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != c.code || !strings.Contains(string(body), c.contains) {
			t.Errorf("%s: %d %q, want %d containing %q", c.name, resp.StatusCode, body, c.code, c.contains)
		}
	}

	// More spans than allowed: refused whole with the limit named.
	many := NewTraces(TracesOptions{Store: st2, MaxSpans: 1})
	resp := post(t, many, "application/x-protobuf", "", good)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(string(body), "max_samples_per_request") {
		t.Errorf("too many spans: %d %q", resp.StatusCode, body)
	}
	_, err := many.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(traceFixture()))
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "limit") {
		t.Errorf("gRPC too many spans: %v", err)
	}

	// A full disk is the store's problem, not the client's: retryable.
	full := NewTraces(TracesOptions{Store: fullStore{}})
	resp = post(t, full, "application/x-protobuf", "", good)
	body, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || !strings.Contains(string(body), "free") {
		t.Errorf("disk full: %d %q", resp.StatusCode, body)
	}
	_, err = full.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(traceFixture()))
	if status.Code(err) != codes.Unavailable {
		t.Errorf("gRPC disk full: %v", err)
	}
}
