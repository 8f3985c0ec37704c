package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/alertmanager/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/notifier"
)

// Sender takes the alerts of Vigil's rules (rules.SendAlerts calls Send
// after each evaluation) to the embedded Alertmanager, in process, and
// to any external Alertmanagers the configuration names.
type Sender struct {
	Embedded *Alertmanager
	External *External
	Logger   *slog.Logger
}

// Send implements rules.Sender.
func (s *Sender) Send(alerts ...*notifier.Alert) {
	if s.External != nil {
		s.External.Send(alerts...)
	}
	if s.Embedded == nil {
		return
	}
	now := time.Now()
	out := make([]*types.Alert, 0, len(alerts))
	for _, a := range alerts {
		out = append(out, Convert(a, now))
	}
	if err := s.Embedded.Put(context.Background(), out...); err != nil && s.Logger != nil {
		s.Logger.Warn("the embedded alertmanager refused alerts", "err", err)
	}
}

// Convert turns a rule's alert into Alertmanager's, as Alertmanager's
// POST /api/v2/alerts does with what Prometheus sends.
func Convert(a *notifier.Alert, now time.Time) *types.Alert {
	ls := make(model.LabelSet, a.Labels.Len())
	a.Labels.Range(func(l labels.Label) { ls[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
	an := make(model.LabelSet, a.Annotations.Len())
	a.Annotations.Range(func(l labels.Label) { an[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
	return &types.Alert{
		Alert: model.Alert{
			Labels:       ls,
			Annotations:  an,
			StartsAt:     a.StartsAt,
			EndsAt:       a.EndsAt,
			GeneratorURL: a.GeneratorURL,
		},
		UpdatedAt: now,
	}
}

// External sends alerts to Alertmanagers outside Vigil, with Prometheus's
// own notifier (queue, batching, API v2, retries) and its service
// discovery, configured by a Prometheus `alerting:` section.
type External struct {
	n      *notifier.Manager
	dm     *discovery.Manager
	ctx    context.Context
	cancel context.CancelFunc
	count  atomic.Int32

	// Alerts sent before discovery has found any Alertmanager would be
	// dropped by the notifier and sent again only after the resend delay
	// (a minute); they wait here instead, latest per label set.
	mu      sync.Mutex
	waiting map[uint64]*notifier.Alert
}

const maxWaiting = 10000

// NewExternal creates the notifier. Its metrics go to a registry of their
// own when reg is nil: the discovery metrics' names are shared with the
// scrape discovery, and registering them twice would fail.
func NewExternal(reg prometheus.Registerer, log *slog.Logger) (*External, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	sdReg := prometheus.NewRegistry()
	sdMetrics, err := discovery.CreateAndRegisterSDMetrics(sdReg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	dm := discovery.NewManager(ctx, log.With("component", "discovery-notify"), sdReg, sdMetrics,
		discovery.Name("notify"), discovery.Updatert(time.Second))
	if dm == nil {
		cancel()
		return nil, errors.New("cannot create the notify discovery manager")
	}
	n := notifier.NewManager(&notifier.Options{QueueCapacity: 10000, DrainOnShutdown: true, Registerer: reg},
		model.UTF8Validation, log.With("component", "notifier"))
	return &External{n: n, dm: dm, ctx: ctx, cancel: cancel}, nil
}

// ApplyConfig takes the alertmanagers of a Prometheus configuration.
func (e *External) ApplyConfig(cfg *promconfig.Config) error {
	if err := e.n.ApplyConfig(cfg); err != nil {
		return fmt.Errorf("alerting: %w", err)
	}
	c := make(map[string]discovery.Configs)
	for k, v := range cfg.AlertingConfig.AlertmanagerConfigs.ToMap() {
		c[k] = v.ServiceDiscoveryConfigs
	}
	e.count.Store(int32(len(c)))
	if err := e.dm.ApplyConfig(c); err != nil {
		return fmt.Errorf("alerting: %w", err)
	}
	return nil
}

// Send queues alerts for the external Alertmanagers; without any
// configured it does nothing.
func (e *External) Send(alerts ...*notifier.Alert) {
	if e.count.Load() == 0 {
		return
	}
	if len(e.n.Alertmanagers()) == 0 {
		e.mu.Lock()
		if e.waiting == nil {
			e.waiting = make(map[uint64]*notifier.Alert)
		}
		for _, a := range alerts {
			if len(e.waiting) < maxWaiting {
				e.waiting[a.Labels.Hash()] = a
			}
		}
		e.mu.Unlock()
		return
	}
	e.flushWaiting()
	e.n.Send(alerts...)
}

// flushWaiting sends the alerts held back once an Alertmanager is known.
func (e *External) flushWaiting() {
	e.mu.Lock()
	w := e.waiting
	e.waiting = nil
	e.mu.Unlock()
	if len(w) == 0 {
		return
	}
	out := make([]*notifier.Alert, 0, len(w))
	for _, a := range w {
		out = append(out, a)
	}
	e.n.Send(out...)
}

// Run runs discovery and the sender until ctx is done, then drains the
// queue.
func (e *External) Run(ctx context.Context) error {
	done := make(chan struct{}, 2)
	go func() { _ = e.dm.Run(); done <- struct{}{} }()
	go func() { e.n.Run(e.dm.SyncCh()); done <- struct{}{} }()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for waiting := true; waiting; {
		select {
		case <-ctx.Done():
			waiting = false
		case <-t.C:
			if len(e.n.Alertmanagers()) > 0 {
				e.flushWaiting()
			}
		}
	}
	e.n.Stop()
	e.cancel()
	<-done
	<-done
	return nil
}

// Alertmanagers lists the external Alertmanagers discovered.
func (e *External) Alertmanagers() []string {
	var out []string
	for _, u := range e.n.Alertmanagers() {
		out = append(out, u.String())
	}
	return out
}
