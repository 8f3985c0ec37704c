// Package sampling is Vigil's optional tail sampler: it holds a trace's
// spans until the trace has had time to arrive (DecisionWait after its
// first span), then keeps the traces that matter and drops most of the
// rest.
//
// A trace is kept when any span has status "error", else when any span
// lasted at least LatencyThreshold, else when its randomness value falls
// under Fraction. The randomness value is the trace id's low 56 bits (or
// an explicit rv in the span's OpenTelemetry tracestate entry), compared
// with the rejection threshold as in OpenTelemetry's consistent
// probability sampling: several Vigil instances, and SDKs sampling at a
// lower probability, all keep the same traces. Spans arriving after their
// trace's decision follow it, as long as the decision is remembered
// (DecisionCache); a trace forgotten and seen again is decided afresh,
// which agrees for probabilistic keeps and may keep only the tail of a
// trace that turns out to hold an error.
//
// Memory is bounded: MaxTraces and MaxSpans bound what waits for a
// decision (when either is full the oldest traces are decided early),
// MaxSpansPerTrace decides a huge trace at once, and MaxBacklogSpans
// bounds kept spans waiting for Next.
//
// Durability: spans waiting for a decision, and kept spans waiting for
// Next, are held in memory only. They are not durable until Next has
// returned; a crash loses them, and so does an error from Next (it is
// logged and counted, not retried). That is the trade-off of tail
// sampling: an acknowledged OTLP export is no longer a stored one. RED
// metrics must therefore be computed by the caller before Offer, from
// every span, or they would describe only the sample.
package sampling

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilhq/vigil/storage/spans"
)

// Options configure a Sampler. Zero values take the defaults named.
type Options struct {
	// DecisionWait is the time after a trace's first span before it is
	// decided; 0 means 5s. Longer waits see more complete traces and
	// hold more memory.
	DecisionWait time.Duration
	// Fraction is the share of ordinary traces (no error, not slow) kept,
	// between 0 and 1.
	Fraction float64
	// LatencyThreshold keeps traces with any span at least this long; 0
	// turns the rule off.
	LatencyThreshold time.Duration
	// MaxTraces bounds traces waiting for a decision; when full, the
	// oldest is decided early. 0 means 50,000.
	MaxTraces int
	// MaxSpans bounds spans waiting for a decision across all traces;
	// when full, the oldest traces are decided early. 0 means 1,000,000.
	// MaxTraces alone would not bound memory: traces vary in size.
	MaxSpans int
	// MaxSpansPerTrace decides a trace as soon as it holds this many
	// spans. 0 means 10,000.
	MaxSpansPerTrace int
	// DecisionCache is how many decisions are remembered for late spans.
	// 0 means 100,000.
	DecisionCache int
	// MaxBacklogSpans bounds kept spans waiting for Next (while Next is
	// slow or failing); spans kept beyond it are lost and counted. 0 means
	// 100,000.
	MaxBacklogSpans int
	// Next receives kept spans, from Run's goroutine only, one call at a
	// time: all traces kept in one tick go in one call. The slice is
	// Next's to keep; the sampler does not reuse it. Its context is not cancelled when Run's
	// is, so the final flush can finish; Next must bound its own time.
	Next       func(ctx context.Context, kept []spans.Span) error
	Registerer prometheus.Registerer // nil: metrics are not registered
	Logger     *slog.Logger          // nil: discard
	Now        func() time.Time      // nil: time.Now
}

// Sampler is a tail sampler. Offer may be called from any goroutine; Run
// must be running for decisions to be made and kept spans written.
type Sampler struct {
	o         Options
	threshold uint64 // rejection threshold: keep when randomness >= threshold
	tick      time.Duration
	m         *metrics
	wake      chan struct{} // capacity 1: the backlog has become non-empty
	running   atomic.Bool

	mu sync.Mutex
	// traces and the list oldest…newest hold the same undecided traces;
	// the list is in arrival order, which is deadline order too since
	// every trace waits the same DecisionWait.
	traces         map[[16]byte]*trace
	oldest, newest *trace
	bufferedSpans  int
	decided        decisionCache
	backlog        []spans.Span // kept spans for the next Next call
	stopped        bool         // Run has flushed and returned; nothing more will be written
	warnedStopped  bool
}

