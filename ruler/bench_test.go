//go:build linux

package ruler

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"

	"github.com/vigilhq/vigil/storage/metricstore"
)

// The cost of evaluating many alerting rules over many series, as one
// group evaluates them (rule after rule; Vigil leaves Prometheus's
// concurrent rule evaluation off). Each rule selects the 100 series of one
// service, so the rules together read every series once:
//
//	go test -run '^$' -bench RuleEval -benchtime 3x ./ruler/
//
// Besides ns/op (one evaluation of all rules, wall time) the benchmarks
// report cpu-s/op (the process's user+system CPU per evaluation, garbage
// collection included, which runs beside the evaluation on other cores),
// ns/rule, alerts (firing after each evaluation) and maxrss-MiB (the
// process's peak RSS so far, the fixture included).
//
// The small variant comes first: both run in one process, and maxrss-MiB
// only grows.
func BenchmarkRuleEval1kRules100kSeries(b *testing.B) { benchRuleEval(b, 1_000) }

// BenchmarkRuleEval10kRules1MSeries is issue 5's scale: 10k alerting rules
// over 1M series.
func BenchmarkRuleEval10kRules1MSeries(b *testing.B) { benchRuleEval(b, 10_000) }

const (
	benchInstances = 100 // series per service, so per rule
	benchSamples   = 10  // per series, 30 s apart, ending at the evaluation
	benchStep      = 30 * time.Second
)

// benchFires reports whether the series of service s, instance i rises
// fast enough to fire: one series in 1,000 (instance 0 of every tenth
// service), so a tenth of the rules have one firing alert and the
// evaluation carries alert state and writes ALERTS, as a real one does.
func benchFires(s, i int) bool { return i == 0 && s%10 == 0 }

func benchRuleEval(b *testing.B, services int) {
	evalAt := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	setup := time.Now()
	store, err := metricstore.Open(metricstore.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	wantFiring := appendBenchSeries(b, store, services, evalAt)
	loaded := time.Since(setup)

	file := filepath.Join(b.TempDir(), "rules.yml")
	if err := os.WriteFile(file, benchRuleFile(services), 0o644); err != nil {
		b.Fatal(err)
	}
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: 2 * time.Minute, LookbackDelta: 5 * time.Minute})
	r, err := New(Options{Files: []string{file}, Engine: engine, Appendable: store.DB(), Queryable: store})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	groups := r.Manager().RuleGroups()
	if len(groups) != 1 || len(groups[0].Rules()) != services {
		b.Fatalf("loaded %d groups, want 1 with %d rules", len(groups), services)
	}
	g := groups[0]
	ctx := context.Background()
	// One evaluation before the clock: the first creates every alert's
	// state, the ones measured find it, as in a server that has been up.
	g.Eval(ctx, evalAt)
	checkBenchEval(b, g, wantFiring)
	b.Logf("%d series × %d samples loaded in %s; fixture ready after %s", services*benchInstances, benchSamples, loaded.Round(time.Millisecond), time.Since(setup).Round(time.Millisecond))

	cpu0 := processCPU(b)
	b.ReportAllocs()
	for b.Loop() {
		g.Eval(ctx, evalAt)
	}
	cpu := processCPU(b) - cpu0
	checkBenchEval(b, g, wantFiring)
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(services), "ns/rule")
	b.ReportMetric(float64(wantFiring), "alerts")
	b.ReportMetric(float64(maxRSS(b))/(1<<20), "maxrss-MiB")
}

// appendBenchSeries writes http_requests_total{service, instance} for
// services × benchInstances series, benchSamples counter samples each
// ending at end, and returns how many series rise fast enough to fire
// (rate above 10/s; the others rise at 1/s).
func appendBenchSeries(b *testing.B, store *metricstore.Store, services int, end time.Time) int {
	b.Helper()
	ctx := context.Background()
	firing := 0
	app := store.DB().Appender(ctx)
	for s := range services {
		svc := benchService(s)
		for i := range benchInstances {
			lbls := labels.FromStrings("__name__", "http_requests_total", "service", svc, "instance", fmt.Sprintf("10.%d.%d.%d:9100", s/250, s%250, i))
			rate := 1.0
			if benchFires(s, i) {
				rate = 20
				firing++
			}
			var (
				ref storage.SeriesRef
				err error
			)
			for k := range benchSamples {
				ts := end.Add(-time.Duration(benchSamples-1-k) * benchStep)
				v := 1e6 + rate*benchStep.Seconds()*float64(k)
				if ref, err = app.Append(ref, lbls, ts.UnixMilli(), v); err != nil {
					b.Fatal(err)
				}
			}
		}
		// Commit per 10 services (1,000 series) keeps the appender's
		// pending batch, and so the fixture's peak memory, small.
		if s%10 == 9 {
			if err := app.Commit(); err != nil {
				b.Fatal(err)
			}
			app = store.DB().Appender(ctx)
		}
	}
	if err := app.Commit(); err != nil {
		b.Fatal(err)
	}
	return firing
}

func benchService(s int) string { return fmt.Sprintf("svc-%05d", s) }

func benchRuleFile(services int) []byte {
	var sb strings.Builder
	sb.WriteString("groups:\n  - name: bench\n    interval: 15s\n    rules:\n")
	for s := range services {
		fmt.Fprintf(&sb, "      - alert: HighRequestRate\n        expr: rate(http_requests_total{service=%q}[5m]) > 10\n        labels: {severity: page}\n", benchService(s))
	}
	return []byte(sb.String())
}

// checkBenchEval fails the benchmark unless every rule evaluated cleanly
// and exactly the series meant to fire have a firing alert: a benchmark
// of rules that error out, or select nothing, would measure nothing.
func checkBenchEval(b *testing.B, g *rules.Group, wantFiring int) {
	b.Helper()
	firing := 0
	for _, r := range g.AlertingRules() {
		if r.Health() != rules.HealthGood {
			b.Fatalf("rule %s: health %s: %v", r.Query(), r.Health(), r.LastError())
		}
		for _, a := range r.ActiveAlerts() {
			if a.State == rules.StateFiring {
				firing++
			}
		}
	}
	if firing != wantFiring {
		b.Fatalf("%d alerts firing after the evaluation, want %d", firing, wantFiring)
	}
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// maxRSS is the process's peak resident set in bytes (Linux reports
// ru_maxrss in KiB).
func maxRSS(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return int64(ru.Maxrss) << 10
}
