package events

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/vigilhq/vigil/storage/parts"
)

// crowdedHour is the part count above which Run compacts an hour even
// while it still receives cuts: scans open every part, so many small ones
// cost more than the rewrite.
const crowdedHour = 8

// Run cuts the head in the background when it holds MaxHeadRows rows or
// MaxHeadBytes bytes or its oldest row is MaxHeadAge old, and compacts
// every CompactInterval. It returns nil when ctx ends, after finishing the
// cut or compaction under way; the head is not flushed (Close keeps it in
// the WAL for the next Open). Failed cuts are logged and retried with
// backoff, so Run only fails if it is already running. Only one goroutine
// may run it at a time.
func (s *Store[T]) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("cannot run the event store: it is already running")
	}
	s.running = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running = false
		// Appends waiting for a cut now cut inline instead.
		close(s.shrunk)
		s.shrunk = make(chan struct{})
		s.mu.Unlock()
	}()

	check := time.NewTimer(s.o.MaxHeadAge)
	defer check.Stop()
	compact := time.NewTicker(s.o.CompactInterval)
	defer compact.Stop()
	var retryAt time.Time
	var backoff time.Duration
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.kick:
		case <-check.C:
		case <-compact.C:
			if ctx.Err() == nil {
				s.compactQuiet()
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		now := time.Now()
		if !now.Before(retryAt) && s.cutDue(now) {
			if err := s.Cut(); err != nil {
				backoff = min(max(2*backoff, time.Second), 30*time.Second)
				retryAt = now.Add(backoff)
				s.logFailure("cannot cut event part; will retry", err, "retry_in", backoff)
			} else {
				backoff = 0
			}
		}
		check.Reset(s.nextCheck(now, retryAt))
	}
}

func (s *Store[T]) logFailure(msg string, err error, args ...any) {
	args = append(args, "err", err)
	if errors.Is(err, ErrDiskFull) {
		s.o.Logger.Warn(msg, args...)
	} else {
		s.o.Logger.Error(msg, args...)
	}
}

func (s *Store[T]) cutDue(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.head) > 0 && (s.overLocked(1) || now.Sub(s.headSince) >= s.o.MaxHeadAge)
}

// nextCheck is how long Run may sleep: until the head is due by age, or,
// after a failed cut, until the retry (a full head is due at once, and no
// Append will signal again while it waits for that cut).
func (s *Store[T]) nextCheck(now, retryAt time.Time) time.Duration {
	s.mu.Lock()
	d := s.o.MaxHeadAge
	switch {
	case s.overLocked(1):
		d = 0
	case len(s.head) > 0:
		d = s.headSince.Add(s.o.MaxHeadAge).Sub(now)
	}
	s.mu.Unlock()
	return max(d, retryAt.Sub(now), time.Millisecond)
}

// compactQuiet compacts the hours that had no cut for a CompactInterval,
// or that are crowded.
func (s *Store[T]) compactQuiet() {
	now := time.Now()
	s.mu.Lock()
	// Hours cut longer ago than an interval are eligible anyway; forget
	// them so the map does not grow with every hour ever written.
	maps.DeleteFunc(s.lastCut, func(_ int64, t time.Time) bool { return now.Sub(t) >= s.o.CompactInterval })
	s.mu.Unlock()
	n, err := s.compact(func(hour int64, parts int) bool {
		last, ok := s.lastCut[hour]
		return parts > crowdedHour || !ok || now.Sub(last) >= s.o.CompactInterval
	})
	if err != nil {
		s.logFailure("cannot compact event parts", err)
	} else if n > 0 {
		s.o.Logger.Info("compacted event parts", "merged", n)
	}
}

// Compact merges small parts within each hour (the hour of a part's
// oldest row, UTC) into parts of at most MaxPartRows rows, and returns how
// many parts it merged away. A Scan sees either the old parts or the new
// one, never both and never neither. It fails with ErrDiskFull, before
// writing, when free space is low.
func (s *Store[T]) Compact() (merged int, err error) {
	return s.compact(func(int64, int) bool { return true })
}

