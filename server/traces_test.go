package server

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

func exportTraces(t *testing.T, addr string, td ptrace.Traces) {
	t.Helper()
	body, _ := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	resp, err := http.Post("http://"+addr+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("export: %d", resp.StatusCode)
	}
}

func oneSpanTrace(td ptrace.Traces, id byte, failed bool) {
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "tail")
	s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetTraceID(pcommon.TraceID{15: id})
	s.SetSpanID(pcommon.SpanID{7: id})
	s.SetName("work")
	s.SetKind(ptrace.SpanKindServer)
	now := time.Now()
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
	if failed {
		s.Status().SetCode(ptrace.StatusCodeError)
	}
}

func traceStatus(t *testing.T, base string, id byte) int {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("%s/api/vigil/v1/traces/%032x", base, id))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// With tail sampling on and no random share, an error trace is kept, an
// ordinary one dropped, and RED metrics still count both; a clean stop
// stores what was still waiting for a decision.
func TestTailSampling(t *testing.T) {
	cfg := testConfig(t)
	cfg.Traces.TailSampling.Enabled = true
	cfg.Traces.TailSampling.Fraction = 0
	cfg.Traces.TailSampling.LatencyThreshold = 0
	cfg.Traces.TailSampling.DecisionWait = model.Duration(300 * time.Millisecond)
	cfg.Traces.DerivedMetricsInterval = model.Duration(200 * time.Millisecond)
	r := start(t, cfg)

	td := ptrace.NewTraces()
	oneSpanTrace(td, 1, true)
	oneSpanTrace(td, 2, false)
	exportTraces(t, r.srv.OTLPHTTPAddr(), td)

	deadline := time.Now().Add(20 * time.Second)
	for traceStatus(t, r.base, 1) != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the error trace was not kept")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Both were decided in the same round: the ordinary one is gone.
	if code := traceStatus(t, r.base, 2); code != 404 {
		t.Fatalf("the ordinary trace answers %d, want 404 (dropped)", code)
	}
	for {
		_, body := query(t, r.base, "", `sum(traces_spanmetrics_calls_total{service="tail"})`)
		if strings.Contains(body, `"2"]`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("RED metrics do not count both spans: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A trace still waiting when the server stops is decided and stored.
	cfg.Traces.TailSampling.DecisionWait = model.Duration(time.Hour)
	r.stop(t)
	r = start(t, cfg)
	td = ptrace.NewTraces()
	oneSpanTrace(td, 3, true)
	exportTraces(t, r.srv.OTLPHTTPAddr(), td)
	if code := traceStatus(t, r.base, 3); code != 404 {
		t.Fatalf("a trace waiting for its decision answers %d, want 404", code)
	}
	r.stop(t)
	r = start(t, cfg)
	if code := traceStatus(t, r.base, 3); code != 200 {
		t.Fatalf("after a clean stop the waiting error trace answers %d, want 200", code)
	}
	if code := traceStatus(t, r.base, 1); code != 200 {
		t.Fatalf("the kept trace answers %d after restarts", code)
	}
}
