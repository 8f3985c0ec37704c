package sampling

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/vigilhq/vigil/storage/spans"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a hand-moved clock, so tests say exactly when a trace is due.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// recorder is a Next that remembers every call.
type recorder struct {
	mu    sync.Mutex
	calls [][]spans.Span
	err   error
}

func (r *recorder) Next(_ context.Context, kept []spans.Span) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, append([]spans.Span(nil), kept...))
	return r.err
}

func (r *recorder) Calls() [][]spans.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// Written is every span written, as "trace/span" names in write order.
func (r *recorder) Written() []string {
	var out []string
	for _, call := range r.Calls() {
		for _, sp := range call {
			out = append(out, name(sp))
		}
	}
	return out
}

type harness struct {
	s   *Sampler
	clk *clock
	rec *recorder
	reg *prometheus.Registry
}

func newHarness(t *testing.T, o Options) *harness {
	t.Helper()
	h := &harness{clk: &clock{now: time.Date(2026, 12, 2, 4, 45, 0, 0, time.UTC)}, rec: &recorder{}, reg: prometheus.NewRegistry()}
	o.Now, o.Next, o.Registerer = h.clk.Now, h.rec.Next, h.reg
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	return h
}

// tick is one iteration of Run at the clock's current time.
func (h *harness) tick(t *testing.T) {
	t.Helper()
	_ = h.s.flush(context.Background(), false)
}

// traceID builds an id whose first byte names the trace in test output
// and whose low 56 bits are the given randomness value.
func traceID(n byte, rand56 uint64) [16]byte {
	var id [16]byte
	id[0] = n
	binary.BigEndian.PutUint64(id[8:], rand56&(1<<56-1))
	return id
}

// ordinary is a trace id that no fraction below 1 keeps.
func ordinary(n byte) [16]byte { return traceID(n, 0) }

func span(id [16]byte, n byte, status string, dur time.Duration) spans.Span {
	return spans.Span{TraceID: id, SpanID: [8]byte{n}, Name: string('a' + rune(id[0])), StatusCode: status, DurationNanos: int64(dur)}
}

func name(sp spans.Span) string {
	return string(rune('A'+sp.TraceID[0])) + "/" + string(rune('0'+sp.SpanID[0]))
}

func count(t *testing.T, c prometheus.Collector) int {
	t.Helper()
	return int(testutil.ToFloat64(c))
}

func TestDecisionRules(t *testing.T) {
	f := func(t *testing.T, o Options, batch []spans.Span, want decision) {
		t.Helper()
		o.DecisionWait = 5 * time.Second
		h := newHarness(t, o)
		h.s.Offer(batch)

		// One nanosecond before the deadline nothing is decided.
		h.clk.Advance(5*time.Second - 1)
		h.tick(t)
		if got := h.rec.Calls(); len(got) != 0 {
			t.Fatalf("wrote %d calls before the decision wait ended", len(got))
		}
		if got := count(t, h.s.m.bufferedSpans); got != len(batch) {
			t.Fatalf("buffered spans = %d, want %d", got, len(batch))
		}

		h.clk.Advance(1)
		h.tick(t)
		for d := range numDecisions {
			wantN := 0
			if d == want {
				wantN = 1
			}
			if got := count(t, h.s.m.traces[d]); got != wantN {
				t.Errorf("traces decided %s = %d, want %d", decisionNames[d], got, wantN)
			}
		}
		wantWritten := len(batch)
		if want == dropped {
			wantWritten = 0
		}
		if got := len(h.rec.Written()); got != wantWritten {
			t.Errorf("wrote %d spans, want %d", got, wantWritten)
		}
		if got := count(t, h.s.m.bufferedSpans) + count(t, h.s.m.bufferedTraces); got != 0 {
			t.Errorf("buffer not empty after the decision: %d", got)
		}
	}
	a := ordinary(0)
	t.Run("error kept at fraction 0", func(t *testing.T) {
		f(t, Options{Fraction: 0}, []spans.Span{span(a, 1, "ok", time.Millisecond), span(a, 2, "error", time.Millisecond)}, keptError)
	})
	t.Run("error wins over latency", func(t *testing.T) {
		f(t, Options{LatencyThreshold: time.Second}, []spans.Span{span(a, 1, "error", time.Hour)}, keptError)
	})
	t.Run("slow kept at the threshold", func(t *testing.T) {
		f(t, Options{LatencyThreshold: time.Second}, []spans.Span{span(a, 1, "ok", time.Millisecond), span(a, 2, "unset", time.Second)}, keptLatency)
	})
	t.Run("just under the threshold dropped", func(t *testing.T) {
		f(t, Options{LatencyThreshold: time.Second}, []spans.Span{span(a, 1, "ok", time.Second-1)}, dropped)
	})
	t.Run("latency rule off by default", func(t *testing.T) {
		f(t, Options{}, []spans.Span{span(a, 1, "ok", 24*time.Hour)}, dropped)
	})
	t.Run("fraction 1 keeps every trace", func(t *testing.T) {
		f(t, Options{Fraction: 1}, []spans.Span{span(a, 1, "ok", 0)}, keptProbabilistic)
	})
	t.Run("high randomness kept at a small fraction", func(t *testing.T) {
		f(t, Options{Fraction: 0.01}, []spans.Span{span(traceID(0, 1<<56-1), 1, "ok", 0)}, keptProbabilistic)
	})
}