type trace struct {
	id         [16]byte
	deadline   time.Time
	spans      []spans.Span
	hasError   bool
	maxNanos   int64
	randomness uint64 // from the first span that names an explicit rv, else the id
	explicitRV bool
	prev, next *trace
}

// New returns a Sampler; Run must be started for it to decide anything.
func New(o Options) (*Sampler, error) {
	if o.Next == nil {
		return nil, errors.New("cannot create tail sampler: Next is nil; pass the span store's append function")
	}
	if math.IsNaN(o.Fraction) || o.Fraction < 0 || o.Fraction > 1 {
		return nil, fmt.Errorf("cannot create tail sampler: fraction %v is out of range; set it between 0 and 1", o.Fraction)
	}
	if o.DecisionWait < 0 || o.LatencyThreshold < 0 {
		return nil, fmt.Errorf("cannot create tail sampler: decision wait %v and latency threshold %v must not be negative", o.DecisionWait, o.LatencyThreshold)
	}
	if o.MaxTraces < 0 || o.MaxSpans < 0 || o.MaxSpansPerTrace < 0 || o.DecisionCache < 0 || o.MaxBacklogSpans < 0 {
		return nil, errors.New("cannot create tail sampler: limits must not be negative; use 0 for the default")
	}
	setDefault(&o.DecisionWait, 5*time.Second)
	setDefault(&o.MaxTraces, 50_000)
	setDefault(&o.MaxSpans, 1_000_000)
	setDefault(&o.MaxSpansPerTrace, 10_000)
	setDefault(&o.DecisionCache, 100_000)
	setDefault(&o.MaxBacklogSpans, 100_000)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	// A trace is decided up to one tick after its deadline. A tenth of
	// the wait, at most 100ms, keeps that lateness small next to the wait
	// while Run wakes at most ten times a second at the default.
	tick := min(100*time.Millisecond, o.DecisionWait/10)
	tick = max(tick, time.Millisecond)
	return &Sampler{
		o:         o,
		threshold: rejectionThreshold(o.Fraction),
		tick:      tick,
		m:         m,
		wake:      make(chan struct{}, 1),
		traces:    make(map[[16]byte]*trace),
		decided:   newDecisionCache(o.DecisionCache),
	}, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Offer hands spans to the sampler. It takes ownership of the spans'
// maps and slices (the batch slice itself may be reused). It never waits
// for Next: spans of a trace already kept are queued for Run to write
// promptly, spans of a trace already dropped are dropped, and the rest
// wait for their trace's decision. Offer is safe for concurrent use.
func (s *Sampler) Offer(batch []spans.Span) {
	if len(batch) == 0 {
		return
	}
	now := s.o.Now()
	var c counts
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		c.lost[lostStopped] += len(batch)
		if !s.warnedStopped {
			s.warnedStopped = true
			s.o.Logger.Warn("spans offered to the tail sampler after it stopped are lost; stop ingest before the sampler", "spans", len(batch))
		}
		s.m.add(&c)
		return
	}
	hadBacklog := len(s.backlog) > 0
	for i := range batch {
		sp := &batch[i]
		if kept, ok := s.decided.get(sp.TraceID); ok {
			if kept {
				c.late[keptSpans]++
				c.spans[keptSpans]++
				s.appendBacklogLocked(&c, *sp)
			} else {
				c.late[droppedSpans]++
				c.spans[droppedSpans]++
			}
			continue
		}
		t := s.traces[sp.TraceID]
		if t == nil {
			for len(s.traces) >= s.o.MaxTraces {
				s.decideLocked(&c, s.oldest, forcedBufferFull)
			}
			t = &trace{id: sp.TraceID, deadline: now.Add(s.o.DecisionWait)}
			// Exporters often send a trace's spans side by side; sizing for
			// that run saves the slice's growth copies (spans are ~280 bytes).
			run := 1
			for run < s.o.MaxSpansPerTrace && i+run < len(batch) && batch[i+run].TraceID == sp.TraceID {
				run++
			}
			t.spans = make([]spans.Span, 0, max(run, 4))
			s.traces[t.id] = t
			s.pushLocked(t)
		}
		t.add(sp)
		s.bufferedSpans++
		if len(t.spans) >= s.o.MaxSpansPerTrace {
			s.decideLocked(&c, t, forcedTooLarge)
		}
		for s.bufferedSpans > s.o.MaxSpans {
			s.decideLocked(&c, s.oldest, forcedBufferFull)
		}
	}
	s.m.add(&c)
	s.updateGaugesLocked()
	// Only the first spans into an empty backlog need to wake Run: while
	// the backlog is non-empty a wake-up is pending, or Run has taken it
	// and is about to lock s.mu and take the backlog too.
	if !hadBacklog && len(s.backlog) > 0 {
		select {
		case s.wake <- struct{}{}:
		default: // Run has a wake-up pending already
		}
	}
}

