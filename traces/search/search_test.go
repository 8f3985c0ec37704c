package search

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/storage/events"
	"github.com/vigilhq/vigil/storage/spans"
)

// layouts puts the same rows in the store three ways: all in the head,
// all in parts (several, so traces straddle parts), and half and half, so
// every test checks the head path, the summary path and their merging.
var layouts = []string{"head", "parts", "mixed"}

func newStore(t *testing.T, rows []spans.Span, layout string) *events.Store[spans.Span] {
	t.Helper()
	st, err := events.Open(events.Options[spans.Span]{
		Dir: t.TempDir(), Schema: spans.Schema, Compare: spans.Compare,
		Extra: spans.SummaryExtra, MinFreeBytes: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	inParts := len(rows)
	switch layout {
	case "head":
		inParts = 0
	case "mixed":
		inParts = len(rows) / 2
	}
	for i := 0; i < inParts; i += 5 {
		if err := st.Append(context.Background(), rows[i:min(i+5, inParts)]); err != nil {
			t.Fatal(err)
		}
		if err := st.Cut(); err != nil {
			t.Fatal(err)
		}
	}
	if inParts < len(rows) {
		if err := st.Append(context.Background(), rows[inParts:]); err != nil {
			t.Fatal(err)
		}
	}
	if got := st.Stats(); (layout == "head") != (got.Parts == 0) {
		t.Fatalf("layout %s: %+v", layout, got)
	}
	return st
}

func id16(n int) [16]byte {
	var id [16]byte
	id[0], id[15] = 0xab, byte(n)
	id[14] = byte(n >> 8)
	return id
}

func id8(n int) [8]byte { return [8]byte{1, 0, 0, 0, 0, 0, byte(n >> 8), byte(n)} }

// traces returns n traces, trace i starting at base+i seconds, each a
// root server span in "front" and a client child in "back", trace i%3==0
// failing and lasting i milliseconds.
func traces(n int, base time.Time) []spans.Span {
	var out []spans.Span
	for i := range n {
		start := base.Add(time.Duration(i) * time.Second)
		root := spans.Span{TraceID: id16(i), SpanID: id8(2 * i), Service: "front", Name: "GET /", Kind: "server",
			Start: start, DurationNanos: int64(time.Duration(i) * time.Millisecond), StatusCode: "unset",
			Attributes: map[string]string{"http.route": fmt.Sprintf("/r%d", i%2)}, Resource: map[string]string{"env": "prod"}}
		if i%3 == 0 {
			root.StatusCode = "error"
		}
		child := spans.Span{TraceID: id16(i), SpanID: id8(2*i + 1), ParentSpanID: root.SpanID, Service: "back", Name: "query", Kind: "client",
			Start: start.Add(time.Millisecond), DurationNanos: int64(time.Millisecond), StatusCode: "ok"}
		// children first: summaries must not depend on arrival order
		out = append(out, child, root)
	}
	return out
}

func TestTraceByID(t *testing.T) {
	base := time.Now().Add(-10 * time.Minute)
	for _, layout := range layouts {
		t.Run(layout, func(t *testing.T) {
			rows := traces(5, base)
			rows = append(rows, rows[0]) // a retried export
			s := New(newStore(t, rows, layout), nil)
			got, err := s.Trace(context.Background(), id16(3))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0].Name != "GET /" || got[1].ParentSpanID != got[0].SpanID {
				t.Fatalf("trace 3 = %+v", got)
			}
			got, _ = s.Trace(context.Background(), id16(0))
			if len(got) != 2 {
				t.Fatalf("a duplicated span must be shown once, got %d spans", len(got))
			}
			got, _ = s.Trace(context.Background(), id16(99))
			if len(got) != 0 {
				t.Fatalf("unknown trace returned %d spans", len(got))
			}
		})
	}
}

func TestSearchConditions(t *testing.T) {
	base := time.Now().Add(-30 * time.Minute)
	for _, layout := range layouts {
		t.Run(layout, func(t *testing.T) {
			s := New(newStore(t, traces(12, base), layout), nil)
			ids := func(q Query) []int {
				t.Helper()
				q.Start, q.End = base.Add(-time.Minute), base.Add(time.Hour)
				q.Limit = 100
				p, err := s.Search(context.Background(), q)
				if err != nil {
					t.Fatal(err)
				}
				var out []int
				for _, tr := range p.Traces {
					out = append(out, int(tr.TraceID[15]))
				}
				return out
			}
			for _, c := range []struct {
				name string
				q    Query
				want []int
			}{
				{"all, newest first", Query{}, []int{11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0}},
				{"service only", Query{Service: "back"}, []int{11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0}},
				{"unknown service", Query{Service: "nobody"}, nil},
				{"errors", Query{Status: "error"}, []int{9, 6, 3, 0}},
				{"min duration", Query{Service: "front", MinDuration: 9 * time.Millisecond}, []int{11, 10, 9}},
				{"max duration", Query{Service: "front", MaxDuration: 2 * time.Millisecond}, []int{2, 1, 0}},
				// span-level: the client span is 1ms but is not in "front"
				{"conditions on one span", Query{Service: "back", MinDuration: 2 * time.Millisecond}, nil},
				{"span attribute", Query{Attributes: map[string]string{"http.route": "/r1"}, MinDuration: 8 * time.Millisecond}, []int{11, 9}},
				{"resource attribute", Query{Attributes: map[string]string{"env": "prod"}, Status: "error", MinDuration: 5 * time.Millisecond}, []int{9, 6}},
				{"operation and kind", Query{Operation: "query", Kind: "client", Status: "ok", MinDuration: time.Millisecond}, []int{11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0}},
				{"kind mismatch", Query{Operation: "query", Kind: "server"}, nil},
			} {
				if got := ids(c.q); !slices.Equal(got, c.want) {
					t.Errorf("%s: got %v, want %v", c.name, got, c.want)
				}
			}
		})
	}
}

func TestSearchTimeRangeAndSummary(t *testing.T) {
	base := time.Now().Add(-30 * time.Minute)
	for _, layout := range layouts {
		t.Run(layout, func(t *testing.T) {
			s := New(newStore(t, traces(10, base), layout), nil)
			for _, q := range []Query{
				{Start: base.Add(2500 * time.Millisecond), End: base.Add(5500 * time.Millisecond)},
				{Service: "front", Start: base.Add(2500 * time.Millisecond), End: base.Add(5500 * time.Millisecond)},
				// the range ends inside trace 5: its root starts in it
				{Service: "front", Start: base.Add(2500 * time.Millisecond), End: base.Add(5*time.Second + time.Microsecond)},
			} {
				p, err := s.Search(context.Background(), q)
				if err != nil {
					t.Fatal(err)
				}
				if len(p.Traces) != 3 {
					t.Fatalf("%+v: got %d traces, want 3 (traces 3, 4, 5)", q, len(p.Traces))
				}
				sum := p.Traces[0]
				if sum.TraceID != id16(5) || sum.RootService != "front" || sum.RootName != "GET /" || !sum.HasRoot ||
					sum.SpanCount != 2 || sum.ErrorCount != 0 || !slices.Equal(sum.Services, []string{"back", "front"}) ||
					!sum.Start.Equal(base.Add(5*time.Second)) || sum.DurationNanos != int64(5*time.Millisecond) {
					t.Fatalf("summary = %+v", sum)
				}
			}
			// The default range is the last hour: everything here.
			p, _ := s.Search(context.Background(), Query{Limit: 100})
			if len(p.Traces) != 10 {
				t.Fatalf("default range found %d traces, want 10", len(p.Traces))
			}
		})
	}
}

func TestSearchPaging(t *testing.T) {
	base := time.Now().Add(-30 * time.Minute)
	for _, layout := range layouts {
		t.Run(layout, func(t *testing.T) {
			rows := traces(25, base)
			// two traces share a start: paging must still show each once
			rows[1].Start = rows[3].Start
			s := New(newStore(t, rows, layout), nil)
			seen := map[[16]byte]bool{}
			q := Query{Limit: 7, Start: base.Add(-time.Hour), End: base.Add(time.Hour)}
			pages := 0
			for {
				p, err := s.Search(context.Background(), q)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				for _, tr := range p.Traces {
					if seen[tr.TraceID] {
						t.Fatalf("trace %x shown twice", tr.TraceID)
					}
					seen[tr.TraceID] = true
				}
				if p.NextCursor == "" {
					break
				}
				if len(p.Traces) != 7 {
					t.Fatalf("a page before the last has %d traces, want 7", len(p.Traces))
				}
				q.Cursor = p.NextCursor
			}
			if len(seen) != 25 || pages != 4 {
				t.Fatalf("paging saw %d traces in %d pages, want 25 in 4", len(seen), pages)
			}
			q.Cursor = "garbage!"
			if _, err := s.Search(context.Background(), q); !errors.Is(err, ErrBadCursor) {
				t.Fatalf("bad cursor: err = %v", err)
			}
		})
	}
}

func TestParseTraceID(t *testing.T) {
	id, err := ParseTraceID("ABCDEF0123456789")
	if err != nil || id != [16]byte{8: 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89} {
		t.Fatalf("64-bit id: %x %v", id, err)
	}
	for _, bad := range []string{"", "xyz", "0", "000", "123456789012345678901234567890123"} {
		if _, err := ParseTraceID(bad); err == nil {
			t.Errorf("ParseTraceID(%q) accepted", bad)
		}
	}
}

func TestCatalog(t *testing.T) {
	c := NewCatalog(3)
	c.Observe(traces(2, time.Now()))
	c.Add("front", Operation{"POST /", "server"})
	c.Add("front", Operation{"over the limit", "server"}) // 4th operation
	if got := c.Services(); !slices.Equal(got, []string{"back", "front"}) {
		t.Fatalf("services = %v", got)
	}
	if got := c.Operations("front", ""); !slices.Equal(got, []Operation{{"GET /", "server"}, {"POST /", "server"}}) {
		t.Fatalf("front operations = %v", got)
	}
	if got := c.Operations("back", "server"); len(got) != 0 {
		t.Fatalf("back server operations = %v", got)
	}
}

// Compaction rewrites parts (and their summaries) and retention drops
// them: the same queries must answer the same before and after a compact,
// and expired traces must disappear.
func TestCompactionAndRetentionKeepAnswers(t *testing.T) {
	base := time.Now().Add(-20 * time.Minute).Truncate(time.Hour).Add(time.Minute)
	if base.After(time.Now()) {
		base = base.Add(-time.Hour)
	}
	rows := traces(30, base)
	st := newStore(t, rows, "parts")
	before := st.Stats().Parts
	queries := []Query{
		{Limit: 100},
		{Service: "front", MinDuration: 10 * time.Millisecond, Limit: 100},
		{Status: "error", Limit: 4},
		{Attributes: map[string]string{"http.route": "/r1"}, Limit: 100},
	}
	answer := func() string {
		t.Helper()
		s := New(st, nil)
		var out strings.Builder
		for _, q := range queries {
			q.Start, q.End = base.Add(-time.Minute), base.Add(time.Hour)
			p, err := s.Search(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			for _, tr := range p.Traces {
				fmt.Fprintf(&out, "%x %s %d %d %v|", tr.TraceID, tr.RootName, tr.SpanCount, tr.DurationNanos, tr.Services)
				spans, err := s.Trace(context.Background(), tr.TraceID)
				if err != nil || int64(len(spans)) != tr.SpanCount {
					t.Fatalf("trace %x: %d spans, summary says %d (%v)", tr.TraceID, len(spans), tr.SpanCount, err)
				}
			}
			fmt.Fprintf(&out, "next=%v\n", p.NextCursor != "")
		}
		return out.String()
	}
	want := answer()
	if merged, err := st.Compact(); err != nil || merged == 0 {
		t.Fatalf("compact merged %d parts: %v", merged, err)
	}
	if after := st.Stats().Parts; after >= before {
		t.Fatalf("compaction left %d parts of %d", after, before)
	}
	if got := answer(); got != want {
		t.Fatalf("after compaction:\n%s\nbefore:\n%s", got, want)
	}

	// Retention by age drops every part here: nothing is found any more.
	if n, err := st.DropBefore(time.Now().UnixNano()); err != nil || n == 0 {
		t.Fatalf("DropBefore dropped %d: %v", n, err)
	}
	s := New(st, nil)
	if got, _ := s.Trace(context.Background(), id16(3)); len(got) != 0 {
		t.Fatalf("expired trace still has %d spans", len(got))
	}
	if p, _ := s.Search(context.Background(), Query{Start: base.Add(-time.Minute), End: base.Add(time.Hour)}); len(p.Traces) != 0 {
		t.Fatalf("expired traces still found: %d", len(p.Traces))
	}
}

// Past the summary budget, parts' summaries are read again instead of
// kept: answers do not change and the cache stays within the budget.
func TestSummaryBudget(t *testing.T) {
	base := time.Now().Add(-30 * time.Minute)
	st := newStore(t, traces(20, base), "parts")
	unlimited, small := New(st, nil), New(st, nil)
	small.budget = 3
	for _, q := range []Query{{Limit: 100}, {Service: "front", MinDuration: 5 * time.Millisecond, Limit: 100}, {Status: "error", Limit: 100}} {
		q.Start, q.End = base.Add(-time.Minute), base.Add(time.Hour)
		a, err := unlimited.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		b, err := small.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(a) != fmt.Sprint(b) || len(a.Traces) == 0 {
			t.Fatalf("%+v: %d vs %d traces", q, len(a.Traces), len(b.Traces))
		}
		if small.cached > 3 {
			t.Fatalf("%d summaries cached over a budget of 3", small.cached)
		}
	}
	for i := range 20 {
		if got, err := small.Trace(context.Background(), id16(i)); err != nil || len(got) != 2 {
			t.Fatalf("trace %d: %d spans, %v", i, len(got), err)
		}
	}
}

// A summary without per-service durations (a part written before them)
// only prunes by what it knows and never decides a duration query.
func TestSummaryWithoutDurations(t *testing.T) {
	sum := spans.TraceSummary{Start: time.Unix(10, 0), DurationNanos: int64(time.Second), SpanCount: 2, Services: []string{"a", "b"}}
	q := Query{Service: "a", MinDuration: 500 * time.Millisecond}
	if !q.mayMatch(&sum, 0, 1<<62) || q.summaryDecides(&sum) {
		t.Fatal("unknown durations: must read the spans")
	}
	if (&Query{Service: "c"}).mayMatch(&sum, 0, 1<<62) {
		t.Fatal("absent service matched")
	}
	if (&Query{MinDuration: 2 * time.Second}).mayMatch(&sum, 0, 1<<62) {
		t.Fatal("a span longer than the trace matched")
	}
	sum.ServiceMaxDurations, sum.ServiceMinDurations = []int64{int64(100 * time.Millisecond), int64(time.Second)}, []int64{1, 1}
	if q.mayMatch(&sum, 0, 1<<62) || !(&Query{Service: "b", MinDuration: time.Second}).mayMatch(&sum, 0, 1<<62) || !q.summaryDecides(&sum) {
		t.Fatal("known durations: a's longest span is 100ms, b's 1s")
	}
}
