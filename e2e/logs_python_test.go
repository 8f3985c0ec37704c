package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestLogsPython: (a) structlog's JSON lines, shipped by the app itself to
// /insert/jsonline, found by their fields without a parser stage and with
// their levels; (b) Python's logging through the OpenTelemetry SDK's
// LoggingHandler inside a span, over gRPC and HTTP: the records carry the
// span's trace and span ids, and the trace id is the one of the span
// exported beside them, so the trace view can link the two.
func TestLogsPython(t *testing.T) {
	py := python(t)
	pipVersion(t, py, "structlog")
	pipVersion(t, py, "opentelemetry-sdk")
	v := startVigil(t, withArgs("--host-metrics=false"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("structlog", func(t *testing.T) {
		const service = "py-structlog"
		out := run(t, ctx, nil, py, "testdata/logs/structlog_app.py", v.URL, service)
		// What the app shipped: event, level and timestamp of each line.
		type shipped struct {
			Event     string `json:"event"`
			Level     string `json:"level"`
			Timestamp string `json:"timestamp"`
			OrderID   string `json:"order_id"`
		}
		var sent []shipped
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			if !strings.HasPrefix(sc.Text(), "{") {
				continue // a warning on stderr
			}
			var s shipped
			if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
				t.Fatalf("structlog line %q: %v", sc.Text(), err)
			}
			sent = append(sent, s)
		}
		if len(sent) != 6 {
			t.Fatalf("the app shipped %d lines, want 6:\n%s", len(sent), out)
		}

		sel := fmt.Sprintf(`{service_name=%q}`, service)
		es := logsShipWait(t, v.URL, sel, 6)
		levels := map[string]string{"info": "info", "warning": "warn", "error": "error", "debug": "debug"}
		for i, s := range sent {
			e := es[i]
			ts, err := time.Parse(time.RFC3339Nano, s.Timestamp)
			if err != nil {
				t.Fatalf("structlog timestamp %q: %v", s.Timestamp, err)
			}
			if e.Line != s.Event || !e.Time.Equal(ts) || e.Stream["level"] != levels[s.Level] {
				t.Errorf("line %d: %s %q level %q, want %s %q level %q (from %q)", i, e.Time.UTC().Format(time.RFC3339Nano), e.Line, e.Stream["level"],
					ts.Format(time.RFC3339Nano), s.Event, levels[s.Level], s.Level)
			}
		}
		// Fields filter without a parser stage.
		es = logsShipWait(t, v.URL, sel+` | order_id="A-1002"`, 3)
		var got []string
		for _, e := range es {
			got = append(got, e.Stream["level"]+" "+e.Line)
		}
		if want := []string{"info order_created", "warn payment_retry", "error payment_failed"}; !slices.Equal(got, want) {
			t.Errorf(`| order_id="A-1002": %q, want %q`, got, want)
		}
		// Numeric comparisons on fields: 12.5, 99.0 and 20.
		logsShipWait(t, v.URL, fmt.Sprintf(`{service_name=%q, level="info"} | amount >= 20`, service), 2)
		logsShipWait(t, v.URL, sel+` | amount >= 20 | order_id="A-1003"`, 1)
		logsShipWait(t, v.URL, sel+` | currency="EUR" | amount < 50`, 1)
		es = logsShipWait(t, v.URL, sel+` | user_tier="gold" | user_id="42" | request_id="req-7"`, 1)
		if es[0].Line != "cache_miss" || es[0].Stream["level"] != "debug" {
			t.Errorf("bound fields: %s", logsShipDump(es))
		}
		logsShipWait(t, v.URL, sel+` | reason="card declined"`, 1)
		logsShipWait(t, v.URL, fmt.Sprintf(`{service_name=%q, level="warn"} | attempt="2"`, service), 1)
	})

	for _, protocol := range []string{"grpc", "http"} {
		t.Run("otel-logging-"+protocol, func(t *testing.T) {
			service := "py-otel-logs-" + protocol
			endpoint := v.GRPC
			if protocol == "http" {
				endpoint = "http://" + v.OTLPHTTP
			}
			out := run(t, ctx, nil, py, "testdata/logs/otel_logging_app.py", protocol, endpoint, service)
			var ids struct {
				TraceID string `json:"trace_id"`
				SpanID  string `json:"span_id"`
			}
			var line string
			for l := range strings.Lines(out) {
				if strings.HasPrefix(l, `{"trace_id"`) {
					line = l
					break
				}
			}
			if err := json.Unmarshal([]byte(line), &ids); err != nil || len(ids.TraceID) != 32 || len(ids.SpanID) != 16 {
				t.Fatalf("the app's ids %q: %v\n%s", line, err, out)
			}

			sel := fmt.Sprintf(`{service_name=%q}`, service)
			all := logsShipWait(t, v.URL, sel, 4)
			if all[0].Line != "starting, outside any span" || all[0].Stream["level"] != "info" {
				t.Errorf("first record: %s", logsShipDump(all[:1]))
			}
			for _, e := range all {
				if e.Stream["deployment_environment"] != "e2e-py" {
					t.Errorf("stream %v, want deployment_environment=\"e2e-py\"", e.Stream)
				}
			}
			es := logsShipWait(t, v.URL, fmt.Sprintf(`%s | trace_id=%q | span_id=%q`, sel, ids.TraceID, ids.SpanID), 3)
			var got []string
			for _, e := range es {
				got = append(got, e.Stream["level"]+" "+e.Line)
			}
			if want := []string{"info cart loaded", "warn stock low for sku-42", "error checkout failed"}; !slices.Equal(got, want) {
				t.Errorf("records in the span: %q, want %q", got, want)
			}
			logsShipWait(t, v.URL, sel+` | sku="sku-42"`, 2)
			logsShipWait(t, v.URL, sel+` | items="3"`, 1)
			logsShipWait(t, v.URL, sel+` | exception_type="ZeroDivisionError"`, 1)

			// The span exported beside the logs has the same ids.
			tr := waitTrace(t, v.URL, ids.TraceID, 1)
			if len(tr.Spans) != 1 || tr.Spans[0].SpanID != ids.SpanID || tr.Spans[0].Name != "checkout" || tr.Spans[0].Service != service {
				t.Errorf("trace %s: %+v, want the one span checkout %s of %s", ids.TraceID, tr.Spans, ids.SpanID, service)
			}
		})
	}
}
