package spans

import (
	"bytes"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/vigilhq/vigil/storage/parts"
)

func TestSummarizeMergeAndEncode(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0).UTC()
	a, b := [16]byte{1}, [16]byte{2}
	rows := []Span{
		{TraceID: a, SpanID: [8]byte{2}, ParentSpanID: [8]byte{1}, Service: "db", Name: "select", Start: t0.Add(2 * time.Millisecond), DurationNanos: int64(10 * time.Millisecond), StatusCode: "error"},
		{TraceID: b, SpanID: [8]byte{9}, Service: "solo", Name: "tick", Start: t0, DurationNanos: 5},
		{TraceID: a, SpanID: [8]byte{1}, Service: "web", Name: "GET /", Start: t0, DurationNanos: int64(5 * time.Millisecond)},
	}
	sums := Summarize(rows)
	if len(sums) != 2 || sums[0].TraceID != a || sums[1].TraceID != b {
		t.Fatalf("summaries not one per trace in id order: %+v", sums)
	}
	s := sums[0]
	// the root arrived last, and the child outlasts it
	if s.RootService != "web" || s.RootName != "GET /" || !s.HasRoot || !s.Start.Equal(t0) ||
		s.DurationNanos != int64(12*time.Millisecond) || s.SpanCount != 2 || s.ErrorCount != 1 || !slices.Equal(s.Services, []string{"db", "web"}) {
		t.Fatalf("summary of a = %+v", s)
	}

	if !slices.Equal(s.ServiceMaxDurations, []int64{int64(10 * time.Millisecond), int64(5 * time.Millisecond)}) || !slices.Equal(s.ServiceMinDurations, s.ServiceMaxDurations) {
		t.Fatalf("per-service durations %v %v", s.ServiceMaxDurations, s.ServiceMinDurations)
	}
	// The same trace split over two parts merges to the same summary.
	p1, p2 := Summarize(rows[:1]), Summarize(rows[2:])
	if p1[0].HasRoot || p1[0].RootService != "db" {
		t.Fatalf("without its root a summary names the earliest span: %+v", p1[0])
	}
	m := p1[0]
	m.Merge(&p2[0])
	if m.RootService != "web" || m.DurationNanos != s.DurationNanos || m.SpanCount != 2 || m.ErrorCount != 1 || !slices.Equal(m.Services, s.Services) || !m.Start.Equal(s.Start) {
		t.Fatalf("merged = %+v, want %+v", m, s)
	}
	if !slices.Equal(m.ServiceMaxDurations, s.ServiceMaxDurations) {
		t.Fatalf("merged durations %v, want %v", m.ServiceMaxDurations, s.ServiceMaxDurations)
	}

	enc, err := EncodeSummaries(sums)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := DecodeSummaries(enc)
	if err != nil {
		t.Fatal(err)
	}
	if len(dec) != 2 || dec[0].RootName != "GET /" || dec[0].SpanCount != 2 || !dec[0].Start.Equal(t0) || !slices.Equal(dec[0].Services, s.Services) {
		t.Fatalf("decoded = %+v", dec)
	}
	if got, ok := FindSummary(dec, b); !ok || got.RootName != "tick" {
		t.Fatalf("FindSummary(b) = %+v, %v", got, ok)
	}
	if _, ok := FindSummary(dec, [16]byte{3}); ok {
		t.Fatal("FindSummary found an absent trace")
	}
	if _, err := DecodeSummaries([]byte("not parquet")); err == nil {
		t.Fatal("garbage decoded")
	}
}

func TestReadLightMatchesRows(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 5).UTC()
	var rows []Span
	for i := range 3000 {
		rows = append(rows, Span{TraceID: [16]byte{byte(i >> 8), byte(i)}, SpanID: [8]byte{1}, Service: []string{"a", "b", "c"}[i%3],
			Name: "op" + string(rune('A'+i%7)), Kind: "server", StatusCode: []string{"ok", "error"}[i%2], Start: t0.Add(time.Duration(i)), DurationNanos: int64(i * 3),
			Attributes: map[string]string{"k": "v"}})
	}
	Sort(rows)
	dir := t.TempDir()
	meta, err := parts.Write(dir, Schema, rows, parts.WriteOptions{RowGroupRows: 1000})
	if err != nil {
		t.Fatal(err)
	}
	p, err := parts.Open(filepath.Join(dir, "part-"+meta.ID))
	if err != nil {
		t.Fatal(err)
	}
	d, err := p.OpenData()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	in := Interner{}
	for g := range 3 {
		light, err := ReadLight(d, g, in)
		if err != nil {
			t.Fatal(err)
		}
		if len(light) != 1000 {
			t.Fatalf("group %d: %d rows", g, len(light))
		}
		for i, l := range light {
			r := rows[g*1000+i]
			if l.TraceID != r.TraceID || l.StartNanos != r.Start.UnixNano() || l.DurationNanos != r.DurationNanos ||
				l.Service != r.Service || l.Name != r.Name || l.Kind != r.Kind || l.StatusCode != r.StatusCode {
				t.Fatalf("group %d row %d: %+v vs %+v", g, i, l, r)
			}
		}
		some, err := parts.ReadRows[Span](d, g, 10, 13)
		if err != nil || len(some) != 3 || some[0].SpanID != rows[g*1000+10].SpanID || some[2].TraceID != rows[g*1000+12].TraceID || some[1].Attributes["k"] != "v" {
			t.Fatalf("ReadRows: %v %+v", err, some)
		}
	}
	if len(in) != 3+7+1+2 {
		t.Fatalf("interner holds %d strings, want one per distinct value", len(in))
	}
}

// Summary files written before the per-service durations existed still
// read, with the durations unknown rather than zero.
func TestOldSummariesReadWithoutDurations(t *testing.T) {
	type oldSummary struct {
		TraceID       [16]byte  `parquet:"trace_id"`
		RootService   string    `parquet:"root_service,dict"`
		RootName      string    `parquet:"root_name,dict"`
		HasRoot       bool      `parquet:"has_root"`
		Start         time.Time `parquet:"start,timestamp(nanosecond)"`
		DurationNanos int64     `parquet:"duration_ns"`
		SpanCount     int64     `parquet:"span_count"`
		ErrorCount    int64     `parquet:"error_count"`
		Services      []string  `parquet:"services,list"`
	}
	var buf bytes.Buffer
	if err := parquet.Write(&buf, []oldSummary{{TraceID: [16]byte{1}, RootService: "a", Start: time.Unix(5, 0).UTC(), SpanCount: 2, Services: []string{"a", "b"}}}); err != nil {
		t.Fatal(err)
	}
	got, err := DecodeSummaries(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].SpanCount != 2 || !slices.Equal(got[0].Services, []string{"a", "b"}) || got[0].HasServiceDurations() {
		t.Fatalf("old summary read as %+v", got)
	}
	// Merging it with a new one forgets the durations instead of
	// misreporting them.
	fresh := Summarize([]Span{{TraceID: [16]byte{1}, Service: "c", Start: time.Unix(6, 0), DurationNanos: 7}})[0]
	if !fresh.HasServiceDurations() || fresh.ServiceMaxDurations[0] != 7 {
		t.Fatalf("fresh summary durations %+v", fresh)
	}
	fresh.Merge(&got[0])
	if fresh.HasServiceDurations() || len(fresh.Services) != 3 {
		t.Fatalf("merged %+v", fresh)
	}
}