func TestRejectionThreshold(t *testing.T) {
	// Values from OpenTelemetry's definition T = (1-p)·2^56: 10% rejects
	// randomness below 0xe6666666666666 (tracestate th:e6666666666666).
	for fraction, want := range map[float64]uint64{0: 1 << 56, 0.1: 0xe6666666666666, 0.5: 1 << 55, 1: 0} {
		if got := rejectionThreshold(fraction); got != want {
			t.Errorf("threshold(%v) = %#x, want %#x", fraction, got, want)
		}
	}
	h := newHarness(t, Options{Fraction: 0.1})
	keep := func(rand56 uint64) bool { return h.s.decisionFor(&trace{randomness: rand56}) == keptProbabilistic }
	if !keep(0xe6666666666666) || keep(0xe6666666666665) {
		t.Error("the boundary of a 10% sample is not at 0xe6666666666666")
	}
}

func TestProbabilisticShare(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ids := make([][16]byte, 100_000)
	for i := range ids {
		binary.BigEndian.PutUint64(ids[i][:8], rng.Uint64())
		binary.BigEndian.PutUint64(ids[i][8:], rng.Uint64())
	}
	keptAt := func(fraction float64) map[[16]byte]bool {
		h := newHarness(t, Options{Fraction: fraction})
		kept := map[[16]byte]bool{}
		for _, id := range ids {
			if h.s.decisionFor(&trace{randomness: randomness(id)}) == keptProbabilistic {
				kept[id] = true
			}
		}
		return kept
	}
	for _, fraction := range []float64{0.01, 0.1, 0.5, 0.9} {
		kept := keptAt(fraction)
		share := float64(len(kept)) / float64(len(ids))
		// A binomial share over 100k has a standard deviation under 0.0016;
		// 3% of the fraction (at least 0.005) is several deviations wide.
		if tol := max(0.03*fraction, 0.005); share < fraction-tol || share > fraction+tol {
			t.Errorf("fraction %v kept %.4f of traces", fraction, share)
		}
		// Another instance with the same fraction agrees on every id, and
		// a larger fraction keeps a superset: what an SDK at a lower
		// probability kept, Vigil keeps too.
		again := keptAt(fraction)
		wider := keptAt(min(fraction*2, 1))
		for id := range kept {
			if !again[id] {
				t.Fatalf("fraction %v: trace %x kept by one instance, not another", fraction, id)
			}
			if !wider[id] {
				t.Fatalf("trace %x kept at fraction %v but not at %v", id, fraction, fraction*2)
			}
		}
		if len(again) != len(kept) {
			t.Fatalf("fraction %v: two instances kept %d and %d traces", fraction, len(kept), len(again))
		}
	}
}

func TestExplicitRandomness(t *testing.T) {
	f := func(tracestate string, want decision) {
		t.Helper()
		h := newHarness(t, Options{Fraction: 0.5})
		sp := span(ordinary(0), 1, "ok", 0)
		sp.TraceState = tracestate
		h.s.Offer([]spans.Span{sp})
		h.clk.Advance(5 * time.Second)
		h.tick(t)
		if got := count(t, h.s.m.traces[want]); got != 1 {
			t.Errorf("tracestate %q: not decided %s", tracestate, decisionNames[want])
		}
	}
	f("", dropped)
	f("ot=th:8;rv:ffffffffffffff", keptProbabilistic)
	f("vendor=x, ot=rv:c0000000000000;th:0", keptProbabilistic)
	f("ot=rv:10000000000000", dropped)
	f("ot=rv:fffff", dropped)          // too short: the id decides
	f("ot=rv:zzzzzzzzzzzzzz", dropped) // not hex: the id decides
	f("other=rv:ffffffffffffff", dropped)
}

