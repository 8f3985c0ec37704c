// Package gather stores the metrics of in-process registries (Vigil's own,
// and the host collector's) directly into the TSDB at a fixed interval.
//
// It is the in-process twin of a scrape: the same series a Prometheus
// scraping /metrics would store, with the same target labels semantics
// (the configured labels win; a clashing exposed label is kept as
// exported_<name>), staleness markers for series that disappear,
// metadata, and the exemplars of counters and histogram buckets (so the
// trace exemplars of traces/spanmetrics reach the exemplar store). Going through HTTP instead would need the read token and TLS
// settings of the listener and would spend CPU on text encoding for
// nothing.
package gather

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"

	"github.com/vigilhq/vigil/ingest/family"
)

// Options configures a Gatherer.
type Options struct {
	Gatherer   prometheus.Gatherer
	Appendable storage.AppendableV2
	// Interval between two gathers; zero means 15s.
	Interval time.Duration
	// Labels are added to every series, like a scrape's target labels
	// (typically job and instance).
	Labels labels.Labels
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ZeroNewCounters writes a 0 just before the first sample of every
	// new cumulative series (counters, histogram buckets, counts and
	// sums). For series the process creates at zero, such as the RED
	// metrics derived from spans, this is their true start: increase()
	// and rate() ignore a series' first sample, so without it an error
	// counter born at 1 (and reborn after going stale) counts nothing.
	ZeroNewCounters bool
}

// Gatherer copies a prometheus.Gatherer into storage. Run owns its state;
// GatherOnce must not be called concurrently with Run.
type Gatherer struct {
	o Options
	// last holds the series stored by the previous round, so the ones that
	// vanished get a staleness marker.
	last map[uint64]labels.Labels
}

// New returns a Gatherer; nothing runs until Run.
func New(o Options) *Gatherer {
	if o.Interval <= 0 {
		o.Interval = 15 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Gatherer{o: o, last: map[uint64]labels.Labels{}}
}

// Run gathers at once and then every Interval until ctx ends. On the way
// out it marks every stored series stale, as Prometheus does when a target
// goes away, so queries stop showing the last value as current. It
// returns nil; a failing round is logged and retried next tick.
func (g *Gatherer) Run(ctx context.Context) error {
	t := time.NewTicker(g.o.Interval)
	defer t.Stop()
	for {
		if err := g.GatherOnce(ctx); err != nil {
			g.o.Logger.Warn("cannot store gathered metrics", "err", err)
		}
		select {
		case <-ctx.Done():
			g.markAllStale()
			return nil
		case <-t.C:
		}
	}
}

// GatherOnce gathers and stores one round, stamped with the current time.
// Partial gather errors (one collector failing) are logged; what was
// gathered is still stored.
func (g *Gatherer) GatherOnce(ctx context.Context) error {
	mfs, err := g.o.Gatherer.Gather()
	if err != nil {
		g.o.Logger.Debug("gather reported errors", "err", err)
	}
	ts := g.o.Now().UnixMilli()
	app := g.o.Appendable.AppenderV2(ctx)
	seen := make(map[uint64]labels.Labels, len(g.last))
	var errs []error
	for _, mf := range mfs {
		opts := storage.AppendV2Options{MetricFamilyName: mf.GetName(), Metadata: family.Metadata(mf)}
		// family.Each builds a sample's labels, through the labeler, just
		// before handing the sample over; remembering the metric there
		// tells which dto.Metric, and so which exemplars, a sample is of.
		var cur *dto.Metric
		labeler := func(b *labels.Builder, name string, m *dto.Metric) {
			cur = m
			g.labeler(b, name, m)
		}
		err := family.Each(mf, labeler, func(s family.Sample) error {
			h := s.Labels.Hash()
			if _, dup := seen[h]; dup {
				return nil
			}
			if _, known := g.last[h]; g.o.ZeroNewCounters && !known && s.H == nil && s.FH == nil && cumulative(mf.GetType(), s.Labels) {
				_, _ = app.Append(0, s.Labels, 0, ts-1, 0, nil, nil, storage.AppendV2Options{MetricFamilyName: opts.MetricFamilyName})
			}
			opts.Exemplars = exemplarsOf(mf.GetType(), cur, s.Labels, ts)
			_, err := app.Append(0, s.Labels, 0, ts, s.V, s.H, s.FH, opts)
			var partial *storage.AppendPartialError
			if err != nil && errors.As(err, &partial) {
				// The sample is stored; only exemplars were refused (one
				// older than the series' last), which the next round
				// does not fix either.
				err = nil
			}
			if err != nil {
				// One bad series (a limit, a duplicate) must not cost the
				// rest of the round.
				if len(errs) < 3 {
					errs = append(errs, err)
				}
				return nil
			}
			seen[h] = s.Labels
			return nil
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	stale := math.Float64frombits(value.StaleNaN)
	for h, ls := range g.last {
		if _, ok := seen[h]; !ok {
			_, _ = app.Append(0, ls, 0, ts, stale, nil, nil, storage.AppendV2Options{})
		}
	}
	if err := app.Commit(); err != nil {
		return err
	}
	g.last = seen
	return errors.Join(errs...)
}

func (g *Gatherer) markAllStale() {
	if len(g.last) == 0 {
		return
	}
	app := g.o.Appendable.AppenderV2(context.Background())
	ts := g.o.Now().UnixMilli()
	stale := math.Float64frombits(value.StaleNaN)
	for _, ls := range g.last {
		_, _ = app.Append(0, ls, 0, ts, stale, nil, nil, storage.AppendV2Options{})
	}
	if err := app.Commit(); err != nil {
		g.o.Logger.Warn("cannot mark gathered series stale", "err", err)
	}
	g.last = map[uint64]labels.Labels{}
}

// labeler applies Prometheus's honor_labels: false rule: target labels win,
// and an exposed label of the same name is kept as exported_<name>.
func (g *Gatherer) labeler(b *labels.Builder, _ string, m *dto.Metric) {
	for _, l := range m.GetLabel() {
		name := l.GetName()
		if g.o.Labels.Has(name) {
			name = "exported_" + name
		}
		b.Set(name, l.GetValue())
	}
	g.o.Labels.Range(func(l labels.Label) { b.Set(l.Name, l.Value) })
}

// cumulative reports whether a sample only grows from zero: counters and
// the buckets, count and sum of histograms and summaries (not a
// summary's quantiles).
func cumulative(t dto.MetricType, ls labels.Labels) bool {
	switch t {
	case dto.MetricType_COUNTER, dto.MetricType_HISTOGRAM:
		return true
	case dto.MetricType_SUMMARY:
		name := ls.Get(labels.MetricName)
		return strings.HasSuffix(name, "_count") || strings.HasSuffix(name, "_sum")
	}
	return false
}
