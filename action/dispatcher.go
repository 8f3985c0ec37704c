package action

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a Dispatcher.
type Options struct {
	Actions []Action
	// AuditDir holds the audit day files (audit-YYYY-MM-DD.jsonl). Empty
	// keeps records in memory only, and a restart forgets what ran.
	AuditDir string
	// Retention is how long day files are kept; default 30 days.
	Retention time.Duration
	// AuditMemory is how many recent records Audit can return; default
	// 10,000. Older ones are only in the day files.
	AuditMemory int
	// Now is the clock of decisions (firing, cooldowns, rate limits,
	// record times); default time.Now. Timeouts and backoff use real
	// time.
	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Muted reports whether an alert is silenced or inhibited; muted
	// alerts start no fire step. It is called with the Dispatcher's lock
	// held and must not call the Dispatcher.
	Muted func(labels map[string]string) bool
	// QueueSize bounds the alert updates waiting for the dispatcher
	// (default 4096); Observe drops what does not fit.
	QueueSize int
	// ActionQueueSize bounds each action's runs waiting for a
	// concurrency slot (default 100); what does not fit is dropped.
	ActionQueueSize int
	// CheckInterval is how often alerts are checked for an EndsAt that
	// passed without an update; default 10s.
	CheckInterval time.Duration
	// RestoreGrace is how long an action that was active when Vigil
	// stopped waits for its alert to be seen again; then the alert counts
	// as resolved (it may have resolved while Vigil was down) and the
	// resolve step runs. Default 1h, longer than the `for` of most alert
	// rules, which delays restored alerts.
	RestoreGrace time.Duration
}

// Dispatcher decides which action steps run for the alerts it observes
// and runs them. Create it with New and run it with Run; its methods are
// safe for concurrent use.
type Dispatcher struct {
	o      Options
	in     chan Alert
	m      *metrics
	client *http.Client
	// queued counts alerts accepted by Observe and not yet handled.
	queued atomic.Int64
	// observeDropped counts alerts Observe dropped since the last audit
	// record of them.
	observeDropped atomic.Int64

	mu        sync.Mutex
	order     []*runner // in configuration order
	runners   map[string]*runner
	pairs     map[pairKey]*pair
	audit     *auditLog
	runCtx    context.Context // nil until Run
	stopping  bool
	lastPrune string
	wg        sync.WaitGroup // runs in flight
}

// runner is one action's run queue and counters. mu must be held.
type runner struct {
	spec    *spec
	queue   []*job // waiting for a concurrency slot
	running int
	busy    map[uint64]bool // fingerprints with a run in flight: one at a time, in order
	window  []time.Time     // fire steps within the rate limit's window
	counts  map[Outcome]uint64
	last    *AuditRecord
}

type pairKey struct {
	action string
	fp     uint64
}

// pair is the state of one (action, alert fingerprint). mu must be held.
type pair struct {
	alert    Alert
	firing   bool // the last update said firing
	fired    bool // a fire step started in this firing episode
	lastFire time.Time
	// noted are the skip outcomes recorded in this episode: a firing
	// alert repeats every evaluation, its skips are recorded once.
	noted map[Outcome]bool
	// restored is when the pair was rebuilt from the audit files as
	// active; zero once its alert was seen again.
	restored time.Time
	inflight int // jobs queued or running
}

type job struct {
	spec  *spec
	step  *compiledStep
	phase Phase
	alert Alert
	pair  *pair
	rec   AuditRecord
}