func TestLateSpans(t *testing.T) {
	h := newHarness(t, Options{})
	kept, drop := ordinary(0), ordinary(1)
	h.s.Offer([]spans.Span{span(kept, 1, "error", 0), span(drop, 1, "ok", 0)})
	h.clk.Advance(5 * time.Second)
	h.tick(t)
	if got := strings.Join(h.rec.Written(), " "); got != "A/1" {
		t.Fatalf("written after the decision: %q, want A/1", got)
	}

	// Late spans follow the decision, even ordinary ones of a kept trace
	// and an error in a dropped one, and a late kept span wakes Run
	// instead of waiting for the next tick.
	h.s.Offer([]spans.Span{span(kept, 2, "ok", 0), span(drop, 2, "error", 0)})
	select {
	case <-h.s.wake:
	default:
		t.Fatal("a late kept span did not wake Run")
	}
	if got := count(t, h.s.m.bufferedTraces); got != 0 {
		t.Fatalf("a late span was buffered as a new trace (%d buffered)", got)
	}
	h.tick(t)
	if got := strings.Join(h.rec.Written(), " "); got != "A/1 A/2" {
		t.Errorf("written: %q, want A/1 A/2", got)
	}
	if k, d := count(t, h.s.m.late[keptSpans]), count(t, h.s.m.late[droppedSpans]); k != 1 || d != 1 {
		t.Errorf("late spans kept %d dropped %d, want 1 and 1", k, d)
	}
}

func TestDecisionCacheForgetsOldest(t *testing.T) {
	h := newHarness(t, Options{DecisionCache: 2, Fraction: 0})
	for n := range byte(3) {
		h.s.Offer([]spans.Span{span(ordinary(n), 1, "ok", 0)})
	}
	h.clk.Advance(5 * time.Second)
	h.tick(t)
	// A, the oldest decision, is forgotten: its late span waits for a new
	// decision. B and C are remembered and dropped at once.
	h.s.Offer([]spans.Span{span(ordinary(0), 2, "ok", 0), span(ordinary(1), 2, "ok", 0), span(ordinary(2), 2, "ok", 0)})
	if got := count(t, h.s.m.bufferedTraces); got != 1 {
		t.Errorf("buffered traces = %d, want 1 (the forgotten one)", got)
	}
	if got := count(t, h.s.m.late[droppedSpans]); got != 2 {
		t.Errorf("late dropped spans = %d, want 2", got)
	}
}

func TestMaxTracesDecidesOldestEarly(t *testing.T) {
	h := newHarness(t, Options{MaxTraces: 2, Fraction: 1})
	for n := range byte(3) {
		h.s.Offer([]spans.Span{span(ordinary(n), 1, "ok", 0)})
		h.clk.Advance(time.Second)
	}
	if got := count(t, h.s.m.forced[forcedBufferFull]); got != 1 {
		t.Fatalf("forced buffer_full decisions = %d, want 1", got)
	}
	if got := count(t, h.s.m.bufferedTraces); got != 2 {
		t.Fatalf("buffered traces = %d, want 2", got)
	}
	// No trace is due yet, but the forced decision is written at the next
	// tick: it is A, the oldest.
	h.tick(t)
	if got := strings.Join(h.rec.Written(), " "); got != "A/1" {
		t.Errorf("written: %q, want A/1", got)
	}
}

func TestMaxSpansDecidesOldestEarly(t *testing.T) {
	h := newHarness(t, Options{MaxSpans: 3, Fraction: 1})
	h.s.Offer([]spans.Span{span(ordinary(0), 1, "ok", 0), span(ordinary(0), 2, "ok", 0)})
	h.s.Offer([]spans.Span{span(ordinary(1), 1, "ok", 0), span(ordinary(1), 2, "ok", 0)})
	if got := count(t, h.s.m.forced[forcedBufferFull]); got != 1 {
		t.Fatalf("forced buffer_full decisions = %d, want 1", got)
	}
	if got := count(t, h.s.m.bufferedSpans); got != 2 {
		t.Fatalf("buffered spans = %d, want 2", got)
	}
	h.tick(t)
	if got := strings.Join(h.rec.Written(), " "); got != "A/1 A/2" {
		t.Errorf("written: %q, want A/1 A/2", got)
	}
}

