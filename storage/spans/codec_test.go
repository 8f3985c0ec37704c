package spans

import (
	"reflect"
	"testing"
	"time"
)

func codecSample() []Span {
	t0 := time.Unix(1_700_000_000, 123456789).UTC()
	return []Span{
		{TraceID: [16]byte{1, 2, 3}, SpanID: [8]byte{4}, ParentSpanID: [8]byte{5}, TraceState: "k=v", Service: "checkout", Name: "GET /cart",
			Kind: "server", Start: t0, DurationNanos: 1_500_000, StatusCode: "error", StatusMessage: "boom ✗", ScopeName: "flask", ScopeVersion: "0.1",
			Resource: map[string]string{"service.name": "checkout", "host.name": "h"}, Attributes: map[string]string{"http.route": "/cart", "": "empty key"},
			Events: []Event{{Time: t0.Add(time.Millisecond), Name: "exception", Attributes: map[string]string{"exception.type": "ValueError"}}, {Time: time.Unix(0, 0).UTC(), Name: "bare"}},
			Links:  []Link{{TraceID: [16]byte{9}, SpanID: [8]byte{8}, TraceState: "x", Attributes: map[string]string{"a": "b"}}, {}}},
		{TraceID: [16]byte{15: 1}, SpanID: [8]byte{7: 1}, Start: time.Unix(0, 1).UTC()},
	}
}

func TestCodecRoundTrip(t *testing.T) {
	in := codecSample()
	b := AppendBatch([]byte("prefix"), in)
	out, err := DecodeBatch(b[len("prefix"):])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", out, in)
	}
	if empty, err := DecodeBatch(AppendBatch(nil, nil)); err != nil || len(empty) != 0 {
		t.Fatalf("empty batch: %v %v", empty, err)
	}
	// Every truncation is an error, never a panic or a short batch.
	full := AppendBatch(nil, in)
	for n := range len(full) {
		if _, err := DecodeBatch(full[:n]); err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", n, len(full))
		}
	}
	if _, err := DecodeBatch(append(full, 0)); err == nil {
		t.Fatal("trailing bytes accepted")
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(AppendBatch(nil, codecSample()))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		rows, err := DecodeBatch(b)
		if err != nil {
			return
		}
		again, err := DecodeBatch(AppendBatch(nil, rows))
		if err != nil || !reflect.DeepEqual(rows, again) {
			t.Fatalf("re-encoding a decoded batch changed it: %v", err)
		}
	})
}

func BenchmarkCodec(b *testing.B) {
	batch := make([]Span, 512)
	s := codecSample()[0]
	for i := range batch {
		batch[i] = s
	}
	var buf []byte
	for b.Loop() {
		buf = AppendBatch(buf[:0], batch)
		if _, err := DecodeBatch(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/span")
}
