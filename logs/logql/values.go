package logql

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// parseDuration reads a Go duration (1.5s, 250ms, 1h30m) or a Prometheus
// one (1d, 2w).
func parseDuration(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	d, err := model.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("cannot parse duration %q", s)
	}
	return time.Duration(d), nil
}

// formatDuration prints d so that parseDuration reads it back.
func formatDuration(d time.Duration) string {
	if d%time.Millisecond == 0 && d >= 0 {
		return model.Duration(d).String()
	}
	return strconv.FormatInt(int64(d), 10) + "ns"
}

// byteUnits are the size suffixes Loki's bytes() conversion and byte
// literals accept, case-insensitively: decimal (kB, MB) and binary (KiB,
// MiB) multiples.
var byteUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1e3, "kb": 1e3, "ki": 1 << 10, "kib": 1 << 10,
	"m": 1e6, "mb": 1e6, "mi": 1 << 20, "mib": 1 << 20,
	"g": 1e9, "gb": 1e9, "gi": 1 << 30, "gib": 1 << 30,
	"t": 1e12, "tb": 1e12, "ti": 1 << 40, "tib": 1 << 40,
	"p": 1e15, "pb": 1e15, "pi": 1 << 50, "pib": 1 << 50,
	"e": 1e18, "eb": 1e18, "ei": 1 << 60, "eib": 1 << 60,
}

// parseBytes reads a byte size such as 20MB, 1.5 KiB or 512.
func parseBytes(s string) (float64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (isDigit(t[i]) || t[i] == '.') {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("cannot parse byte size %q", s)
	}
	n, err := strconv.ParseFloat(t[:i], 64)
	if err != nil {
		return 0, fmt.Errorf("cannot parse byte size %q", s)
	}
	m, ok := byteUnits[strings.ToLower(strings.TrimSpace(t[i:]))]
	if !ok {
		return 0, fmt.Errorf("cannot parse byte size %q: unknown unit", s)
	}
	v := n * m
	if math.IsInf(v, 0) {
		return 0, fmt.Errorf("cannot parse byte size %q: too large", s)
	}
	return v, nil
}

// formatFloat prints a number so that the lexer reads it back.
func formatFloat(v float64) string {
	return strconv.FormatFloat(v, 'g', -1, 64)
}