// New validates the actions and rebuilds, from the audit files, when each
// (action, alert) last fired and whether it is still active, so that a
// restart does not run a fire step again within its cooldown. It starts
// no goroutines.
func New(o Options) (*Dispatcher, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Retention <= 0 {
		o.Retention = 30 * 24 * time.Hour
	}
	if o.AuditMemory <= 0 {
		o.AuditMemory = defaultAuditMemory
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 4096
	}
	if o.ActionQueueSize <= 0 {
		o.ActionQueueSize = 100
	}
	if o.CheckInterval <= 0 {
		o.CheckInterval = 10 * time.Second
	}
	if o.RestoreGrace <= 0 {
		o.RestoreGrace = time.Hour
	}
	specs, err := compileAll(o.Actions)
	if err != nil {
		return nil, err
	}
	if o.AuditDir != "" {
		// Fail at start, not at the first run, when the directory is
		// unusable.
		if err := os.MkdirAll(o.AuditDir, 0o755); err != nil {
			return nil, fmt.Errorf("cannot create the action audit directory: %w", err)
		}
	}
	d := &Dispatcher{
		o:       o,
		in:      make(chan Alert, o.QueueSize),
		m:       newMetrics(),
		client:  &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
		runners: map[string]*runner{},
		pairs:   map[pairKey]*pair{},
		audit:   newAuditLog(o.AuditDir, o.AuditMemory, o.Retention, o.Logger),
	}
	d.o.Actions = nil
	now := o.Now()
	d.audit.prune(now)
	d.lastPrune = now.UTC().Format(dayLayout)
	if err := d.restore(now); err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.setActionsLocked(specs) // forgets restored pairs of actions no longer configured
	for name, rec := range d.audit.lastRuns() {
		if r := d.runners[name]; r != nil {
			r.last = &rec
		}
	}
	d.mu.Unlock()
	// Last, so that a failed New leaves the registry as it was.
	if err := d.m.register(o.Registerer); err != nil {
		return nil, err
	}
	return d, nil
}

// restore rebuilds the pairs from the audit files: a fire step that
// started sets the last fire time and makes the pair active; a resolve
// step that started makes it inactive. A run whose final record is
// missing was interrupted by a crash; it gets a final record now, so that
// it does not show as running for ever.
func (d *Dispatcher) restore(now time.Time) error {
	open := map[string]AuditRecord{}
	err := d.audit.load(func(rec AuditRecord) {
		if rec.Outcome == OutcomeRunning {
			open[rec.ID] = rec
		} else {
			delete(open, rec.ID)
		}
		if rec.Action == "" || !rec.Outcome.executed() {
			return
		}
		fp, err := parseFingerprint(rec.Fingerprint)
		if err != nil {
			return
		}
		key := pairKey{rec.Action, fp}
		p := d.pairs[key]
		if p == nil {
			p = &pair{alert: Alert{Fingerprint: fp}}
			d.pairs[key] = p
		}
		p.alert.Labels = rec.Labels
		switch rec.Phase {
		case PhaseFire:
			if rec.StartedAt.After(p.lastFire) {
				p.lastFire = rec.StartedAt
			}
			p.fired, p.firing = true, true
		case PhaseResolve:
			p.fired, p.firing = false, false
		}
	})
	if err != nil {
		return fmt.Errorf("cannot rebuild action state from the audit files in %s: %w", d.o.AuditDir, err)
	}
	for _, p := range d.pairs {
		if p.fired {
			p.restored = now
		}
	}
	interrupted := slices.SortedFunc(maps.Values(open), func(a, b AuditRecord) int { return a.StartedAt.Compare(b.StartedAt) })
	for _, rec := range interrupted {
		rec.Outcome = OutcomeFailed
		rec.Error = "interrupted: Vigil stopped while the step ran"
		if err := d.audit.append(rec, now); err != nil {
			d.o.Logger.Warn("cannot write action audit record", "err", err)
		}
	}
	// Run reopens it: a Dispatcher that never runs holds no file.
	d.audit.closeFile()
	return nil
}

// Run handles observed alerts and checks for expired ones until ctx is
// done. Then it stops starting runs, records the queued ones as dropped,
// cancels the running ones (killing their processes), waits for them and
// returns nil. Run may be called once.
func (d *Dispatcher) Run(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.mu.Lock()
	if d.runCtx != nil {
		d.mu.Unlock()
		return errors.New("action dispatcher: Run was already called")
	}
	d.runCtx = runCtx
	d.mu.Unlock()
	tick := time.NewTicker(d.o.CheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			d.shutdown()
			return nil
		case a := <-d.in:
			d.handle(a)
			d.queued.Add(-1)
		case <-tick.C:
			d.tick()
		}
	}
}

