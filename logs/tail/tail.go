// Package tail hands newly stored log records to live tails. The writer
// publishes every stored batch; each subscriber gets the records whose
// stream matches its selector through a bounded queue. Publishing never
// blocks ingest: when a subscriber's queue is full the batch is dropped
// for that subscriber and counted, with the time and stream of the
// dropped records (a bounded sample) kept for it to report, so a tail
// never falls behind silently.
package tail

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/vigilhq/vigil/storage/logs"
)

// maxSample bounds the dropped records a subscriber remembers by name
// between two TakeDropped calls; beyond it they are only counted.
const maxSample = 100

// maxStreamCache bounds a subscriber's memo of selector results.
const maxStreamCache = 10_000

// Broker fans stored records out to subscribers. It is safe for
// concurrent use.
type Broker struct {
	mu      sync.RWMutex
	subs    map[*Sub]struct{}
	dropped prometheus.Counter
	maxSubs int
}

// New returns a Broker allowing at most maxSubs concurrent tails (0: 100)
// and registers vigil_logs_tail_dropped_lines_total with reg (may be nil).
func New(maxSubs int, reg prometheus.Registerer) *Broker {
	if maxSubs <= 0 {
		maxSubs = 100
	}
	b := &Broker{subs: map[*Sub]struct{}{}, maxSubs: maxSubs, dropped: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vigil_logs_tail_dropped_lines_total",
		Help: "Log lines a live tail could not take because it was too slow; each is reported to the tail.",
	})}
	if reg != nil {
		reg.MustRegister(b.dropped)
	}
	return b
}

// Dropped names a record a subscriber missed.
type Dropped struct {
	Time   time.Time
	Stream string
}

// Sub is one live tail's subscription.
type Sub struct {
	matchers []*labels.Matcher
	ch       chan []logs.Record

	mu        sync.Mutex
	memo      map[string]bool // stream → selector matches
	dropped   int
	sample    []Dropped
	cancelled bool
}

// ErrTooManyTails is returned by Subscribe at the limit.
type ErrTooManyTails struct{ Max int }

func (e ErrTooManyTails) Error() string {
	return fmt.Sprintf("too many live tails at once (the limit is %d); close one and retry", e.Max)
}

// Subscribe starts a subscription for records whose stream matches every
// matcher, queueing at most queue batches (0: 64). Call Unsubscribe when
// done.
func (b *Broker) Subscribe(matchers []*labels.Matcher, queue int) (*Sub, error) {
	if queue <= 0 {
		queue = 64
	}
	s := &Sub{matchers: matchers, ch: make(chan []logs.Record, queue), memo: map[string]bool{}}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.subs) >= b.maxSubs {
		return nil, ErrTooManyTails{b.maxSubs}
	}
	b.subs[s] = struct{}{}
	return s, nil
}

// Unsubscribe ends s; its channel is not closed (a Publish may hold it)
// but gets nothing more.
func (b *Broker) Unsubscribe(s *Sub) {
	b.mu.Lock()
	delete(b.subs, s)
	b.mu.Unlock()
	s.mu.Lock()
	s.cancelled = true
	s.mu.Unlock()
}

// Publish offers a stored batch to every subscriber. It never blocks and
// never modifies recs; subscribers read the records, so callers must not
// modify them afterwards either.
func (b *Broker) Publish(recs []logs.Record) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for s := range b.subs {
		if n := s.offer(recs); n > 0 {
			b.dropped.Add(float64(n))
		}
	}
}

// offer queues the matching records of recs and returns how many were
// dropped because the queue was full.
func (s *Sub) offer(recs []logs.Record) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancelled {
		return 0
	}
	var sel []logs.Record
	all := true
	for i := range recs {
		if s.matchesLocked(recs[i].Stream) {
			if !all {
				sel = append(sel, recs[i])
			}
			continue
		}
		if all {
			all = false
			sel = append([]logs.Record(nil), recs[:i]...)
		}
	}
	if all {
		sel = recs
	}
	if len(sel) == 0 {
		return 0
	}
	select {
	case s.ch <- sel:
		return 0
	default:
	}
	s.dropped += len(sel)
	for i := 0; i < len(sel) && len(s.sample) < maxSample; i++ {
		s.sample = append(s.sample, Dropped{Time: sel[i].Time, Stream: sel[i].Stream})
	}
	return len(sel)
}

// matchesLocked reports whether a stream matches the selector; s.mu must
// be held.
func (s *Sub) matchesLocked(stream string) bool {
	if m, ok := s.memo[stream]; ok {
		return m
	}
	ok := true
	if ls, err := parser.ParseMetric(stream); err != nil {
		ok = false
	} else {
		for _, m := range s.matchers {
			if !m.Matches(ls.Get(m.Name)) {
				ok = false
				break
			}
		}
	}
	if len(s.memo) >= maxStreamCache {
		clear(s.memo)
	}
	s.memo[stream] = ok
	return ok
}

// C delivers batches of matching records, oldest first. The records are
// shared: read them, never modify them.
func (s *Sub) C() <-chan []logs.Record { return s.ch }

// TakeDropped returns and resets the count of records dropped since the
// last call, with up to 100 of them named.
func (s *Sub) TakeDropped() (int, []Dropped) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, sample := s.dropped, s.sample
	s.dropped, s.sample = 0, nil
	return n, sample
}
