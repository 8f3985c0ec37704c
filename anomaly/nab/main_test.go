package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The runner writes one NAB results file per series, under the category,
// named <detector>_<name>.csv, with a score for every input row.
func TestRunWritesNABResults(t *testing.T) {
	data, out := t.TempDir(), filepath.Join(t.TempDir(), "vigil")
	var csv strings.Builder
	csv.WriteString("timestamp,value\n")
	t0 := time.Date(2014, 4, 1, 0, 0, 0, 0, time.UTC)
	for i := range 300 {
		fmt.Fprintf(&csv, "%s,%d\n", t0.Add(time.Duration(i)*time.Minute).Format("2006-01-02 15:04:05"), i%7)
	}
	if err := os.MkdirAll(filepath.Join(data, "cat"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "cat", "s.csv"), []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"-data", data, "-out", out}, &stdout); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(out, "cat", "vigil_s.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	if lines[0] != "timestamp,value,anomaly_score" || len(lines) != 301 {
		t.Errorf("results: header %q and %d lines, want NAB header and 301 lines", lines[0], len(lines))
	}
	if err := run(context.Background(), []string{"-data", data}, &stdout); err == nil {
		t.Error("missing -out accepted")
	}
}
