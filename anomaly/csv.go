package anomaly

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Point is one sample of a series.
type Point struct {
	T time.Time
	V float64
}

// csvTimeLayouts are the timestamp forms accepted by ReadCSV: NAB's and RFC 3339.
var csvTimeLayouts = []string{"2006-01-02 15:04:05", time.RFC3339Nano}

// ReadCSV parses a NAB-format series: a header naming "timestamp" and
// "value" columns, then one row per point. Timestamps without a zone are
// UTC. Input is untrusted: errors name the line; at most maxRows rows are
// read (0 means no limit).
func ReadCSV(r io.Reader, maxRows int) ([]Point, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<16)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("cannot read CSV header: %w", err)
		}
		return nil, fmt.Errorf("cannot read CSV: empty input, want a header with timestamp,value")
	}
	ti, vi := -1, -1
	for i, h := range strings.Split(strings.TrimSpace(sc.Text()), ",") {
		switch strings.TrimSpace(h) {
		case "timestamp":
			ti = i
		case "value":
			vi = i
		}
	}
	if ti < 0 || vi < 0 {
		return nil, fmt.Errorf("cannot read CSV header %q: want columns timestamp and value", sc.Text())
	}
	var pts []Point
	for line := 2; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" {
			continue
		}
		f := strings.Split(s, ",")
		if len(f) <= max(ti, vi) {
			return nil, fmt.Errorf("cannot read CSV line %d: want at least %d columns", line, max(ti, vi)+1)
		}
		t, err := parseCSVTime(strings.TrimSpace(f[ti]))
		if err != nil {
			return nil, fmt.Errorf("cannot read CSV line %d: %w", line, err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(f[vi]), 64)
		if err != nil {
			return nil, fmt.Errorf("cannot read CSV line %d value: %w", line, err)
		}
		pts = append(pts, Point{T: t, V: v})
		if maxRows > 0 && len(pts) >= maxRows {
			return nil, fmt.Errorf("cannot read CSV: more than %d rows", maxRows)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cannot read CSV: %w", err)
	}
	return pts, nil
}

func parseCSVTime(s string) (time.Time, error) {
	for _, l := range csvTimeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot parse timestamp %q: want 2006-01-02 15:04:05 or RFC 3339", s)
}

// WriteResults writes NAB's results format: timestamp,value,anomaly_score.
func WriteResults(w io.Writer, pts []Point, scores []float64) error {
	if len(pts) != len(scores) {
		return fmt.Errorf("cannot write results: %d points but %d scores", len(pts), len(scores))
	}
	bw := bufio.NewWriter(w)
	bw.WriteString("timestamp,value,anomaly_score\n")
	for i, p := range pts {
		fmt.Fprintf(bw, "%s,%s,%s\n", p.T.UTC().Format(csvTimeLayouts[0]),
			strconv.FormatFloat(p.V, 'g', -1, 64), strconv.FormatFloat(scores[i], 'f', 6, 64))
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("cannot write results: %w", err)
	}
	return nil
}
