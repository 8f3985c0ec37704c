package logql

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigilhq/vigil/storage/logs"
)

func TestHints(t *testing.T) {
	f := func(q string, contains []string, lbls map[string]string) {
		t.Helper()
		e, err := ParseExpr(q)
		if err != nil {
			t.Fatal(err)
		}
		gotC, gotL := hints(e.(*LogExpr).Stages)
		if !slices.Equal(gotC, contains) || !maps.Equal(gotL, lbls) {
			t.Fatalf("hints(%s) = %q %v, want %q %v", q, gotC, gotL, contains, lbls)
		}
	}
	f(`{a="b"} |= "x" != "y" |= "" |~ "foo.*bar" !~ "z" |~ "(?i)case" |= "p" or "q"`, []string{"x", "foo", "bar"}, nil)
	f(`{a="b"} |= "x" | line_format "y" |= "y"`, []string{"x"}, nil)
	f(`{a="b"} | trace_id="ab" | span_id="cd", other="e" | json | trace_id="zz"`, nil, map[string]string{"trace_id": "ab", "span_id": "cd", "other": "e"})
	f(`{a="b"} | __error__="" | order_id!="1" | order_id=~"2" | order_id="3"`, nil, map[string]string{"order_id": "3"})
	f(`{a="b"} | trace_id="ab" or span_id="cd"`, nil, nil)
	f(`{a="b"} | label_format trace_id="x" | trace_id="x"`, nil, nil)
}

// countingSource counts calls and splits records into two blocks whose
// Skip is asked separately.
type blockSource struct {
	blocks  [][]logs.Record
	skipped int
}

func (s *blockSource) Select(ctx context.Context, sel Selection, fn func(*logs.Record) bool) error {
	for _, b := range s.blocks {
		minT, maxT := b[0].Time.UnixNano(), b[len(b)-1].Time.UnixNano()
		if sel.Skip != nil && sel.Skip(minT, maxT) {
			s.skipped++
			continue
		}
		if err := (SliceSource(b)).Select(ctx, Selection{Matchers: sel.Matchers, Start: sel.Start, End: sel.End}, fn); err != nil {
			return err
		}
	}
	return nil
}

