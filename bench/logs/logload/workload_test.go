package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

var testEnd = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func testWorkload(lines int) Workload {
	return Workload{Lines: lines, BatchSize: 1000, Seed: 1, End: testEnd, Window: 6 * time.Hour}
}

func TestBatchIsDeterministic(t *testing.T) {
	w := testWorkload(5000)
	for _, otlp := range []bool{false, true} {
		w.OTLP = otlp
		a, rawA, ca, err := w.Batch(3)
		if err != nil {
			t.Fatal(err)
		}
		b, rawB, cb, err := w.Batch(3)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) || rawA != rawB || ca != cb {
			t.Fatalf("otlp=%v: two encodings of batch 3 differ", otlp)
		}
		w2 := w
		w2.Seed = 2
		c, _, _, err := w2.Batch(3)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(a, c) {
			t.Fatalf("otlp=%v: seeds 1 and 2 gave the same batch", otlp)
		}
	}
}

func TestJSONLines(t *testing.T) {
	w := testWorkload(20_000)
	var n, size, withTrace int
	perLevel := map[string]int{}
	seenServices := map[string]bool{}
	var counts Counts
	last := w.Start()
	for b := range w.Batches() {
		body, raw, c, err := w.Batch(b)
		if err != nil {
			t.Fatal(err)
		}
		counts.add(c)
		if raw != int64(len(body)) {
			t.Fatalf("batch %d: raw size %d, body %d bytes without gzip", b, raw, len(body))
		}
		sc := bufio.NewScanner(bytes.NewReader(body))
		for sc.Scan() {
			n++
			size += len(sc.Bytes()) + 1
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("line %d is not JSON: %v: %s", n, err, sc.Bytes())
			}
			for _, k := range []string{"timestamp", "level", "service", "event", "order_id", "user_id", "amount", "duration_ms", "http.path"} {
				if _, ok := m[k]; !ok {
					t.Fatalf("line %d has no %s: %s", n, k, sc.Bytes())
				}
			}
			ts, err := time.Parse(time.RFC3339Nano, m["timestamp"].(string))
			if err != nil || ts.Before(w.Start()) || !ts.Before(w.End) {
				t.Fatalf("line %d: timestamp %v (%v) outside [%v, %v)", n, m["timestamp"], err, w.Start(), w.End)
			}
			if ts.Before(last) {
				t.Fatalf("line %d: timestamp %v before the previous line's %v", n, ts, last)
			}
			last = ts
			if id, ok := m["trace_id"].(string); ok {
				if len(id) != 32 {
					t.Fatalf("line %d: trace_id %q is not 32 hex digits", n, id)
				}
				withTrace++
			}
			perLevel[m["level"].(string)]++
			seenServices[m["service"].(string)] = true
		}
	}
	if n != w.Lines {
		t.Fatalf("%d lines, want %d", n, w.Lines)
	}
	if avg := size / n; avg < 200 || avg > 320 {
		t.Errorf("%d bytes per line on average, want 200..320", avg)
	}
	if share := float64(withTrace) / float64(n); share < 0.45 || share > 0.55 {
		t.Errorf("%.2f of the lines have a trace id, want about half", share)
	}
	for i, l := range levels {
		share := float64(perLevel[l.name]) / float64(n) * 100
		if share < float64(l.percent)-1.5 || share > float64(l.percent)+1.5 {
			t.Errorf("%s: %.1f%% of the lines, want about %d%%", l.name, share, l.percent)
		}
		if counts.PerLevel[i] != perLevel[l.name] {
			t.Errorf("%s: counted %d, the lines have %d", l.name, counts.PerLevel[i], perLevel[l.name])
		}
	}
	if len(seenServices) != len(services) {
		t.Errorf("%d services seen, want %d", len(seenServices), len(services))
	}
}

