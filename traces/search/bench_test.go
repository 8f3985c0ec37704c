package search

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vigilhq/vigil/storage/events"
	"github.com/vigilhq/vigil/storage/spans"
)

// BenchmarkSearchAtScale times a service+minDuration search over 1M spans
// in parts (8 spans a trace, 5 services, durations up to ~1 s), with the
// summary budget scaled as at 10M spans.
func BenchmarkSearchAtScale(b *testing.B) {
	st, err := events.Open(events.Options[spans.Span]{Dir: b.TempDir(), Schema: spans.Schema, Compare: spans.Compare,
		Extra: spans.SummaryExtra, MinFreeBytes: -1, MaxHeadRows: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	services := []string{"frontend", "orders", "users", "payments", "inventory"}
	start := time.Now().Add(-50 * time.Minute)
	const total = 1_000_000
	batch := make([]spans.Span, 0, 8192)
	for i := 0; i < total/8; i++ {
		var tid [16]byte
		for k := range tid {
			tid[k] = byte(rng.IntN(256))
		}
		t0 := start.Add(time.Duration(i) * 20 * time.Microsecond)
		root := time.Duration(rng.ExpFloat64() * float64(50*time.Millisecond))
		for j := range 8 {
			d := root / time.Duration(j+1)
			batch = append(batch, spans.Span{TraceID: tid, SpanID: [8]byte{byte(j), byte(i), byte(i >> 8), byte(i >> 16)}, Service: services[(i+j)%5],
				Name: fmt.Sprintf("GET /api/%d", j), Kind: "server", StatusCode: "unset", Start: t0.Add(time.Duration(j) * time.Microsecond), DurationNanos: int64(d),
				Attributes: map[string]string{"http.route": "/api/{id}", "url.path": fmt.Sprint("/api/", i), "http.response.status_code": "200"}})
		}
		if len(batch) >= 8000 {
			if err := st.Append(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
		if (i+1)%(total/8/8) == 0 {
			if err := st.Cut(); err != nil {
				b.Fatal(err)
			}
		}
	}
	s := New(st, nil)
	s.budget = total / 8 / 10 * 8 // 80% of the traces fit
	q := Query{Service: "payments", MinDuration: 250 * time.Millisecond, Limit: 20, Start: start, End: time.Now()}
	b.ResetTimer()
	for b.Loop() {
		p, err := s.Search(context.Background(), q)
		if err != nil || len(p.Traces) == 0 {
			b.Fatal(err, len(p.Traces))
		}
	}
}
