package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// uiTraceIDs are the ids of the trace TestTraceUIInChromium sends, random
// per run so a search can only find this run's trace.
type uiTraceIDs struct {
	trace, linked                          string
	root, render, call, serve, query, lost string
}

func uiRandomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func newUITraceIDs(t *testing.T) uiTraceIDs {
	return uiTraceIDs{
		trace: uiRandomHex(t, 16), linked: uiRandomHex(t, 16),
		root: uiRandomHex(t, 8), render: uiRandomHex(t, 8), call: uiRandomHex(t, 8),
		serve: uiRandomHex(t, 8), query: uiRandomHex(t, 8), lost: uiRandomHex(t, 8),
	}
}

// uiTracePayload is an OTLP/JSON export of one trace over two services:
//
//	frontend  GET /checkout (server)
//	├─ frontend  render (internal, links to another trace)
//	└─ frontend  POST /pay (client)
//	   └─ payments  POST /pay (server, error, exception event)
//	      └─ payments  SELECT cards (client)
//	payments  retry (internal; its parent never arrives: an orphan)
//
// The client/server pair across services makes a service-graph edge
// frontend -> payments.
func uiTracePayload(ids uiTraceIDs, t0 time.Time) []byte {
	ns := func(d time.Duration) string { return strconv.FormatInt(t0.Add(d).UnixNano(), 10) }
	str := func(k, v string) map[string]any {
		return map[string]any{"key": k, "value": map[string]any{"stringValue": v}}
	}
	span := func(id, parent, name string, kind int, start, end time.Duration, extra map[string]any) map[string]any {
		s := map[string]any{
			"traceId": ids.trace, "spanId": id, "parentSpanId": parent, "name": name, "kind": kind,
			"startTimeUnixNano": ns(start), "endTimeUnixNano": ns(end),
		}
		for k, v := range extra {
			s[k] = v
		}
		return s
	}
	ms := time.Millisecond
	resource := func(service string, spans ...map[string]any) map[string]any {
		return map[string]any{
			"resource":   map[string]any{"attributes": []any{str("service.name", service), str("deployment.environment", "e2e")}},
			"scopeSpans": []any{map[string]any{"scope": map[string]any{"name": "vigil-e2e-ui", "version": "1"}, "spans": spans}},
		}
	}
	body := map[string]any{"resourceSpans": []any{
		resource("frontend",
			span(ids.root, "", "GET /checkout", 2, 0, 120*ms, map[string]any{"attributes": []any{str("http.request.method", "GET"), str("url.path", "/checkout")}}),
			span(ids.render, ids.root, "render", 1, 5*ms, 15*ms, map[string]any{"links": []any{map[string]any{"traceId": ids.linked, "spanId": ids.render}}}),
			span(ids.call, ids.root, "POST /pay", 3, 20*ms, 100*ms, nil),
		),
		resource("payments",
			span(ids.serve, ids.call, "POST /pay", 2, 25*ms, 95*ms, map[string]any{
				"status": map[string]any{"code": 2, "message": "card declined"},
				"events": []any{map[string]any{"timeUnixNano": ns(90 * ms), "name": "exception", "attributes": []any{
					str("exception.type", "CardDeclined"),
					str("exception.message", "card 4242 declined by issuer"),
					str("exception.stacktrace", "Traceback (most recent call last):\n  File \"pay.py\", line 12, in pay\nCardDeclined: card 4242 declined by issuer"),
				}}},
			}),
			span(ids.query, ids.serve, "SELECT cards", 3, 30*ms, 40*ms, map[string]any{"attributes": []any{str("db.system", "postgresql")}}),
			span(ids.lost, hex.EncodeToString([]byte("lostpare")), "retry", 1, 100*ms, 110*ms, nil),
		),
	}}
	b, err := json.Marshal(body)
	if err != nil {
		panic("BUG: cannot encode the trace: " + err.Error())
	}
	return b
}

func uiSendTrace(t *testing.T, v *vigil, payload []byte) {
	t.Helper()
	resp, err := http.Post("http://"+v.OTLPHTTP+"/v1/traces", "application/json", bytes.NewReader(payload))
	if err != nil {
		t.Fatalf("cannot export the trace: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/traces: %d %s", resp.StatusCode, b)
	}
}

// TestTraceUIInChromium checks the trace pages in headless Chromium
// against a trace sent over OTLP/JSON: the search finds it, the waterfall
// shows every span, the exception is in the span details, the flame graph
// renders and the service map shows the edge (see ui/traces.mjs).
func TestTraceUIInChromium(t *testing.T) {
	node := tool(t, "node")
	tool(t, "chromium", "/usr/bin/chromium")
	if _, err := os.Stat("ui/node_modules/playwright-core"); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		run(t, ctx, nil, tool(t, "npm"), "ci", "--prefix", "ui", "--no-audit", "--no-fund")
	}
	v := startVigil(t)
	ids := newUITraceIDs(t)
	uiSendTrace(t, v, uiTracePayload(ids, time.Now().Add(-30*time.Second)))

	eventually(t, 30*time.Second, func() string {
		resp, err := insecureClient.Get(v.URL + "/api/vigil/v1/traces/" + ids.trace)
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		var tr struct {
			Spans []json.RawMessage `json:"spans"`
		}
		if resp.StatusCode != 200 {
			return fmt.Sprintf("GET trace: status %d", resp.StatusCode)
		}
		if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
			return err.Error()
		}
		if len(tr.Spans) != 6 {
			return fmt.Sprintf("trace has %d spans, want 6", len(tr.Spans))
		}
		return ""
	})

	// The service map draws rates, and a rate needs the counter to move
	// between two flushes: send more traces of the same shape until it has.
	const edges = `sum by (client, server) (rate(traces_service_graph_request_total[5m]))`
	last := time.Now()
	eventually(t, 90*time.Second, func() string {
		d := query(t, v.URL, edges, time.Time{})
		for _, s := range d.Result {
			if s.Metric["client"] == "frontend" && s.Metric["server"] == "payments" && value(s) > 0 {
				return ""
			}
		}
		if time.Since(last) > 3*time.Second {
			// Older than the trace under test, which stays first in
			// the newest-first search results.
			more := newUITraceIDs(t)
			uiSendTrace(t, v, uiTracePayload(more, time.Now().Add(-10*time.Minute)))
			last = time.Now()
		}
		return fmt.Sprintf("%s: no positive frontend->payments series: %+v", edges, d.Result)
	})

	shots := t.TempDir()
	if dir := os.Getenv("SCREENSHOT_DIR"); dir != "" {
		shots = dir
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "ui/traces.mjs", v.URL, ids.trace, ids.linked)
	cmd.Env = append(os.Environ(), "SCREENSHOT_DIR="+shots)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("trace UI check failed: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