func (d *Dispatcher) shutdown() {
	d.mu.Lock()
	d.stopping = true
	for _, r := range d.order {
		for _, j := range r.queue {
			d.dropJobLocked(r, j, "not started: Vigil is stopping")
		}
		r.queue = nil
	}
	d.mu.Unlock()
	d.wg.Wait()
	d.mu.Lock()
	d.flushObserveDropsLocked(d.o.Now())
	d.audit.close()
	d.mu.Unlock()
	d.client.CloseIdleConnections()
}

// Observe hands alert updates to the dispatcher. It never blocks: an
// update that does not fit in the queue is dropped and counted (the
// pipeline resends firing alerts, so a later update takes its place). It
// copies the alerts' maps.
func (d *Dispatcher) Observe(alerts ...Alert) {
	for _, a := range alerts {
		d.queued.Add(1)
		select {
		case d.in <- a.clone():
		default:
			d.queued.Add(-1)
			d.observeDropped.Add(1)
			d.m.dropped.Inc()
		}
	}
}

// Update replaces the actions, keeping the state (last fire, active
// alerts, rate limit window, counters) of those that keep their name.
// Runs already queued keep the configuration they were queued with;
// queued runs of removed actions are dropped. On error nothing changes.
func (d *Dispatcher) Update(actions []Action) error {
	specs, err := compileAll(actions)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.setActionsLocked(specs)
	return nil
}

func (d *Dispatcher) setActionsLocked(specs []*spec) {
	old := d.runners
	d.runners = make(map[string]*runner, len(specs))
	d.order = d.order[:0]
	for _, s := range specs {
		r := old[s.Name]
		if r == nil {
			r = &runner{busy: map[uint64]bool{}, counts: map[Outcome]uint64{}}
		}
		r.spec = s
		d.runners[s.Name] = r
		d.order = append(d.order, r)
	}
	for name, r := range old {
		if d.runners[name] != nil {
			continue
		}
		for _, j := range r.queue {
			d.dropJobLocked(r, j, "not started: the action was removed by a reload")
		}
		r.queue = nil
	}
	for key := range d.pairs {
		if d.runners[key.action] == nil {
			delete(d.pairs, key)
		}
	}
	for _, r := range d.order {
		d.startLocked(r) // a raised max_concurrency may start queued runs
	}
}

// handle applies one alert update to every action it matches.
func (d *Dispatcher) handle(a Alert) {
	now := d.o.Now()
	firing := a.firing(now)
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range d.order {
		if !matches(r.spec.Match, a.Labels) {
			continue
		}
		key := pairKey{r.spec.Name, a.Fingerprint}
		p := d.pairs[key]
		if p == nil {
			if !firing {
				continue // resolved before it ever fired here
			}
			p = &pair{}
			d.pairs[key] = p
		}
		p.alert = a
		p.restored = time.Time{}
		if firing {
			d.firingLocked(r, p, now)
		} else {
			d.resolvedLocked(r, p, now)
		}
	}
}

// firingLocked starts the fire step of a firing pair unless it already
// started in this episode, or the alert is muted, in cooldown, or over
// the rate limit, or the queue is full. A skipped episode is reconsidered
// on each later update, so it fires once the reason is gone.
func (d *Dispatcher) firingLocked(r *runner, p *pair, now time.Time) {
	if !p.firing {
		clear(p.noted) // a new episode
	}
	p.firing = true
	if p.fired {
		return
	}
	s := r.spec
	switch {
	case d.o.Muted != nil && d.o.Muted(p.alert.Labels):
		d.skipLocked(r, p, PhaseFire, OutcomeMuted, now, "the alert is silenced or inhibited")
	case s.Cooldown > 0 && !p.lastFire.IsZero() && now.Before(p.lastFire.Add(s.Cooldown)):
		d.skipLocked(r, p, PhaseFire, OutcomeSkippedCooldown, now,
			fmt.Sprintf("the fire step last started at %s; cooldown %s", p.lastFire.UTC().Format(time.RFC3339), s.Cooldown))
	case len(r.queue) >= d.o.ActionQueueSize:
		d.m.dropped.Inc()
		d.skipLocked(r, p, PhaseFire, OutcomeDropped, now, fmt.Sprintf("the action's queue is full (%d runs wait)", len(r.queue)))
	case !r.allow(now):
		d.skipLocked(r, p, PhaseFire, OutcomeRateLimited, now,
			fmt.Sprintf("rate limit of %d per %s reached", s.RateLimit.Count, s.RateLimit.Per))
	default:
		p.fired = true
		p.lastFire = now
		d.enqueueLocked(r, p, PhaseFire, s.fire)
	}
}

