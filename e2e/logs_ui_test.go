package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// logsUITracePayload is an OTLP/JSON export of one span of service
// webshop, for the trace page's Logs panel.
func logsUITracePayload(traceID, spanID string, t0 time.Time) []byte {
	ns := func(d time.Duration) string { return strconv.FormatInt(t0.Add(d).UnixNano(), 10) }
	body := map[string]any{"resourceSpans": []any{map[string]any{
		"resource": map[string]any{"attributes": []any{
			map[string]any{"key": "service.name", "value": map[string]any{"stringValue": "webshop"}},
		}},
		"scopeSpans": []any{map[string]any{
			"scope": map[string]any{"name": "vigil-e2e-logs-ui"},
			"spans": []any{map[string]any{
				"traceId": traceID, "spanId": spanID, "name": "GET /cart", "kind": 2,
				"startTimeUnixNano": ns(0), "endTimeUnixNano": ns(80 * time.Millisecond),
			}},
		}},
	}}}
	b, err := json.Marshal(body)
	if err != nil {
		panic("BUG: cannot encode the span: " + err.Error())
	}
	return b
}

// TestLogsUIInChromium checks the logs page and the trace page's Logs
// panel in headless Chromium (see ui/logs.mjs): a query shows its lines
// and histogram, a line opens to its fields, a bad query shows its error,
// the live tail shows new lines without a reload, and a trace lists its
// log lines.
func TestLogsUIInChromium(t *testing.T) {
	node := tool(t, "node")
	tool(t, "chromium", "/usr/bin/chromium")
	if _, err := os.Stat("ui/node_modules/playwright-core"); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		run(t, ctx, nil, tool(t, "npm"), "ci", "--prefix", "ui", "--no-audit", "--no-fund")
	}
	v := startVigil(t, withArgs("--host-metrics=false"))
	now := time.Now()
	traceID, spanID := uiRandomHex(t, 16), uiRandomHex(t, 8)

	// Five "checkout" lines over two levels, two other lines of the same
	// service, spread over the last few minutes so the histogram has
	// several bars.
	at := func(d time.Duration) string { return logsAPINs(now.Add(-d)) }
	logsIngestPushLoki(t, v.URL,
		logsIngestLokiStream{
			Stream: map[string]string{"service_name": "webshop", "level": "info"},
			Values: [][]any{
				{at(9 * time.Minute), "checkout started cart=1"},
				{at(7 * time.Minute), "checkout started cart=2"},
				{at(5 * time.Minute), "cache warmed"},
				{at(3 * time.Minute), "checkout done cart=1"},
			},
		},
		logsIngestLokiStream{
			Stream: map[string]string{"service_name": "webshop", "level": "error"},
			Values: [][]any{
				{at(6 * time.Minute), "checkout failed cart=2 reason=timeout"},
				{at(4 * time.Minute), "checkout failed cart=3 reason=declined"},
				{at(2 * time.Minute), "health probe failed"},
			},
		},
	)
	// The trace: one span and three lines carrying its id, from JSON
	// lines of two services.
	t0 := now.Add(-90 * time.Second)
	uiSendTrace(t, v, logsUITracePayload(traceID, spanID, t0))
	line := func(d time.Duration, svc, level, msg string) map[string]any {
		return map[string]any{"time": t0.Add(d).Format(time.RFC3339Nano), "service": svc, "level": level, "msg": msg, "trace_id": traceID, "span_id": spanID}
	}
	logsIngestPushJSONLines(t, v.URL, nil,
		line(10*time.Millisecond, "webshop", "info", "cart loaded items=3"),
		line(30*time.Millisecond, "webshop", "warn", "cart price changed"),
		line(60*time.Millisecond, "pricing", "info", "prices computed for cart"),
	)

	eventually(t, 30*time.Second, func() string {
		p := url.Values{"query": {`{service_name=~".+"}`}, "start": {logsAPINs(now.Add(-time.Hour))}, "end": {logsAPINs(time.Now())}}
		_, es := logsAPIStreams(t, "all lines", logsAPIQuery(t, v, "/loki/api/v1/query_range", p))
		if len(es) != 10 {
			return fmt.Sprintf("%d lines stored, want 10", len(es))
		}
		return ""
	})
	waitTrace(t, v.URL, traceID, 1)

	shots := t.TempDir()
	if dir := os.Getenv("SCREENSHOT_DIR"); dir != "" {
		shots = dir
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "ui/logs.mjs", v.URL, traceID)
	cmd.Env = append(os.Environ(), "SCREENSHOT_DIR="+shots)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("logs UI check failed: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
