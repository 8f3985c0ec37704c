package logql

import (
	"context"
	"testing"
	"time"

	"github.com/vigilhq/vigil/storage/logs"
)

// BenchmarkQueries reports the cost per line of common queries over the
// test records repeated (alloc counts show per-line allocations).
func BenchmarkQueries(b *testing.B) {
	base := testRecords()[:200]
	var recs []logs.Record
	for k := 0; k < 50; k++ {
		for _, r := range base {
			r.Time = r.Time.Add(time.Duration(k) * 10 * time.Minute)
			recs = append(recs, r)
		}
	}
	eng := NewEngine(SliceSource(recs), Options{})
	end := t0.Add(500 * time.Minute)
	for _, q := range []string{
		`sum by (level) (count_over_time({env="prod"} |= "done" [5m]))`,
		`sum by (status) (rate({service_name="api"} | json [5m]))`,
		`{env="prod"} |= "attempt=3" | logfmt | duration > 500ms`,
	} {
		b.Run(q, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := eng.Query(context.Background(), Params{Query: q, Start: t0, End: end, Step: time.Minute}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(recs)), "ns/line")
		})
	}
}