// compact merges within the hours eligible accepts; eligible is called
// with mu held.
func (s *Store[T]) compact(eligible func(hour int64, parts int) bool) (int, error) {
	s.maintMu.Lock()
	defer s.maintMu.Unlock()
	merged := 0
	for _, group := range s.planCompaction(eligible) {
		if err := s.checkSpace(); err != nil {
			return merged, fmt.Errorf("cannot compact parts: %w", err)
		}
		if err := s.merge(group); err != nil {
			return merged, err
		}
		merged += len(group)
	}
	return merged, nil
}

// planCompaction groups the small parts of each eligible hour, oldest
// first, into runs of at least two whose rows fit in MaxPartRows. A part
// is small when it holds at most half of MaxPartRows, so a full part is
// not rewritten again and again to absorb small ones.
func (s *Store[T]) planCompaction(eligible func(hour int64, parts int) bool) [][]*partRef {
	s.mu.Lock()
	defer s.mu.Unlock()
	byHour := map[int64][]*partRef{}
	for _, r := range s.parts {
		h := hourOf(r.p.Meta.MinTime)
		byHour[h] = append(byHour[h], r)
	}
	var hours []int64
	for h := range byHour {
		hours = append(hours, h)
	}
	slices.Sort(hours)
	limit := int64(s.o.MaxPartRows)
	var plan [][]*partRef
	for _, h := range hours {
		if len(byHour[h]) < 2 || !eligible(h, len(byHour[h])) {
			continue
		}
		var small []*partRef
		for _, r := range byHour[h] {
			if 2*r.p.Meta.Rows <= limit {
				small = append(small, r)
			}
		}
		slices.SortFunc(small, func(a, b *partRef) int { return cmp.Compare(a.p.Meta.ID, b.p.Meta.ID) })
		var group []*partRef
		var rows int64
		for _, r := range small {
			if rows+r.p.Meta.Rows > limit {
				if len(group) >= 2 {
					plan = append(plan, group)
				}
				group, rows = nil, 0
			}
			group = append(group, r)
			rows += r.p.Meta.Rows
		}
		if len(group) >= 2 {
			plan = append(plan, group)
		}
	}
	return plan
}

// merge writes the rows of group as one part, swaps it in, and removes
// the group. maintMu must be held, so no part of group is dropped
// meanwhile.
func (s *Store[T]) merge(group []*partRef) error {
	var rows []T
	var ids []string
	level := 0
	var pos *parts.WALPos
	for _, r := range group {
		all := make([]int, len(r.p.Meta.RowGroups))
		for i := range all {
			all[i] = i
		}
		got, err := parts.Read[T](r.p, all)
		if err != nil {
			return fmt.Errorf("cannot compact part %s: %w", r.p.Meta.ID, err)
		}
		rows = append(rows, got...)
		ids = append(ids, r.p.Meta.ID)
		level = max(level, r.p.Meta.Level)
		if w := r.p.Meta.WAL; w != nil && (pos == nil || pos.Segment < w.Segment || pos.Segment == w.Segment && pos.Offset < w.Offset) {
			pos = &parts.WALPos{Segment: w.Segment, Offset: w.Offset}
		}
	}
	rows = sortRows(rows, s.o.Compare)
	p, err := s.writePart(rows, parts.WriteOptions{WAL: pos, Replaces: ids, Level: level + 1})
	if err != nil {
		return fmt.Errorf("cannot write compacted part: %w", err)
	}
	s.mu.Lock()
	s.parts = append(s.parts, &partRef{p: p})
	now := s.retireLocked(group)
	s.mu.Unlock()
	if err := s.removeParts(now); err != nil {
		// The new part lists the old ones in Replaces: Open removes them.
		s.o.Logger.Warn("cannot remove compacted part", "err", err)
	}
	return nil
}

// hourOf is the UTC hour partition of a Unix-nanosecond time.
func hourOf(t int64) int64 {
	const hour = int64(time.Hour)
	if t < 0 {
		return (t - hour + 1) / hour
	}
	return t / hour
}