func TestMaxSpansPerTraceDecidesAtOnce(t *testing.T) {
	h := newHarness(t, Options{MaxSpansPerTrace: 3})
	big, small := ordinary(0), ordinary(1)
	h.s.Offer([]spans.Span{span(big, 1, "error", 0), span(small, 1, "error", 0), span(big, 2, "ok", 0)})
	if got := count(t, h.s.m.forced[forcedTooLarge]); got != 0 {
		t.Fatalf("a trace under the limit was decided (%d)", got)
	}
	h.s.Offer([]spans.Span{span(big, 3, "ok", 0)}) // the third span: decided here
	if got := count(t, h.s.m.forced[forcedTooLarge]); got != 1 {
		t.Fatalf("forced trace_too_large decisions = %d, want 1", got)
	}
	if got := count(t, h.s.m.bufferedSpans); got != 1 {
		t.Fatalf("buffered spans = %d, want 1 (the small trace)", got)
	}
	h.s.Offer([]spans.Span{span(big, 4, "ok", 0)}) // follows the decision
	h.tick(t)
	if got := strings.Join(h.rec.Written(), " "); got != "A/1 A/2 A/3 A/4" {
		t.Errorf("written: %q, want the big trace only", got)
	}
}

func TestTracesDecidedTogetherAreWrittenTogether(t *testing.T) {
	h := newHarness(t, Options{Fraction: 1})
	for n := range byte(3) {
		h.s.Offer([]spans.Span{span(ordinary(n), 1, "ok", 0), span(ordinary(n), 2, "ok", 0)})
	}
	h.clk.Advance(5 * time.Second)
	h.tick(t)
	if calls := h.rec.Calls(); len(calls) != 1 || len(calls[0]) != 6 {
		t.Fatalf("want one write of 6 spans, got %d writes", len(calls))
	}
}

func TestNextErrorLosesSpans(t *testing.T) {
	h := newHarness(t, Options{Fraction: 1})
	h.rec.err = errors.New("disk full")
	h.s.Offer([]spans.Span{span(ordinary(0), 1, "ok", 0), span(ordinary(0), 2, "ok", 0)})
	h.clk.Advance(5 * time.Second)
	if err := h.s.flush(context.Background(), false); err == nil {
		t.Fatal("flush hid Next's error")
	}
	h.tick(t) // not retried
	if got := len(h.rec.Calls()); got != 1 {
		t.Errorf("Next called %d times, want 1", got)
	}
	if e, l := count(t, h.s.m.writeErrors), count(t, h.s.m.lost[lostWriteError]); e != 1 || l != 2 {
		t.Errorf("write errors %d, lost spans %d; want 1 and 2", e, l)
	}
}

func TestBacklogIsBounded(t *testing.T) {
	h := newHarness(t, Options{MaxBacklogSpans: 2, MaxSpansPerTrace: 3})
	// Three error spans decide the trace at once; only two fit the backlog.
	h.s.Offer([]spans.Span{span(ordinary(0), 1, "error", 0), span(ordinary(0), 2, "ok", 0), span(ordinary(0), 3, "ok", 0)})
	h.s.Offer([]spans.Span{span(ordinary(0), 4, "ok", 0)})
	if got := count(t, h.s.m.lost[lostBacklogFull]); got != 2 {
		t.Errorf("lost to a full backlog: %d spans, want 2", got)
	}
	h.tick(t)
	if got := strings.Join(h.rec.Written(), " "); got != "A/1 A/2" {
		t.Errorf("written: %q, want A/1 A/2", got)
	}
}