func TestNeedles(t *testing.T) {
	for _, c := range []struct{ lines, want int }{
		{0, 0}, {NeedleOffset, 0}, {NeedleOffset + 1, 1}, {500_000, 1},
		{NeedlePeriod + NeedleOffset, 1}, {NeedlePeriod + NeedleOffset + 1, 2}, {20_000_000, 20},
	} {
		if got := Needles(c.lines); got != c.want {
			t.Errorf("Needles(%d) = %d, want %d", c.lines, got, c.want)
		}
	}
	// The planted line, and no other of the first 130k, has the needle.
	w := testWorkload(130_000)
	found := 0
	for b := range w.Batches() {
		for j, l := range w.BatchLines(b) {
			if strings.Contains(l.Event, Needle) {
				found++
				if i := b*w.BatchSize + j; i != NeedleOffset {
					t.Errorf("line %d has the needle: %q", i, l.Event)
				}
				if l.Event != "payment rare-token-0 declined for order "+itoa(l.OrderID) {
					t.Errorf("needle line %q", l.Event)
				}
			}
		}
	}
	if found != 1 {
		t.Errorf("%d needle lines, want 1", found)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestFocusCount(t *testing.T) {
	w := testWorkload(50_000)
	var counts Counts
	want := 0
	for b := range w.Batches() {
		_, _, c, err := w.Batch(b)
		if err != nil {
			t.Fatal(err)
		}
		counts.add(c)
		for _, l := range w.BatchLines(b) {
			if services[l.Service] == FocusService && levels[l.Level].name == FocusLevel && strings.Contains(l.Event, FocusWord) {
				want++
			}
		}
	}
	if want == 0 || counts.Focus != want {
		t.Fatalf("focus lines counted %d, want %d (and more than 0)", counts.Focus, want)
	}
}

func TestOTLPAndGzip(t *testing.T) {
	w := testWorkload(2000)
	w.OTLP, w.Gzip = true, true
	body, raw, _, err := w.Batch(1)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	pb, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(pb)) != raw {
		t.Fatalf("raw size %d, gunzipped %d", raw, len(pb))
	}
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalProto(pb); err != nil {
		t.Fatal(err)
	}
	lines := w.BatchLines(1)
	var bodies []string
	rls := req.Logs().ResourceLogs()
	for i := range rls.Len() {
		rl := rls.At(i)
		svc, _ := rl.Resource().Attributes().Get("service.name")
		recs := rl.ScopeLogs().At(0).LogRecords()
		for j := range recs.Len() {
			r := recs.At(j)
			bodies = append(bodies, r.Body().Str())
			if r.SeverityText() == "" || r.Timestamp() == 0 {
				t.Fatalf("record %q has no severity or time", r.Body().Str())
			}
			if svc.Str() == "" {
				t.Fatalf("record %q: resource without service.name", r.Body().Str())
			}
		}
	}
	if len(bodies) != len(lines) {
		t.Fatalf("%d records, want %d", len(bodies), len(lines))
	}
	want := map[string]int{}
	for _, l := range lines {
		want[l.Event]++
	}
	for _, b := range bodies {
		want[b]--
	}
	for e, n := range want {
		if n != 0 {
			t.Fatalf("event %q: %d more in the lines than in the records", e, n)
		}
	}
}

func TestCacheRoundTrip(t *testing.T) {
	w := testWorkload(3500)
	path := filepath.Join(t.TempDir(), "cache")
	reqs, counts, fromCache, err := load(w, path)
	if err != nil || fromCache {
		t.Fatalf("first load: from cache %v, %v", fromCache, err)
	}
	again, counts2, fromCache, err := load(w, path)
	if err != nil || !fromCache {
		t.Fatalf("second load: from cache %v, %v", fromCache, err)
	}
	if counts != counts2 || len(reqs) != len(again) || len(reqs) != 4 {
		t.Fatalf("counts %v and %v, %d and %d requests", counts, counts2, len(reqs), len(again))
	}
	for i := range reqs {
		if !bytes.Equal(reqs[i].body, again[i].body) || reqs[i].raw != again[i].raw {
			t.Fatalf("request %d differs after the cache", i)
		}
	}
	w.Seed = 9
	_, _, fromCache, err = load(w, path)
	if err != nil || fromCache {
		t.Fatalf("another workload was read from the cache (%v)", err)
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("order created id=1", "/api/v1/orders", int64(0))
	f.Add(`quote " and \ backslash`, "/a\"b", int64(1_796_000_000_000_000_000))
	f.Add("tab\tnewline\n\x00", "", int64(-1))
	f.Fuzz(func(t *testing.T, event, path string, ns int64) {
		// The workload's strings are valid UTF-8; so must the fuzzer's be.
		event, path = strings.ToValidUTF8(event, "?"), strings.ToValidUTF8(path, "?")
		l := Line{Time: time.Unix(0, ns), Event: event, Path: path, TraceID: "0123456789abcdef0123456789abcdef"}
		b := AppendJSON(nil, l)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("not JSON: %v: %s", err, b)
		}
		if m["event"] != event || m["http.path"] != path {
			t.Fatalf("event %q, path %q came back as %q, %q", event, path, m["event"], m["http.path"])
		}
		if bytes.IndexByte(b, '\n') >= 0 {
			t.Fatalf("a newline inside the line: %q", b)
		}
	})
}