// resolvedLocked ends a pair's episode and starts its resolve step if the
// fire step started in it.
func (d *Dispatcher) resolvedLocked(r *runner, p *pair, now time.Time) {
	fired := p.fired
	p.firing, p.fired = false, false
	clear(p.noted)
	if !fired || r.spec.resolve == nil {
		return
	}
	if len(r.queue) >= d.o.ActionQueueSize {
		d.m.dropped.Inc()
		d.skipLocked(r, p, PhaseResolve, OutcomeDropped, now, fmt.Sprintf("the action's queue is full (%d runs wait)", len(r.queue)))
		return
	}
	d.enqueueLocked(r, p, PhaseResolve, r.spec.resolve)
}

// allow takes a slot of the rate limit at now if one is free.
func (r *runner) allow(now time.Time) bool {
	rl := r.spec.RateLimit
	if rl.Count <= 0 {
		return true
	}
	cut := now.Add(-rl.Per)
	i := 0
	for i < len(r.window) && !r.window[i].After(cut) {
		i++
	}
	r.window = r.window[i:]
	if len(r.window) >= rl.Count {
		return false
	}
	r.window = append(r.window, now)
	return true
}

func (d *Dispatcher) enqueueLocked(r *runner, p *pair, phase Phase, step *compiledStep) {
	p.inflight++
	r.queue = append(r.queue, &job{spec: r.spec, step: step, phase: phase, alert: p.alert, pair: p})
	d.startLocked(r)
}

// startLocked starts queued runs while the action has free slots, taking
// the oldest run whose alert has none in flight (so an alert's resolve
// step follows its fire step).
func (d *Dispatcher) startLocked(r *runner) {
	if d.runCtx == nil || d.stopping {
		return
	}
	for r.running < r.spec.MaxConcurrency {
		i := slices.IndexFunc(r.queue, func(j *job) bool { return !r.busy[j.alert.Fingerprint] })
		if i < 0 {
			return
		}
		j := r.queue[i]
		r.queue = slices.Delete(r.queue, i, i+1)
		r.running++
		r.busy[j.alert.Fingerprint] = true
		now := d.o.Now()
		j.rec = d.newRecord(j.spec, j.phase, j.alert, now)
		j.rec.Outcome = OutcomeRunning
		d.recordLocked(r, j.rec)
		d.wg.Add(1)
		go d.work(d.runCtx, r, j)
	}
}

// work runs one job and starts the next.
func (d *Dispatcher) work(ctx context.Context, r *runner, j *job) {
	defer d.wg.Done()
	rec := d.execute(ctx, j)
	d.mu.Lock()
	defer d.mu.Unlock()
	r.running--
	delete(r.busy, j.alert.Fingerprint)
	j.pair.inflight--
	d.recordLocked(r, rec)
	d.startLocked(r)
}

func (d *Dispatcher) dropJobLocked(r *runner, j *job, why string) {
	j.pair.inflight--
	d.m.dropped.Inc()
	rec := d.newRecord(j.spec, j.phase, j.alert, d.o.Now())
	rec.Outcome = OutcomeDropped
	rec.Error = why
	d.recordLocked(r, rec)
}

// skipLocked records a decision not to run, once per episode and reason.
func (d *Dispatcher) skipLocked(r *runner, p *pair, phase Phase, o Outcome, now time.Time, why string) {
	if p.noted[o] {
		return
	}
	if p.noted == nil {
		p.noted = map[Outcome]bool{}
	}
	p.noted[o] = true
	rec := d.newRecord(r.spec, phase, p.alert, now)
	rec.Outcome = o
	rec.Error = why
	d.recordLocked(r, rec)
}

