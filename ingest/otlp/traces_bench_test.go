package otlp

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/vigilhq/vigil/storage/events"
	"github.com/vigilhq/vigil/storage/spans"
)

// httpBatch is 512 spans shaped like an instrumented HTTP service's: 64
// traces of 8 spans (server, client, internal) with the usual attributes.
func httpBatch(seed int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "orders")
	rs.Resource().Attributes().PutStr("host.name", "pod-7f9c")
	rs.Resource().Attributes().PutStr("telemetry.sdk.language", "python")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("opentelemetry.instrumentation.flask")
	now := time.Now()
	for tr := range 64 {
		var tid pcommon.TraceID
		tid[0], tid[1], tid[2], tid[15] = byte(seed), byte(seed>>8), byte(tr), 1
		var parent pcommon.SpanID
		for i := range 8 {
			s := ss.Spans().AppendEmpty()
			s.SetTraceID(tid)
			s.SetSpanID(pcommon.SpanID{byte(seed), byte(seed >> 8), byte(tr), byte(i), 1})
			s.SetParentSpanID(parent)
			if i == 0 {
				parent = s.SpanID()
				s.SetKind(ptrace.SpanKindServer)
			} else {
				s.SetKind(ptrace.SpanKindClient)
			}
			s.SetName(fmt.Sprintf("GET /api/orders/%d", i))
			start := now.Add(time.Duration(tr*8+i) * time.Millisecond)
			s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
			s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(1+i) * time.Millisecond)))
			a := s.Attributes()
			a.PutStr("http.request.method", "GET")
			a.PutStr("http.route", "/api/orders/{id}")
			a.PutStr("url.path", fmt.Sprintf("/api/orders/%d", tr))
			a.PutInt("http.response.status_code", 200)
			a.PutStr("server.address", "orders.internal")
		}
	}
	return td
}

// BenchmarkTracesExport measures the ingest path of one OTLP export of
// 512 spans into a real span store (WAL fsync included), per span.
func BenchmarkTracesExport(b *testing.B) {
	st, err := events.Open(events.Options[spans.Span]{Dir: b.TempDir(), Schema: spans.Schema, Compare: spans.Compare, Extra: spans.SummaryExtra, MinFreeBytes: -1,
		Codec: &events.Codec[spans.Span]{Append: spans.AppendBatch, Decode: spans.DecodeBatch}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { st.Run(ctx); close(done) }()
	defer func() { cancel(); <-done; st.Close() }()
	recv := NewTraces(TracesOptions{Store: st})
	reqs := make([]ptraceotlp.ExportRequest, 16)
	for i := range reqs {
		reqs[i] = ptraceotlp.NewExportRequestFromTraces(httpBatch(i))
	}
	cpu := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b.ResetTimer()
	cpu0 := cpu()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := recv.Export(context.Background(), reqs[i%len(reqs)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	// Cuts run in the background: wait for the last so its CPU counts.
	if err := st.Cut(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*512), "ns/span")
	b.ReportMetric(float64(cpu()-cpu0)/float64(b.N*512), "cpu-ns/span")
}