func TestRunDecidesWhenDue(t *testing.T) {
	// synctest's clock moves only when every goroutine in the bubble is
	// blocked, so "after the wait" and "before it" are exact.
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		s, err := New(Options{DecisionWait: 5 * time.Second, Fraction: 1, Next: rec.Next})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- s.Run(ctx) }()

		s.Offer([]spans.Span{span(ordinary(0), 1, "ok", 0)})
		time.Sleep(5*time.Second - time.Millisecond)
		synctest.Wait()
		if got := len(rec.Written()); got != 0 {
			t.Fatalf("wrote %d spans before the decision wait", got)
		}
		time.Sleep(100 * time.Millisecond) // one tick
		synctest.Wait()
		if got := strings.Join(rec.Written(), " "); got != "A/1" {
			t.Fatalf("written after the wait: %q", got)
		}

		// A late span of the kept trace is written without waiting for a
		// tick: no time passes here.
		s.Offer([]spans.Span{span(ordinary(0), 2, "ok", 0)})
		synctest.Wait()
		if got := strings.Join(rec.Written(), " "); got != "A/1 A/2" {
			t.Fatalf("late span not written promptly: %q", got)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func TestRunFlushesOnCancel(t *testing.T) {
	h := newHarness(t, Options{DecisionWait: time.Hour, Fraction: 1})
	h.s.Offer([]spans.Span{span(ordinary(0), 1, "ok", 0), span(ordinary(1), 1, "ok", 0)})
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // Run starts cancelled: only its shutdown path runs
	if err := h.s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(h.rec.Written(), " "); got != "A/1 B/1" {
		t.Errorf("written at shutdown: %q", got)
	}
	if got := count(t, h.s.m.forced[forcedShutdown]); got != 2 {
		t.Errorf("shutdown decisions = %d, want 2", got)
	}
	if got := count(t, h.s.m.bufferedSpans); got != 0 {
		t.Errorf("%d spans still buffered", got)
	}
	h.s.Offer([]spans.Span{span(ordinary(2), 1, "error", 0)})
	if got := count(t, h.s.m.lost[lostStopped]); got != 1 {
		t.Errorf("span offered after Run: lost count %d, want 1", got)
	}
	if err := h.s.Run(t.Context()); err == nil {
		t.Error("a second Run was accepted")
	}
}

func TestRunReportsFailedFinalWrite(t *testing.T) {
	h := newHarness(t, Options{Fraction: 1})
	h.rec.err = errors.New("store closed")
	h.s.Offer([]spans.Span{span(ordinary(0), 1, "ok", 0)})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := h.s.Run(ctx); err == nil || !strings.Contains(err.Error(), "store closed") {
		t.Errorf("Run = %v, want the store's error", err)
	}
}

func TestConcurrentOffer(t *testing.T) {
	rec := &recorder{}
	// The real clock and a 1ms wait let Run decide while Offers race; the
	// assertions are totals after Run returns, which hold at any timing.
	s, err := New(Options{DecisionWait: time.Millisecond, Fraction: 0.5, MaxTraces: 100, Next: rec.Next})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()

	const goroutines, tracesEach, spansEach = 8, 500, 3
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 0))
			for range tracesEach {
				var id [16]byte
				binary.BigEndian.PutUint64(id[:8], rng.Uint64())
				binary.BigEndian.PutUint64(id[8:], rng.Uint64())
				for n := range byte(spansEach) {
					s.Offer([]spans.Span{span(id, n, "ok", 0)})
				}
			}
		})
	}
	wg.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	kept, dropped := count(t, s.m.spans[keptSpans]), count(t, s.m.spans[droppedSpans])
	if kept+dropped != goroutines*tracesEach*spansEach {
		t.Errorf("kept %d + dropped %d spans, offered %d", kept, dropped, goroutines*tracesEach*spansEach)
	}
	if got := len(rec.Written()); got != kept {
		t.Errorf("wrote %d spans, counted %d kept", got, kept)
	}
	if kept == 0 || dropped == 0 {
		t.Errorf("at fraction 0.5, kept %d and dropped %d spans", kept, dropped)
	}
}