func TestSkipBlocks(t *testing.T) {
	recs := testRecords()[:200]
	// Newest block first: a backward query with limit 5 is full after it.
	src := &blockSource{blocks: [][]logs.Record{recs[100:], recs[:100]}}
	r, err := NewEngine(src, Options{}).Query(context.Background(), Params{Query: `{env="prod"}`, Start: t0, End: t0.Add(time.Hour), Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if src.skipped != 1 {
		t.Fatalf("skipped %d blocks, want 1", src.skipped)
	}
	if r.Stats.LinesScanned != 67 { // the env="prod" lines of the newer block
		t.Fatalf("scanned %d lines, want 67", r.Stats.LinesScanned)
	}
	n := 0
	for _, s := range r.Data.(Streams) {
		n += len(s.Entries)
	}
	if n != 5 {
		t.Fatalf("got %d lines, want 5", n)
	}
	// Forward: the older block cannot be skipped, the newer one can when
	// read second.
	src = &blockSource{blocks: [][]logs.Record{recs[:100], recs[100:]}}
	_, err = NewEngine(src, Options{}).Query(context.Background(), Params{Query: `{env="prod"}`, Start: t0, End: t0.Add(time.Hour), Limit: 5, Direction: Forward})
	if err != nil || src.skipped != 1 {
		t.Fatalf("forward: skipped %d, err %v", src.skipped, err)
	}
}

func TestStats(t *testing.T) {
	recs := testRecords()
	r, err := NewEngine(SliceSource(recs), Options{}).Query(context.Background(), Params{Query: `{service_name="extra"}`, Start: t0, End: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{LinesScanned: 4, BytesScanned: int64(len("login ok") + len("{not json") + len("\x1b[31mred alert\x1b[0m") + len("odd attribute"))}
	if r.Stats != want {
		t.Fatalf("stats %+v, want %+v", r.Stats, want)
	}
}

func TestLineMatcher(t *testing.T) {
	m, err := NewLineMatcher(`{service_name="api"} |= "500" | json | line_format "{{.method}} {{.status}}" | keep method`)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Matchers(); len(got) != 1 || got[0].String() != `service_name="api"` {
		t.Fatalf("matchers %v", got)
	}
	recs := testRecords()
	ls, line, ok := m.Process(&recs[15]) // api, status 500, POST
	if !ok || line != "POST 500" || ls.String() != `{method="POST"}` {
		t.Fatalf("Process = %s %q %v", ls, line, ok)
	}
	if _, _, ok := m.Process(&recs[3]); ok { // status 200
		t.Fatal("status 200 line passed")
	}
	if _, _, ok := m.Process(&recs[1]); ok { // worker stream
		t.Fatal("worker line passed")
	}
	// The returned line does not alias the record.
	m2, _ := NewLineMatcher(`{service_name="extra"}`)
	rec := recs[200]
	body := []byte(rec.Body)
	rec.Body = string(body)
	_, line, ok = m2.Process(&rec)
	if !ok || line != "login ok" {
		t.Fatalf("Process = %q %v", line, ok)
	}
}

func TestJSONFields(t *testing.T) {
	var sc jsonScanner
	got := map[string]string{}
	err := jsonFields(&sc, ` {"a":"x\"y\u00e9","b":{"c.d":1.5,"e":{"f":true}},"arr":[1,{"g":2}],"n":null,"9z":"v"} `, func(k []byte, v string) {
		got[string(k)] = v
	})
	want := map[string]string{"a": "x\"yé", "b_c_d": "1.5", "b_e_f": "true", "n": "", "_9z": "v"}
	if err != nil || !maps.Equal(got, want) {
		t.Fatalf("jsonFields = %v %v, want %v", got, err, want)
	}
	for _, bad := range []string{`{"a":}`, `{"a":1`, `[1]`, `{"a":1} x`, `{"a":tru}`, `{"a":"\x"}`, strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100)} {
		if err := jsonFields(&sc, bad, func([]byte, string) {}); err == nil {
			t.Fatalf("jsonFields(%q) accepted", bad)
		}
	}
	line := `{"a":{"b":[10,{"c":"d"}]},"k y":"z","o":{"p":1}}`
	for expr, want := range map[string]string{`a.b[0]`: "10", `a.b[1].c`: "d", `["k y"]`: "z", `o`: `{"p":1}`, `a.b`: `[10,{"c":"d"}]`} {
		path, err := parseJSONPath(expr)
		if err != nil {
			t.Fatal(err)
		}
		v, found, err := jsonLookup(&sc, line, path)
		if err != nil || !found || v != want {
			t.Fatalf("jsonLookup(%s) = %q %v %v, want %q", expr, v, found, err, want)
		}
	}
	path, _ := parseJSONPath("a.x")
	if _, found, err := jsonLookup(&sc, line, path); found || err != nil {
		t.Fatalf("missing path found: %v %v", found, err)
	}
}

func TestLogfmtPairs(t *testing.T) {
	var got []string
	logfmtPairs(`a=1 b="two words" bare c= d="esc\"aped" "stray" e=5 f=x=y`, func(k, v string) { got = append(got, k+"|"+v) })
	want := []string{"a|1", "b|two words", `d|esc"aped`, "e|5", "f|x=y"}
	if !slices.Equal(got, want) {
		t.Fatalf("logfmtPairs = %q, want %q", got, want)
	}
}

func TestPattern(t *testing.T) {
	p, err := compilePattern(`<ip> - <_> [<ts>] "<req>" <rest>`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	ok := p.match(`1.2.3.4 - frank [10/Oct] "GET /" 200 5`, func(n, v string) { got[n] = v })
	want := map[string]string{"ip": "1.2.3.4", "ts": "10/Oct", "req": "GET /", "rest": "200 5"}
	if !ok || !maps.Equal(got, want) {
		t.Fatalf("match = %v %v", got, ok)
	}
	if p.match("no match here", func(n, v string) { t.Fatalf("emitted %s on a failed match", n) }) {
		t.Fatal("matched")
	}
	for _, bad := range []string{"<_> x", "<a><b>", "<a> <a>", "plain"} {
		if _, err := compilePattern(bad); err == nil {
			t.Fatalf("compilePattern(%q) accepted", bad)
		}
	}
}

func TestParseStream(t *testing.T) {
	ls, err := parseStream(`{b="2", "a.b"="x\"y", a="1"}`)
	if err != nil {
		t.Fatal(err)
	}
	want := []labels.Label{{Name: "a", Value: "1"}, {Name: "a.b", Value: `x"y`}, {Name: "b", Value: "2"}}
	if !slices.Equal(ls, want) {
		t.Fatalf("parseStream = %v", ls)
	}
	m := map[string]string{"service_name": "x", "weird.name": "v\n"}
	ls, err = parseStream(logs.StreamString(m))
	if err != nil || len(ls) != 2 || ls[1].Value != "v\n" {
		t.Fatalf("round trip = %v %v", ls, err)
	}
	for _, bad := range []string{`a="1"`, `{a=1}`, `{a="1" b="2"}`, `{="x"}`, `{a}`} {
		if _, err := parseStream(bad); err == nil {
			t.Fatalf("parseStream(%q) accepted", bad)
		}
	}
}

func TestValues(t *testing.T) {
	for s, want := range map[string]float64{"20MB": 20e6, "1.5KiB": 1536, "512": 512, "1 kb": 1000, "2GiB": 2 << 30} {
		if v, err := parseBytes(s); err != nil || v != want {
			t.Fatalf("parseBytes(%q) = %v %v, want %v", s, v, err, want)
		}
	}
	for _, bad := range []string{"", "MB", "5XB", "1e999"} {
		if _, err := parseBytes(bad); err == nil {
			t.Fatalf("parseBytes(%q) accepted", bad)
		}
	}
	for s, want := range map[string]time.Duration{"1h30m": 90 * time.Minute, "250ms": 250 * time.Millisecond, "2d": 48 * time.Hour} {
		if d, err := parseDuration(s); err != nil || d != want {
			t.Fatalf("parseDuration(%q) = %v %v", s, d, err)
		}
	}
	if got := decolorize("\x1b[1;31mred\x1b[0m plain"); got != "red plain" {
		t.Fatalf("decolorize = %q", got)
	}
	if q := quantileOf(0.9, []float64{1, 2, 3, 4, 5}); q != 4.6 {
		t.Fatalf("quantile = %v", q)
	}
}