func (t *trace) add(sp *spans.Span) {
	if len(t.spans) == 0 {
		t.randomness = randomness(sp.TraceID)
	}
	if !t.explicitRV {
		if rv, ok := explicitRandomness(sp.TraceState); ok {
			t.randomness, t.explicitRV = rv, true
		}
	}
	if sp.StatusCode == "error" {
		t.hasError = true
	}
	t.maxNanos = max(t.maxNanos, sp.DurationNanos)
	t.spans = append(t.spans, *sp)
}

// Run decides traces as they come due and writes kept spans to Next,
// until ctx ends; then it decides everything still buffered, writes what
// is kept, and returns. It returns an error only if that final write
// failed, or if Run is called twice. After Run returns, offered spans are
// lost (and counted): stop ingest first.
func (s *Sampler) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("cannot run tail sampler: it is already running or has run; call Run once")
	}
	// Next gets a context that outlives ctx so a write under way when ctx
	// ends, and the final flush, still complete: spans were acknowledged
	// to clients and a cancelled write would lose them for no reason.
	writeCtx := context.WithoutCancel(ctx)
	ticker := time.NewTicker(s.tick)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := s.flush(writeCtx, true); err != nil {
				return fmt.Errorf("cannot write kept spans at shutdown: %w", err)
			}
			return nil
		case <-ticker.C:
		case <-s.wake:
		}
		_ = s.flush(writeCtx, false) // logged and counted in flush
	}
}

// flush decides the traces that are due (all of them when final) and
// writes the backlog in one Next call. It is called only from Run, so
// Next is never called concurrently.
func (s *Sampler) flush(ctx context.Context, final bool) error {
	var c counts
	s.mu.Lock()
	now := s.o.Now()
	for t := s.oldest; t != nil && (final || !t.deadline.After(now)); t = s.oldest {
		reason := notForced
		if final {
			reason = forcedShutdown
		}
		s.decideLocked(&c, t, reason)
	}
	if final {
		s.stopped = true
	}
	batch := s.backlog
	s.backlog = nil
	s.m.add(&c)
	s.updateGaugesLocked()
	s.mu.Unlock()

	if len(batch) == 0 {
		return nil
	}
	if err := s.o.Next(ctx, batch); err != nil {
		s.m.writeErrors.Inc()
		s.m.lost[lostWriteError].Add(float64(len(batch)))
		s.o.Logger.Error("cannot write kept spans; they are lost", "spans", len(batch), "err", err)
		return err
	}
	return nil
}

// decideLocked decides t, removes it from the buffer, remembers the
// decision and queues kept spans. s.mu must be held.
func (s *Sampler) decideLocked(c *counts, t *trace, forced forcedReason) {
	if t == nil {
		panic("BUG: tail sampler asked to decide a nil trace; buffer counts are out of step")
	}
	d := s.decisionFor(t)
	c.traces[d]++
	if forced != notForced {
		c.forced[forced]++
	}
	delete(s.traces, t.id)
	s.unlinkLocked(t)
	s.bufferedSpans -= len(t.spans)
	kept := d != dropped
	s.decided.put(t.id, kept)
	if kept {
		c.spans[keptSpans] += len(t.spans)
		s.appendBacklogLocked(c, t.spans...)
	} else {
		c.spans[droppedSpans] += len(t.spans)
	}
	t.spans = nil
}

// decisionFor applies the rules in order: error, latency, randomness.
func (s *Sampler) decisionFor(t *trace) decision {
	switch {
	case t.hasError:
		return keptError
	case s.o.LatencyThreshold > 0 && t.maxNanos >= s.o.LatencyThreshold.Nanoseconds():
		return keptLatency
	case t.randomness >= s.threshold:
		return keptProbabilistic
	default:
		return dropped
	}
}

