// Package ruler evaluates Prometheus recording and alerting rules over
// Vigil's metrics store with Prometheus's own rule manager (the rules
// package), so rule files written for Prometheus work unchanged and
// promtool checks them. Groups may set their own interval, down to one
// second. Alerts are kept in the manager (served by /api/v1/rules and
// /api/v1/alerts, and written as the ALERTS and ALERTS_FOR_STATE series);
// sending them on is a NotifyFunc's job.
package ruler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"

	"github.com/vigilhq/vigil/watch"
)

// Options configure a Ruler.
type Options struct {
	// Files are rule files or globs, in Prometheus's rule file format.
	Files []string
	// Interval is the evaluation interval of groups that set none
	// (default 15s).
	Interval   time.Duration
	Engine     *promql.Engine
	Appendable storage.Appendable
	Queryable  storage.Queryable
	// ExternalURL is the base of alerts' generator URLs.
	ExternalURL string
	// Notify, if set, receives the alerts to send after each evaluation.
	Notify rules.NotifyFunc
	// History, if set, records every alert's pending, firing, resolved
	// and inactive transitions.
	History Recorder
	// Anomalies, if set, loads the rule files (so they may hold anomaly
	// rules) and evaluates each group's anomaly rules before its
	// Prometheus rules. With DefaultAnomalyRules its built-in rules
	// watch every service.
	Anomalies           *watch.Watcher
	DefaultAnomalyRules bool
	Logger              *slog.Logger
	Registerer          prometheus.Registerer
}

// Ruler runs the rule manager. Create it with New, run it with Run; it is
// safe for concurrent use.
type Ruler struct {
	o     Options
	m     *rules.Manager
	mu    sync.Mutex // serialises Reload
	files []string
	// iterate evaluates a group; nil is Prometheus's default.
	iterate rules.GroupEvalIterationFunc
}

// New loads the rule files (an invalid file is an error naming its place)
// and returns a Ruler ready to Run.
func New(o Options) (*Ruler, error) {
	if o.Interval <= 0 {
		o.Interval = 15 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	notify := o.Notify
	if notify == nil {
		notify = func(context.Context, string, ...*rules.Alert) {}
	}
	var loader rules.GroupLoader
	if o.Anomalies != nil {
		loader = o.Anomalies
	}
	m := rules.NewManager(&rules.ManagerOptions{
		GroupLoader: loader,
		Appendable:  o.Appendable,
		Queryable:   o.Queryable,
		QueryFunc:   rules.EngineQueryFunc(o.Engine, o.Queryable),
		NotifyFunc:  notify,
		Context:     context.Background(),
		Logger:      o.Logger,
		Registerer:  o.Registerer,
		// Prometheus's defaults: `for` state survives an outage of up
		// to an hour, and a restored alert waits 10m before firing.
		OutageTolerance: time.Hour,
		ForGracePeriod:  10 * time.Minute,
		ResendDelay:     time.Minute,
	})
	r := &Ruler{o: o, m: m}
	if o.History != nil {
		r.iterate = newTracker(o.History).iteration
	}
	if o.Anomalies != nil {
		r.iterate = o.Anomalies.Evaluate(r.iterate)
	}
	if err := r.Reload(o.Files); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload replaces the rule files; when one is invalid the old rules stay
// and the error names the file and the problem.
func (r *Ruler) Reload(patterns []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	files, err := Expand(patterns)
	if err != nil {
		return err
	}
	anomalies, errs := checkFiles(files)
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if r.o.Anomalies != nil && r.o.DefaultAnomalyRules {
		// Anomaly rule names key the detectors and the anomaly_rule
		// label: a user rule may not share one with a built-in rule.
		if err := watch.CheckUnique(append(r.o.Anomalies.Builtin(), anomalies...)); err != nil {
			return err
		}
		files = append(files, watch.DefaultRulesFile)
	}
	if err := r.m.Update(r.o.Interval, files, labels.EmptyLabels(), r.o.ExternalURL, r.iterate); err != nil {
		return fmt.Errorf("cannot load rules: %w", err)
	}
	if r.o.Anomalies != nil {
		var keys []string
		for _, g := range r.m.RuleGroups() {
			keys = append(keys, rules.GroupKey(g.File(), g.Name()))
		}
		r.o.Anomalies.Retain(keys)
	}
	r.files = files
	return nil
}

// Run evaluates the rules until ctx is done.
func (r *Ruler) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.m.Run()
	}()
	<-ctx.Done()
	r.m.Stop()
	<-done
	return nil
}

// Close stops the rule groups of a Ruler that never ran (their goroutines
// wait for Run from the moment the files load).
func (r *Ruler) Close() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = r.Run(ctx)
}

// Manager is the rule manager, for the API's rules and alerts endpoints.
func (r *Ruler) Manager() *rules.Manager { return r.m }

// Expand resolves globs; a pattern that matches nothing is an error, so
// a typo does not silently load no rules.
func Expand(patterns []string) ([]string, error) {
	var out []string
	for _, p := range patterns {
		m, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("rule files %q: %w", p, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("rule files %q: no such file", p)
		}
		out = append(out, m...)
	}
	return out, nil
}

// Check parses rule files as Prometheus (and promtool check rules) does,
// with Vigil's anomaly rules beside recording and alerting rules,
// returning every problem with its file and, where known, line.
func Check(files ...string) []error {
	_, errs := checkFiles(files)
	return errs
}

// checkFiles is Check that also returns the files' anomaly rules.
func checkFiles(files []string) ([]*watch.Rule, []error) {
	var errs []error
	seen := make(map[string]bool)
	var anomalies []*watch.Rule
	for _, f := range files {
		// watch.ParseFile names the file in every error.
		_, found, fileErrs := watch.ParseFile(f)
		anomalies = append(anomalies, found...)
		for _, e := range fileErrs {
			// rulefmt reports some YAML errors twice.
			if seen[e.Error()] {
				continue
			}
			seen[e.Error()] = true
			errs = append(errs, e)
		}
	}
	if err := watch.CheckUnique(anomalies); err != nil {
		errs = append(errs, err)
	}
	return anomalies, errs
}
