package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/vigilhq/vigil/ingest"
	"github.com/vigilhq/vigil/storage/logs"
)

func pushLines(t *testing.T, base, tenant, body string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/insert/jsonline", strings.NewReader(body))
	if tenant != "" {
		req.Header.Set("X-Scope-OrgID", tenant)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func lokiQuery(t *testing.T, base, q string) string {
	t.Helper()
	resp, err := http.Get(base + "/loki/api/v1/query_range?" + url.Values{"query": {q}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s", q, resp.StatusCode, b)
	}
	return string(b)
}

// A pushed line is queryable at once, masked, and still there after a
// clean restart; the stream label limit is applied per tenant.
func TestLogsWriteQueryRestart(t *testing.T) {
	cfg := testConfig(t)
	cfg.Logs.Limits.MaxStreams = 2
	r := start(t, cfg)
	line := `{"event":"paid with 4111 1111 1111 1111","service":"shop","level":"warning"}` + "\n"
	if code := pushLines(t, r.base, "", line); code != 204 {
		t.Fatalf("push: %d", code)
	}
	got := lokiQuery(t, r.base, `{service_name="shop", level="warn"}`)
	if !strings.Contains(got, "paid with [REDACTED:credit_card]") || strings.Contains(got, "4111") {
		t.Fatalf("query: %s", got)
	}
	// Two more streams for this tenant: the third is over max_streams;
	// another tenant has its own.
	pushLines(t, r.base, "", `{"event":"x","service":"shop","level":"error"}`+"\n")
	if code := pushLines(t, r.base, "", `{"event":"x","service":"shop","level":"info"}`+"\n"); code != 429 {
		t.Fatalf("third stream: %d, want 429", code)
	}
	if code := pushLines(t, r.base, "team-b", `{"event":"x","service":"shop","level":"info"}`+"\n"); code != 204 {
		t.Fatalf("another tenant: %d", code)
	}
	r.stop(t)
	r = start(t, cfg)
	if got := lokiQuery(t, r.base, `{service_name="shop"} |= "paid"`); !strings.Contains(got, "[REDACTED:credit_card]") {
		t.Fatalf("after restart: %s", got)
	}
}

// Log parts older than the retention time are dropped, as span parts are.
func TestLogsRetention(t *testing.T) {
	cfg := testConfig(t)
	cfg.Storage.RetentionTime = model.Duration(time.Hour)
	lp, err := openLogs(cfg, prometheus.NewRegistry(), ingest.NewMetrics(nil), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer lp.events.Close()
	rec := func(age time.Duration) logs.Record {
		return logs.Record{Service: "s", Stream: `{service_name="s"}`, Time: time.Now().Add(-age), Body: "x"}
	}
	for _, age := range []time.Duration{3 * time.Hour, time.Minute} {
		if err := lp.events.Append(context.Background(), []logs.Record{rec(age)}); err != nil {
			t.Fatal(err)
		}
		if err := lp.events.Cut(); err != nil {
			t.Fatal(err)
		}
	}
	v0 := lp.events.View()
	n := len(v0.Parts)
	v0.Release()
	if n != 2 {
		t.Fatalf("%d parts before retention", n)
	}
	lp.applyRetention(cfg, slog.New(slog.DiscardHandler))
	v := lp.events.View()
	defer v.Release()
	if len(v.Parts) != 1 || v.Parts[0].Meta.MinTime < time.Now().Add(-time.Hour).UnixNano() {
		t.Fatalf("after retention: %d parts", len(v.Parts))
	}
}
