package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/vigilhq/vigil/bench/latency"
)

// Summary is what -json receives: each figure's latencies over the
// measured (not warm-up) trials.
type Summary struct {
	Name        string   `json:"name"`
	Trials      int      `json:"trials"`
	Warmup      int      `json:"warmup"`
	Concurrency int      `json:"concurrency"`
	Failed      int      `json:"failed"`
	Stray       int      `json:"strayArrivals"`
	Figures     []Figure `json:"figures"`
}

// Figure is one latency over the trials; Latency.Errors counts the
// measured trials in which it was expected and never came.
type Figure struct {
	Name    string          `json:"name"`
	What    string          `json:"what"`
	Latency latency.Summary `json:"latency"`
}

// figure is one column of the per-trial table: its latency in a trial,
// and whether the trial was expected to produce it.
type figure struct {
	name, what string
	of         func(t *trial) (time.Duration, bool)
	expected   func(o options) bool
}

func between(from, to time.Time) (time.Duration, bool) {
	if from.IsZero() || to.IsZero() {
		return 0, false
	}
	return to.Sub(from), true
}

func always(options) bool { return true }

func expects(kind string) func(options) bool {
	return func(o options) bool { return slices.Contains(o.actions, kind) }
}

var figures = []figure{
	{"write_ms", "the firing sample's remote-write request, as the sender sees it", func(t *trial) (time.Duration, bool) { return between(t.start, t.writeDone) }, always},
	{"webhook_ms", "t0 to the firing notification reaching the webhook", func(t *trial) (time.Duration, bool) { return between(t.start, t.webhook) }, always},
	{"action_http_ms", "t0 to the HTTP action's request arriving", func(t *trial) (time.Duration, bool) { return between(t.start, t.actionHTTP) }, expects(kindHTTP)},
	{"action_command_ms", "t0 to the command action's process starting", func(t *trial) (time.Duration, bool) { return between(t.start, t.commandStart) }, expects(kindCommand)},
	{"action_command_arrival_ms", "t0 to the command action's report arriving", func(t *trial) (time.Duration, bool) { return between(t.start, t.commandArrive) }, expects(kindCommand)},
	{"resolved_ms", "the resolving sample's request to the resolved notification", func(t *trial) (time.Duration, bool) { return between(t.resolveStart, t.resolved) }, func(o options) bool { return o.resolve }},
}

func summarize(o options, rows []trial, stray int) Summary {
	s := Summary{Name: o.name, Warmup: o.warmup, Concurrency: o.concurrency, Stray: stray}
	for i := range rows {
		if rows[i].warmup {
			continue
		}
		s.Trials++
		if rows[i].err != "" {
			s.Failed++
		}
	}
	for _, f := range figures {
		var d []time.Duration
		missing := 0
		for i := range rows {
			if rows[i].warmup {
				continue
			}
			if v, ok := f.of(&rows[i]); ok {
				d = append(d, v)
			} else if f.expected(o) {
				missing++
			}
		}
		if len(d) == 0 && !f.expected(o) {
			continue
		}
		s.Figures = append(s.Figures, Figure{Name: f.name, What: f.what, Latency: latency.Summarize(d, missing)})
	}
	return s
}

func writeCSV(w io.Writer, name string, rows []trial) error {
	cw := csv.NewWriter(w)
	head := []string{"config", "trial", "warmup", "start_unix_ms"}
	for _, f := range figures {
		head = append(head, f.name)
	}
	if err := cw.Write(append(head, "error")); err != nil {
		return err
	}
	for i := range rows {
		t := &rows[i]
		rec := []string{name, t.id, strconv.FormatBool(t.warmup), strconv.FormatInt(t.start.UnixMilli(), 10)}
		for _, f := range figures {
			v := ""
			if d, ok := f.of(t); ok {
				v = strconv.FormatFloat(float64(d)/1e6, 'f', 3, 64)
			}
			rec = append(rec, v)
		}
		if err := cw.Write(append(rec, t.err)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func writeJSON(w io.Writer, s Summary) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

func printSummary(w io.Writer, s Summary) {
	fmt.Fprintf(w, "\n%s: %d trials (%d at once, %d warm-up left out), %d failed, %d stray arrivals\n\n", s.Name, s.Trials, s.Concurrency, s.Warmup, s.Failed, s.Stray)
	fmt.Fprintln(w, "| figure | n | p50 | p90 | p99 | max | mean | missing |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, f := range s.Figures {
		l := f.Latency
		fmt.Fprintf(w, "| %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %d |\n", f.Name, l.N, l.P50, l.P90, l.P99, l.Max, l.Mean, l.Errors)
	}
	fmt.Fprintln(w)
}
