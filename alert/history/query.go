package history

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

const (
	// DefaultLimit is the number of events a Query returns when it sets
	// no Limit.
	DefaultLimit = 1000
	// MaxLimit is the most events one Query returns.
	MaxLimit = 10000
)

// Query selects events.
type Query struct {
	// Start and End bound the events' Time, both inclusive; a zero
	// Start or End is unbounded on that side.
	Start, End time.Time
	// Matchers must all match the event's Labels (which include
	// alertname); a missing label matches as "". A matcher on __name__
	// (a selector's metric name, as in `HighLatency{severity="page"}`)
	// applies to alertname.
	Matchers []*labels.Matcher
	// States, if any, are the states to keep.
	States []string
	// Limit is the most events to return (DefaultLimit when <= 0, at
	// most MaxLimit).
	Limit int

	// anyOf are alternative matcher sets (an event matches one of them,
	// as repeated match[] parameters do in Prometheus's API), on top of
	// Matchers.
	anyOf [][]*labels.Matcher
	// peek asks for one event beyond the limit, so the API can tell
	// when the limit cut the result.
	peek bool
}

// Query returns the events q selects, newest first; among events of the
// same Time, the one recorded last comes first. Queued events are
// flushed first, so everything Recorded before the call is seen (unless
// writing it failed). Only the day files overlapping [Start, End] are
// read, newest first, and reading stops once Limit events are found.
func (s *Store) Query(q Query) ([]Event, error) {
	_ = s.Flush() // failures are logged and counted; read what is there
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	if q.peek {
		limit++
	}
	m := compile(q)

	files, err := listDays(s.o.Dir)
	if err != nil {
		return nil, err
	}
	first, last := day(math.MinInt64), day(math.MaxInt64)
	if !q.Start.IsZero() {
		first = dayOf(q.Start)
	}
	if !q.End.IsZero() {
		last = dayOf(q.End)
	}
	out := []Event{}
	for i := len(files) - 1; i >= 0 && len(out) < limit; i-- {
		d := files[i].day
		if d < first {
			break
		}
		if d > last {
			continue
		}
		// Each file holds only its day's events, so all of a newer
		// day's events come before any of an older day's.
		got, err := s.readDay(d, m, limit-len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

// hit is a matching event and its position in its file.
type hit struct {
	e   Event
	seq int
}

// newestFirst orders hits by Time, newest first, then by position, last
// first.
func newestFirst(a, b hit) int {
	return cmp.Or(b.e.Time.Compare(a.e.Time), cmp.Compare(b.seq, a.seq))
}

// readDay returns the newest n events of day d's file that m selects,
// newest first. A file removed meanwhile (retention) has none.
func (s *Store) readDay(d day, m matcher, n int) ([]Event, error) {
	f, err := os.Open(filepath.Join(s.o.Dir, d.fileName()))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read alert history: %w", err)
	}
	defer f.Close()
	var hits []hit
	seq := 0
	err = readLines(f, func(line []byte) bool {
		seq++
		e, ok := decodeLine(line)
		if !ok || !m.match(&e) {
			return true
		}
		hits = append(hits, hit{e, seq})
		// Keep memory bounded by the limit, not by the file: sort and
		// cut now and then (amortised n log n per n hits).
		if len(hits) >= 2*n+64 {
			slices.SortFunc(hits, newestFirst)
			hits = hits[:n]
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read alert history file %s: %w", d.fileName(), err)
	}
	slices.SortFunc(hits, newestFirst)
	hits = hits[:min(n, len(hits))]
	out := make([]Event, len(hits))
	for i, h := range hits {
		out[i] = h.e
	}
	return out, nil
}

// matcher is a compiled Query filter.
type matcher struct {
	start, end time.Time
	states     map[string]bool
	all        []*labels.Matcher
	anyOf      [][]*labels.Matcher
}

func compile(q Query) matcher {
	m := matcher{start: q.Start, end: q.End, all: alertNames(q.Matchers)}
	if len(q.States) > 0 {
		m.states = make(map[string]bool, len(q.States))
		for _, st := range q.States {
			m.states[st] = true
		}
	}
	for _, set := range q.anyOf {
		m.anyOf = append(m.anyOf, alertNames(set))
	}
	return m
}

// alertNames turns matchers on __name__ into matchers on alertname.
func alertNames(ms []*labels.Matcher) []*labels.Matcher {
	out := make([]*labels.Matcher, len(ms))
	for i, lm := range ms {
		if lm.Name == labels.MetricName {
			c := *lm // keeps the compiled regexp
			c.Name = "alertname"
			lm = &c
		}
		out[i] = lm
	}
	return out
}

func (m *matcher) match(e *Event) bool {
	if (!m.start.IsZero() && e.Time.Before(m.start)) || (!m.end.IsZero() && e.Time.After(m.end)) {
		return false
	}
	if m.states != nil && !m.states[e.State] {
		return false
	}
	if !matchAll(m.all, e.Labels) {
		return false
	}
	if len(m.anyOf) == 0 {
		return true
	}
	for _, set := range m.anyOf {
		if matchAll(set, e.Labels) {
			return true
		}
	}
	return false
}

func matchAll(ms []*labels.Matcher, ls map[string]string) bool {
	for _, lm := range ms {
		if !lm.Matches(ls[lm.Name]) {
			return false
		}
	}
	return true
}