func (d *Dispatcher) newRecord(s *spec, phase Phase, a Alert, now time.Time) AuditRecord {
	return AuditRecord{
		ID:          newID(now),
		Action:      s.Name,
		Phase:       phase,
		Fingerprint: fingerprintString(a.Fingerprint),
		AlertName:   a.Labels["alertname"],
		Labels:      a.Labels,
		StartedAt:   now,
		DryRun:      s.DryRun,
	}
}

// recordLocked writes rec to the audit log and counts it. r is nil for
// records of no action.
func (d *Dispatcher) recordLocked(r *runner, rec AuditRecord) {
	if err := d.audit.append(rec, d.o.Now()); err != nil {
		d.o.Logger.Warn("cannot write action audit record", "err", err)
	}
	if r != nil {
		if rec.Outcome.executed() {
			r.last = &rec
		}
		if rec.Outcome != OutcomeRunning {
			r.counts[rec.Outcome]++
		}
	}
	if rec.Outcome == OutcomeRunning || rec.Action == "" {
		return
	}
	d.m.runs.WithLabelValues(rec.Action, string(rec.Phase), string(rec.Outcome)).Inc()
	if rec.Outcome.executed() {
		d.m.duration.WithLabelValues(rec.Action).Observe(rec.DurationSeconds)
	}
	level := slog.LevelDebug
	switch rec.Outcome {
	case OutcomeSucceeded, OutcomeDryRun:
		level = slog.LevelInfo
	case OutcomeFailed, OutcomeTimedOut, OutcomeDropped:
		level = slog.LevelWarn
	}
	d.o.Logger.Log(context.Background(), level, "action step", "action", rec.Action, "phase", rec.Phase,
		"outcome", rec.Outcome, "alertname", rec.AlertName, "fingerprint", rec.Fingerprint,
		"attempts", rec.Attempts, "duration", rec.DurationSeconds, "err", rec.Error)
}

// tick resolves pairs whose alert's EndsAt passed without an update (and
// restored ones not seen within the grace), forgets idle pairs, prunes
// old audit files once a day and records observe-queue drops.
func (d *Dispatcher) tick() {
	now := d.o.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	for key, p := range d.pairs {
		r := d.runners[key.action]
		if r == nil {
			delete(d.pairs, key)
			continue
		}
		switch {
		case !p.restored.IsZero():
			if now.Sub(p.restored) >= d.o.RestoreGrace {
				p.restored = time.Time{}
				p.alert.EndsAt = now
				d.resolvedLocked(r, p, now)
			}
		case p.firing && !p.alert.firing(now):
			d.resolvedLocked(r, p, now)
		}
		if !p.firing && !p.fired && p.inflight == 0 && (p.lastFire.IsZero() || !now.Before(p.lastFire.Add(r.spec.Cooldown))) {
			delete(d.pairs, key)
		}
	}
	if day := now.UTC().Format(dayLayout); day != d.lastPrune {
		d.audit.prune(now)
		d.lastPrune = day
	}
	d.flushObserveDropsLocked(now)
}

// flushObserveDropsLocked writes one record for the updates Observe
// dropped since the last one, rather than one per update.
func (d *Dispatcher) flushObserveDropsLocked(now time.Time) {
	n := d.observeDropped.Swap(0)
	if n == 0 {
		return
	}
	d.recordLocked(nil, AuditRecord{
		ID:        newID(now),
		StartedAt: now,
		Outcome:   OutcomeDropped,
		Error:     fmt.Sprintf("%d alert updates dropped: the observe queue (%d) was full", n, d.o.QueueSize),
	})
}

// Audit returns the records that match q, most recently recorded first.
// It searches the most recent Options.AuditMemory records only.
func (d *Dispatcher) Audit(q AuditQuery) []AuditRecord {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.audit.query(q)
}

func newID(now time.Time) string {
	return fmt.Sprintf("%x-%08x", now.UnixNano(), rand.Uint32())
}

func parseFingerprint(s string) (uint64, error) {
	return strconv.ParseUint(s, 16, 64)
}
