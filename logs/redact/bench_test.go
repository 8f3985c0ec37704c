package redact

import (
	"testing"

	"github.com/vigilhq/vigil/storage/logs"
)

// cleanLines are common lines with nothing to mask: structlog and zap
// JSON, logfmt, an access log, Python's default format, a Go panic, klog.
var cleanLines = []string{
	`{"timestamp": "2024-01-15T10:30:00.123456Z", "level": "info", "event": "request finished", "path": "/api/v1/users/42", "status": 200, "duration_ms": 12.3}`,
	`{"level":"info","ts":1705314600.123,"caller":"server/handler.go:118","msg":"served","method":"GET","status":200,"bytes":5120}`,
	`level=info ts=2024-01-15T10:30:00.123Z caller=main.go:42 msg="cache refreshed" entries=12034 took=153ms token_count=17`,
	`10.0.0.7 - - [15/Jan/2024:10:30:00 +0000] "GET /static/app.3f9a1c.js HTTP/1.1" 200 51234 "-" "Mozilla/5.0 (X11; Linux x86_64)"`,
	`2024-01-15 10:30:00,123 INFO [worker-3] tasks.reindex: processed 1234567 rows in 12.5s (batch 42 of 100)`,
	`goroutine 17 [running]: main.(*Server).handle(0xc000123450, {0x1a2b3c0, 0xc000456780}) /src/server.go:118 +0x1f4`,
	`I0115 10:30:00.123456       1 controller.go:116] "Reconciled" pod="default/web-7d9f8b6c5-x2x4z" duration="1.2ms"`,
}

// dirtyLines have something to mask.
var dirtyLines = []string{
	`{"timestamp": "2024-01-15T10:30:00Z", "level": "info", "event": "login", "email": "alice@example.com", "password": "hunter2"}`,
	`level=warn msg="payment declined" card="4111 1111 1111 1111" user=bob@example.org`,
	`POST /oauth/token HTTP/1.1 Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl`,
}

// BenchmarkRedact masks a realistic mix: seven clean lines for each
// dirty one, as in a service's logs. It reports ns/line; clean shows the
// common case alone (no allocation).
func BenchmarkRedact(b *testing.B) {
	r, err := New(DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, lines []string) {
		b.ReportAllocs()
		var bytes int64
		for _, l := range lines {
			bytes += int64(len(l))
		}
		b.SetBytes(bytes / int64(len(lines)))
		i := 0
		for b.Loop() {
			rec := logs.Record{Body: lines[i%len(lines)]}
			r.Redact(&rec)
			i++
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/line")
	}
	b.Run("clean", func(b *testing.B) { run(b, cleanLines) })
	b.Run("dirty", func(b *testing.B) { run(b, dirtyLines) })
	b.Run("mix", func(b *testing.B) {
		var mix []string
		for _, d := range dirtyLines {
			mix = append(mix, d)
			mix = append(mix, cleanLines...)
		}
		run(b, mix)
	})
}
