package report

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
)

func TestParseTime(t *testing.T) {
	nov1 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-11-01":                     nov1,
		"2026-11-01T00:00:00Z":           nov1,
		"2026-11-01T01:00:00+01:00":      nov1,
		"2026-11-01T00:00:00.0004Z":      nov1, // to the millisecond
		"2026-11-01T00:00:00.25Z":        nov1.Add(250 * time.Millisecond),
		"1793491200":                     nov1,
		"1793491200.5":                   nov1.Add(500 * time.Millisecond),
		"0":                              time.Unix(0, 0).UTC(),
		"9999-12-31T23:59:59.999Z":       time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC),
		"2024-02-29":                     time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		"2026-11-01T00:00:00.000000001Z": nov1,
	} {
		got, err := ParseTime(in)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "yesterday", "2026-13-01", "2025-02-29", "2026-11-1", "-1", "NaN", "+Inf", "1e300", "1969-12-31T23:59:59Z", "2026-11-01 00:00:00", "0x10", "2026-11-01T00:00:00"} {
		if got, err := ParseTime(in); err == nil {
			t.Errorf("ParseTime(%q) = %v, want an error", in, got)
		}
	}
}

func TestParseLatencyObjective(t *testing.T) {
	for in, want := range map[string]LatencyObjective{
		"p99:500ms": {0.99, 0.5},
		"p99.9:1.5": {0.999, 1.5},
		"p50:2s":    {0.5, 2},
		"p95:1m":    {0.95, 60},
	} {
		got, err := ParseLatencyObjective(in)
		if err != nil || *got != want {
			t.Errorf("ParseLatencyObjective(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "p99", "99:1s", "p:1s", "p100:1s", "p0:1s", "p-1:1s", "p99:", "p99:0", "p99:-1s", "p99:fast", "p9e1:1s", "p99:Inf", "p99:NaN", "p0x1p6:1s"} {
		if got, err := ParseLatencyObjective(in); err == nil {
			t.Errorf("ParseLatencyObjective(%q) = %v, want an error", in, got)
		}
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-11-01", "2026-11-01T00:00:00Z", "2026-11-01T01:00:00.123+01:00", "1793491200", "1793491200.999", "0", "-0", "1e9", "9999-12-31", "2026-11-01T24:00:00Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s)
		if err != nil {
			return
		}
		if got.Location() != time.UTC || got.Before(minTime) || !got.Before(maxTime) || !got.Equal(got.Truncate(time.Millisecond)) {
			t.Fatalf("ParseTime(%q) = %v: not UTC, out of range or finer than a millisecond", s, got)
		}
		// What it returns reads back as itself in every form it accepts.
		for _, back := range []string{got.Format(time.RFC3339Nano), formatUnix(got)} {
			again, err := ParseTime(back)
			if err != nil || !again.Equal(got) {
				t.Fatalf("ParseTime(%q) = %v; its form %q reads back as %v, %v", s, got, back, again, err)
			}
		}
	})
}

func formatUnix(t time.Time) string {
	ms := t.UnixMilli()
	return fmt.Sprintf("%d.%03d", ms/1000, ms%1000)
}

func FuzzParseLatencyObjective(f *testing.F) {
	for _, s := range []string{"p99:500ms", "p99.9:1.5", "p50:2s", "p1:1e-3", "p99:1h", "p:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseLatencyObjective(s)
		if err != nil {
			return
		}
		if !(got.Quantile > 0 && got.Quantile < 1) || !(got.Seconds > 0) {
			t.Fatalf("ParseLatencyObjective(%q) = %+v, outside the valid range", s, *got)
		}
		// Whatever it accepts, Build accepts too.
		r := Request{Service: "s", From: minTime, To: minTime.Add(time.Hour), LatencyObjective: got}
		if _, err := r.validate(); err != nil {
			t.Fatalf("ParseLatencyObjective(%q) = %+v, which Build refuses: %v", s, *got, err)
		}
	})
}

func FuzzCounterExpr(f *testing.F) {
	for _, s := range []string{`http_requests_total{job="api"}`, `sum(increase(x_total[{{.range}}]))`, `x{a="{{"}`, `{__name__="x"}`, `x offset 1h`, `x[{{ .range }}]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		e, err := counterExpr(q)
		if err != nil {
			return
		}
		// An accepted query gives valid PromQL for any range.
		for _, rng := range []string{"1d", "30d", "1d12h30m5s250ms"} {
			if _, err := parser.ParseExpr(e(rng)); err != nil {
				t.Fatalf("counterExpr(%q) accepted, but at range %s gives %q: %v", q, rng, e(rng), err)
			}
		}
	})
}
