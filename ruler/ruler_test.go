package ruler

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/rules"

	"github.com/vigilhq/vigil/storage/metricstore"
)

const ruleFile = `groups:
  - name: fast
    interval: 1s
    rules:
      - record: job:queue_depth:sum
        expr: sum by (job) (queue_depth)
      - alert: QueueTooDeep
        expr: job:queue_depth:sum > 10
        labels: {severity: page}
        annotations: {summary: "queue of {{ $labels.job }} is {{ $value }}"}
`

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRecordAndAlert(t *testing.T) {
	store, err := metricstore.Open(metricstore.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	// A sample every second for the next two minutes, so the rules see
	// the series whenever they evaluate.
	app := store.DB().Appender(context.Background())
	now := time.Now()
	for i := range 120 {
		ts := now.Add(time.Duration(i-5) * time.Second).UnixMilli()
		for _, s := range []struct {
			inst string
			v    float64
		}{{"a", 7}, {"b", 8}} {
			if _, err := app.Append(0, labels.FromStrings("__name__", "queue_depth", "job", "worker", "instance", s.inst), ts, s.v); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	dir := t.TempDir()
	r, err := New(Options{Files: []string{writeFile(t, dir, "r.yml", ruleFile)}, Engine: engine, Appendable: store.DB(), Queryable: store})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	deadline := time.Now().Add(60 * time.Second)
	for {
		var firing []*rules.Alert
		for _, ar := range r.Manager().AlertingRules() {
			for _, a := range ar.ActiveAlerts() {
				if a.State == rules.StateFiring {
					firing = append(firing, a)
				}
			}
		}
		if len(firing) == 1 {
			a := firing[0]
			if a.Labels.Get("severity") != "page" || a.Labels.Get("job") != "worker" || a.Annotations.Get("summary") != "queue of worker is 15" {
				t.Fatalf("alert %v %v", a.Labels, a.Annotations)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no firing alert within 60s (rules: %d groups)", len(r.Manager().RuleGroups()))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The recording rule's series and ALERTS are in the store (written
	// at the end of the evaluation that fired the alert).
	for {
		q, err := engine.NewInstantQuery(context.Background(), store, nil, `job:queue_depth:sum + on(job) group_left ALERTS{alertname="QueueTooDeep", alertstate="firing"}`, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		res := q.Exec(context.Background())
		if res.Err == nil && strings.Contains(res.String(), "=> 16") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("recorded series and ALERTS: %v %s", res.Err, res)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestInvalidFilesKeepTheOldRules(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yml", ruleFile)
	bad := writeFile(t, dir, "bad.yml", "groups:\n  - name: x\n    rules:\n      - record: y\n        expr: sum(\n")
	store, err := metricstore.Open(metricstore.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: time.Minute})
	if _, err := New(Options{Files: []string{bad}, Engine: engine, Appendable: store.DB(), Queryable: store}); err == nil || !strings.Contains(err.Error(), "bad.yml") {
		t.Fatalf("New with a bad file: %v", err)
	}
	r, err := New(Options{Files: []string{good}, Engine: engine, Appendable: store.DB(), Queryable: store})
	if err != nil {
		t.Fatal(err)
	}
	err = r.Reload([]string{bad})
	if err == nil || !strings.Contains(err.Error(), "bad.yml") || !strings.Contains(err.Error(), "parse") {
		t.Fatalf("Reload with a bad file: %v", err)
	}
	if n := len(r.Manager().RuleGroups()); n != 1 {
		t.Fatalf("%d groups after a failed reload, want the old 1", n)
	}
	if err := r.Reload([]string{filepath.Join(dir, "nope-*.yml")}); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("Reload of a glob matching nothing: %v", err)
	}
	if errs := Check(good, bad); len(errs) != 1 {
		t.Fatalf("Check = %v", errs)
	}
}