func TestMetrics(t *testing.T) {
	h := newHarness(t, Options{Fraction: 0.5, LatencyThreshold: time.Second, MaxSpansPerTrace: 3})
	h.s.Offer([]spans.Span{
		span(ordinary(0), 1, "error", 0), span(ordinary(0), 2, "ok", 0), // error
		span(ordinary(1), 1, "ok", 2*time.Second),                                                   // latency
		span(traceID(2, 1<<56-1), 1, "ok", 0),                                                       // probabilistic
		span(ordinary(3), 1, "ok", 0), span(ordinary(3), 2, "ok", 0), span(ordinary(3), 3, "ok", 0), // dropped, too large
	})
	h.clk.Advance(5 * time.Second)
	h.tick(t)
	h.s.Offer([]spans.Span{span(ordinary(3), 4, "ok", 0), span(ordinary(4), 1, "ok", 0)}) // one late dropped, one buffered
	h.tick(t)

	const want = `
# HELP vigil_tail_sampling_traces_total Traces decided by the tail sampler, by the rule that kept them, or dropped.
# TYPE vigil_tail_sampling_traces_total counter
vigil_tail_sampling_traces_total{decision="dropped"} 1
vigil_tail_sampling_traces_total{decision="error"} 1
vigil_tail_sampling_traces_total{decision="latency"} 1
vigil_tail_sampling_traces_total{decision="probabilistic"} 1
# HELP vigil_tail_sampling_spans_total Spans kept or dropped by the tail sampler, late spans included.
# TYPE vigil_tail_sampling_spans_total counter
vigil_tail_sampling_spans_total{decision="dropped"} 4
vigil_tail_sampling_spans_total{decision="kept"} 4
# HELP vigil_tail_sampling_forced_decisions_total Traces decided before their decision wait ended, by reason.
# TYPE vigil_tail_sampling_forced_decisions_total counter
vigil_tail_sampling_forced_decisions_total{reason="buffer_full"} 0
vigil_tail_sampling_forced_decisions_total{reason="shutdown"} 0
vigil_tail_sampling_forced_decisions_total{reason="trace_too_large"} 1
# HELP vigil_tail_sampling_late_spans_total Spans that arrived after their trace was decided; many suggest a longer decision wait.
# TYPE vigil_tail_sampling_late_spans_total counter
vigil_tail_sampling_late_spans_total{decision="dropped"} 1
vigil_tail_sampling_late_spans_total{decision="kept"} 0
# HELP vigil_tail_sampling_buffered_traces Traces waiting for a tail sampling decision.
# TYPE vigil_tail_sampling_buffered_traces gauge
vigil_tail_sampling_buffered_traces 1
# HELP vigil_tail_sampling_buffered_spans Spans waiting for a tail sampling decision.
# TYPE vigil_tail_sampling_buffered_spans gauge
vigil_tail_sampling_buffered_spans 1
# HELP vigil_tail_sampling_backlog_spans Kept spans waiting to be written to the span store.
# TYPE vigil_tail_sampling_backlog_spans gauge
vigil_tail_sampling_backlog_spans 0
# HELP vigil_tail_sampling_write_errors_total Failed writes of kept spans to the span store.
# TYPE vigil_tail_sampling_write_errors_total counter
vigil_tail_sampling_write_errors_total 0
`
	if err := testutil.GatherAndCompare(h.reg, strings.NewReader(want),
		"vigil_tail_sampling_traces_total", "vigil_tail_sampling_spans_total",
		"vigil_tail_sampling_forced_decisions_total", "vigil_tail_sampling_late_spans_total",
		"vigil_tail_sampling_buffered_traces", "vigil_tail_sampling_buffered_spans",
		"vigil_tail_sampling_backlog_spans", "vigil_tail_sampling_write_errors_total"); err != nil {
		t.Error(err)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	next := func(context.Context, []spans.Span) error { return nil }
	for name, o := range map[string]Options{
		"no next":           {Fraction: 0.1},
		"fraction above 1":  {Fraction: 1.5, Next: next},
		"negative fraction": {Fraction: -0.1, Next: next},
		"negative wait":     {DecisionWait: -time.Second, Next: next},
		"negative limit":    {MaxTraces: -1, Next: next},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	reg := prometheus.NewRegistry()
	if _, err := New(Options{Next: next, Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Next: next, Registerer: reg}); err == nil {
		t.Error("a second sampler registered the same metrics")
	}
}

func BenchmarkOffer(b *testing.B) {
	// Batches like an OTLP export: 100 spans over 10 traces, a tenth of
	// traces kept; Run writes to a Next that discards, so the buffer
	// reaches its steady state of forced and due decisions.
	s, err := New(Options{Fraction: 0.1, MaxTraces: 10_000, Next: func(context.Context, []spans.Span) error { return nil }})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(b.Context())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	rng := rand.New(rand.NewPCG(1, 1))
	batches := make([][]spans.Span, 1024)
	for i := range batches {
		for range 10 {
			var id [16]byte
			binary.BigEndian.PutUint64(id[:8], rng.Uint64())
			binary.BigEndian.PutUint64(id[8:], rng.Uint64())
			for n := range byte(10) {
				batches[i] = append(batches[i], span(id, n, "ok", time.Millisecond))
			}
		}
	}
	i := 0
	for b.Loop() {
		// A fresh high half of the id per iteration keeps every trace new
		// (rather than late spans of remembered ones) while the low half
		// keeps its randomness.
		batch := batches[i%len(batches)]
		for j := range batch {
			binary.BigEndian.PutUint64(batch[j].TraceID[:8], uint64(i*10+j/10))
		}
		s.Offer(batch)
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i*100), "ns/span")
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