// appendBacklogLocked queues kept spans for Next, losing those beyond
// MaxBacklogSpans. s.mu must be held.
func (s *Sampler) appendBacklogLocked(c *counts, sp ...spans.Span) {
	room := max(s.o.MaxBacklogSpans-len(s.backlog), 0)
	if len(sp) > room {
		c.lost[lostBacklogFull] += len(sp) - room
		sp = sp[:room]
	}
	s.backlog = append(s.backlog, sp...)
}

// pushLocked appends t as the newest trace. s.mu must be held.
func (s *Sampler) pushLocked(t *trace) {
	t.prev = s.newest
	if s.newest != nil {
		s.newest.next = t
	} else {
		s.oldest = t
	}
	s.newest = t
}

// unlinkLocked removes t from the arrival list. s.mu must be held.
func (s *Sampler) unlinkLocked(t *trace) {
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		s.oldest = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	} else {
		s.newest = t.prev
	}
	t.prev, t.next = nil, nil
}

func (s *Sampler) updateGaugesLocked() {
	s.m.bufferedTraces.Set(float64(len(s.traces)))
	s.m.bufferedSpans.Set(float64(s.bufferedSpans))
	s.m.backlogSpans.Set(float64(len(s.backlog)))
}

// rejectionThreshold is the rejection threshold for keeping a fraction of traces,
// as OpenTelemetry's consistent probability sampling defines it: a trace
// is kept when its 56-bit randomness value is at least (1-fraction)×2^56.
// Keeping the high randomness values, not the low ones, is what makes a
// trace kept by an SDK at probability p also kept here at any fraction ≥ p.
func rejectionThreshold(fraction float64) uint64 {
	const span = 1 << 56
	switch {
	case fraction >= 1:
		return 0
	case fraction <= 0:
		return span // no 56-bit value reaches it
	}
	// Scaling the fraction, not 1-fraction, keeps full precision: near
	// 2^56 a float64 resolves only multiples of 8. This is how the
	// OpenTelemetry Collector's sampling package computes a
	// full-precision threshold, so the two agree to the last bit.
	return span - uint64(math.Round(fraction*span))
}

// randomness is the W3C trace context level 2 random part of a trace id:
// its rightmost 7 bytes.
func randomness(id [16]byte) uint64 {
	return binary.BigEndian.Uint64(id[8:]) & (1<<56 - 1)
}

// explicitRandomness reads rv from the "ot" entry of a W3C tracestate
// ("ot=th:8;rv:9b8233f7e3a151"), which SDKs set when trace ids are not
// random enough; it then takes precedence over the id.
func explicitRandomness(ts string) (uint64, bool) {
	if !strings.Contains(ts, "rv:") {
		return 0, false // the common case, without splitting
	}
	for member := range strings.SplitSeq(ts, ",") {
		v, ok := strings.CutPrefix(strings.TrimSpace(member), "ot=")
		if !ok {
			continue
		}
		for field := range strings.SplitSeq(v, ";") {
			hex, ok := strings.CutPrefix(field, "rv:")
			if !ok || len(hex) != 14 {
				continue
			}
			rv, err := strconv.ParseUint(hex, 16, 64)
			if err == nil {
				return rv, true
			}
		}
	}
	return 0, false
}

// decisionCache remembers the last n decisions: a ring of ids in decision
// order, so the oldest is forgotten first, and a map for lookups.
type decisionCache struct {
	ring [][16]byte
	next int
	full bool
	kept map[[16]byte]bool
}

func newDecisionCache(n int) decisionCache {
	return decisionCache{ring: make([][16]byte, n), kept: make(map[[16]byte]bool, n)}
}

func (d *decisionCache) get(id [16]byte) (kept, ok bool) {
	kept, ok = d.kept[id]
	return kept, ok
}

// put records a decision for an id not already remembered (decided traces
// are looked up before being buffered again, so ids never repeat here).
func (d *decisionCache) put(id [16]byte, kept bool) {
	if d.full {
		delete(d.kept, d.ring[d.next])
	}
	d.ring[d.next] = id
	d.kept[id] = kept
	d.next++
	if d.next == len(d.ring) {
		d.next, d.full = 0, true
	}
}
