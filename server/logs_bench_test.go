package server

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilhq/vigil/config"
	"github.com/vigilhq/vigil/ingest"
)

// BenchmarkLogsIngestJSONLines is the whole log write path in process:
// JSON lines decoded, finished, redacted, limited and appended to the
// event store (WAL fsync included), 1000 structlog-like lines a request.
// b.N counts lines.
func BenchmarkLogsIngestJSONLines(b *testing.B) {
	cfg := config0(b)
	lp, err := openLogs(cfg, prometheus.NewRegistry(), ingest.NewMetrics(nil), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer lp.events.Close()
	const perReq = 1000
	var bodies [][]byte
	now := time.Now()
	for r := 0; r < 16; r++ {
		var buf bytes.Buffer
		for i := 0; i < perReq; i++ {
			n := r*perReq + i
			fmt.Fprintf(&buf, `{"timestamp":"%s","level":"%s","service":"svc-%d","event":"order %d created for user-%d in %d ms","order_id":"o-%d","user_id":"u-%d","amount":%d.%02d,"trace_id":"%032x","http.path":"/api/v1/orders/%d"}`+"\n",
				now.Add(time.Duration(n)*time.Millisecond).UTC().Format(time.RFC3339Nano), []string{"info", "info", "debug", "warn", "error"}[n%5], n%20, n, n%997, n%300, n, n%997, n%500, n%100, n, n%50)
		}
		bodies = append(bodies, buf.Bytes())
	}
	b.SetBytes(int64(len(bodies[0]) / perReq))
	b.ResetTimer()
	for i := 0; i < b.N; i += perReq {
		req := httptest.NewRequest("POST", "/insert/jsonline", bytes.NewReader(bodies[(i/perReq)%len(bodies)]))
		w := httptest.NewRecorder()
		lp.jsonl.ServeHTTP(w, req)
		if w.Code != http.StatusNoContent {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}

func config0(b *testing.B) config.Config {
	cfg := config.Default()
	cfg.DataDir = b.TempDir()
	return cfg
}
