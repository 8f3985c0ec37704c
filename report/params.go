package report

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

var (
	minTime = time.Unix(0, 0).UTC()
	maxTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ParseTime reads a time parameter: a date (2026-11-01, midnight UTC),
// RFC 3339 (2026-11-01T12:00:00Z or with an offset), or Unix seconds
// with an optional fraction (1793491200.5). The result is in UTC, to the
// millisecond, between 1970 and the year 9999.
func ParseTime(s string) (time.Time, error) {
	var t time.Time
	if len(s) == len(time.DateOnly) && strings.Count(s, "-") == 2 {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("cannot parse date %q: want YYYY-MM-DD", s)
		}
		t = d
	} else if strings.ContainsAny(s, "T:") {
		d, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("cannot parse time %q: want RFC 3339 (2026-11-01T00:00:00Z)", s)
		}
		t = d
	} else {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return time.Time{}, fmt.Errorf("cannot parse time %q: want a date (2026-11-01), RFC 3339 or Unix seconds", s)
		}
		if f < 0 || f >= float64(maxTime.Unix()) {
			return time.Time{}, fmt.Errorf("time %q is outside 1970 to 9999", s)
		}
		sec, frac := math.Modf(f)
		t = time.Unix(int64(sec), int64(math.Round(frac*1000))*int64(time.Millisecond))
	}
	t = t.UTC().Truncate(time.Millisecond)
	if t.Before(minTime) || !t.Before(maxTime) {
		return time.Time{}, fmt.Errorf("time %q is outside 1970 to 9999", s)
	}
	return t, nil
}

// ParseLatencyObjective reads "p99:500ms" (quantile as a percentile,
// then a Go duration or seconds: p99.9:1.5, p50:120ms).
func ParseLatencyObjective(s string) (*LatencyObjective, error) {
	p, d, ok := strings.Cut(s, ":")
	if !ok || !strings.HasPrefix(p, "p") {
		return nil, fmt.Errorf("cannot parse latency objective %q: want p<percentile>:<duration>, like p99:500ms", s)
	}
	pct := p[1:]
	if pct == "" || strings.ContainsAny(pct, "eEpPxX_") {
		return nil, fmt.Errorf("cannot parse percentile %q of latency objective %q: want a number like 99 or 99.9", p, s)
	}
	// Parsing "99.9e-2" rounds once, where 99.9/100 would round twice and
	// miss 0.999.
	q, err := strconv.ParseFloat(pct+"e-2", 64)
	if err != nil || !(q > 0 && q < 1) {
		return nil, fmt.Errorf("percentile %q of latency objective %q is not between 0 and 100 (exclusive)", p, s)
	}
	secs, err := parseSeconds(d)
	if err != nil {
		return nil, fmt.Errorf("cannot parse latency %q of latency objective %q: %w", d, s, err)
	}
	return &LatencyObjective{Quantile: q, Seconds: secs}, nil
}

func parseSeconds(s string) (float64, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if !(f > 0) || math.IsInf(f, 0) {
			return 0, errors.New("want a positive number of seconds")
		}
		return f, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("want a duration like 500ms or a number of seconds")
	}
	if d <= 0 {
		return 0, errors.New("want a positive duration")
	}
	return d.Seconds(), nil
}

// String writes o as ParseLatencyObjective reads it, the latency in
// seconds.
func (o LatencyObjective) String() string {
	return "p" + fmtPercentile(o.Quantile) + ":" + strconv.FormatFloat(o.Seconds, 'g', -1, 64)
}

// fmtPercentile writes 0.99 as 99: twelve digits hide the rounding of
// the multiplication.
func fmtPercentile(q float64) string {
	s := strconv.FormatFloat(q*100, 'g', 12, 64)
	if strings.ContainsAny(s, "e") {
		s = strconv.FormatFloat(q*100, 'f', -1, 64)
	}
	return s
}
