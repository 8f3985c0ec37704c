package logs

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestStreamString(t *testing.T) {
	got := StreamString(map[string]string{"service_name": "checkout", "level": "info", "empty": ""})
	if want := `{level="info", service_name="checkout"}`; got != want {
		t.Fatalf("StreamString = %s, want %s", got, want)
	}
}

func TestSeverity(t *testing.T) {
	for _, c := range []struct {
		in    string
		want  int32
		level string
	}{
		{"DEBUG", 5, LevelDebug}, {"info", 9, LevelInfo}, {"warning", 13, LevelWarn}, {"WARN", 13, LevelWarn},
		{"error", 17, LevelError}, {"exception", 17, LevelError}, {"CRITICAL", 21, LevelFatal},
		{"40", 17, LevelError}, {"20", 9, LevelInfo}, {"bogus", 0, LevelUnknown}, {"", 0, LevelUnknown},
	} {
		if got := SeverityOf(c.in); got != c.want || LevelOf(got) != c.level {
			t.Errorf("SeverityOf(%q) = %d (%s), want %d (%s)", c.in, got, LevelOf(got), c.want, c.level)
		}
	}
}

func sample(n int) []Record {
	out := make([]Record, n)
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for i := range out {
		r := &out[i]
		r.Service = fmt.Sprintf("svc-%d", i%3)
		r.Stream = StreamString(map[string]string{"service_name": r.Service, "level": "info"})
		r.Time = base.Add(time.Duration(i) * time.Millisecond)
		r.ObservedTime = r.Time.Add(time.Microsecond)
		r.SeverityNumber, r.SeverityText = 9, "info"
		r.Body = fmt.Sprintf("order %d created for user-%d", i, i*7)
		if i%2 == 0 {
			r.TraceID[0], r.SpanID[7] = byte(i), 1
			r.Attributes = map[string]string{"order_id": fmt.Sprint(i)}
			r.Resource = map[string]string{"host.name": "h1"}
		}
	}
	return out
}

func TestCodecRoundTrip(t *testing.T) {
	in := sample(50)
	out, err := DecodeBatch(AppendBatch(nil, in))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip differs:\n%+v\n%+v", in[0], out[0])
	}
	if _, err := DecodeBatch(AppendBatch(nil, in)[:100]); err == nil {
		t.Fatal("a truncated batch decoded")
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(AppendBatch(nil, sample(3)))
	f.Add([]byte{0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := DecodeBatch(b)
		if err != nil {
			return
		}
		again, err := DecodeBatch(AppendBatch(nil, recs))
		if err != nil || len(again) != len(recs) {
			t.Fatalf("re-encoding a decoded batch fails: %v", err)
		}
	})
}

func TestExtraStreamsAndGrams(t *testing.T) {
	rows := sample(3 * RowGroupRows)
	rows[RowGroupRows+5].Body = "payment declined: Rare-Token-42 at gateway"
	Sort(rows)
	files, err := Extra(rows)
	if err != nil {
		t.Fatal(err)
	}
	g, err := ReadGrams(files[GramsFile])
	if err != nil {
		t.Fatal(err)
	}
	if g.Groups() != 3 {
		t.Fatalf("groups = %d, want 3", g.Groups())
	}
	// No false negatives, whatever the case and wherever the needle
	// starts inside a word.
	for i := range rows {
		for _, needle := range []string{rows[i].Body[2:9], strings.ToUpper(rows[i].Body[3:12])} {
			if !g.MayContain(i/RowGroupRows, []string{needle}) {
				t.Fatalf("row %d (%q): group %d says no to %q", i, rows[i].Body, i/RowGroupRows, needle)
			}
		}
	}
	var holder int
	for i := range rows {
		if strings.Contains(rows[i].Body, "Rare-Token") {
			holder = i / RowGroupRows
		}
	}
	for grp := range 3 {
		if got := g.MayContain(grp, []string{"are-token-42 at gate"}); got != (grp == holder) {
			t.Errorf("group %d MayContain(needle) = %v, want %v", grp, got, grp == holder)
		}
	}
	if !g.MayContain(0, []string{"ab"}) {
		t.Error("a needle too short to check must pass")
	}
	var si StreamIndex
	if err := json.Unmarshal(files[StreamsFile], &si); err != nil {
		t.Fatal(err)
	}
	if len(si.Streams) != 3 || len(si.Groups) != 3 {
		t.Fatalf("streams index = %+v", si)
	}
	var total int64
	for _, n := range si.Rows {
		total += n
	}
	if total != int64(len(rows)) {
		t.Fatalf("stream rows sum to %d, want %d", total, len(rows))
	}
	// Sorted by service first: the first group holds only svc-0's stream.
	if len(si.Groups[0]) != 1 || !strings.Contains(si.Streams[si.Groups[0][0]], "svc-0") {
		t.Fatalf("group 0 streams = %v", si.Groups[0])
	}
}

func TestGramsFoldSmallGroups(t *testing.T) {
	rows := sample(10)
	files, err := Extra(rows)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(files[GramsFile]); n > 1<<minGramsBits/8+16 {
		t.Fatalf("grams of 10 short lines take %d bytes, want the folded minimum", n)
	}
	g, _ := ReadGrams(files[GramsFile])
	for i := range rows {
		if !g.MayContain(0, []string{rows[i].Body}) {
			t.Fatalf("folded bitset lost %q", rows[i].Body)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	misses := 0
	for range 1000 {
		needle := fmt.Sprintf("zq%08x", rng.Uint32())
		if !g.MayContain(0, []string{needle}) {
			misses++
		}
	}
	if misses < 900 {
		t.Fatalf("only %d of 1000 absent needles were excluded", misses)
	}
}

func FuzzReadGrams(f *testing.F) {
	files, _ := Extra(sample(20))
	f.Add(files[GramsFile])
	f.Add([]byte("VGR1\x01\x10"))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := ReadGrams(b)
		if err != nil {
			return
		}
		for i := range g.Groups() {
			g.MayContain(i, []string{"needle"})
		}
	})
}

func TestLabelName(t *testing.T) {
	for in, want := range map[string]string{"order_id": "order_id", "http.route": "http_route", "k8s.pod-name": "k8s_pod_name", "1bad": "_1bad", "": "", "é": "__"} {
		if got := LabelName(in); got != want {
			t.Errorf("LabelName(%q) = %q, want %q", in, got, want)
		}
	}
}
