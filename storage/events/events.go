// Package events is the store for spans and log records: a write-ahead log
// (storage/wal) in front of an in-memory head that queries see at once,
// cut into immutable Parquet parts (storage/parts) that compaction merges
// and retention drops.
//
// Durability contract: Append returns after the rows are in an fsynced WAL
// group; they are in the head (visible to Scan) before it returns. A crash
// loses nothing acknowledged: Open replays the WAL records after the last
// batch known to be in a part. Cut writes the head to a part whose meta
// records the WAL position of its newest batch, then writes that position
// to checkpoint.json and drops the WAL segments before it. Open replays
// from the later of the checkpoint and the newest part's recorded
// position, so a crash between the part's rename and the checkpoint
// neither loses nor duplicates rows.
//
// Compaction writes a merged part whose meta lists the parts it replaces,
// swaps it in, and only then removes them; Open deletes any part another
// part replaces, so a crash in between duplicates nothing either.
//
// Ordering: batches reach the head in WAL order within one Append, but two
// concurrent Appends may reach it in either order. Cut therefore waits for
// appends in flight to finish before it takes the head, so every batch up
// to the recorded position is in the part and none after it is.
//
// Background work: Run, owned by one goroutine, cuts the head when it is
// old or big and compacts quiet hours. While Run is running, Append only
// signals it, and blocks (honouring its context) when the head has grown
// past twice its bounds, so memory stays bounded (by twice the bounds plus
// the batches of concurrent Appends) when parts are written more slowly
// than rows arrive. Without Run, Append cuts inline when the
// head is full, as it always did.
//
// A Store is safe for concurrent use.
//
// Locks: cutMu (cuts) and maintMu (compaction, retention) are never held
// together; either may be held when taking mu, which is only held for
// bookkeeping, never across disk I/O. spaceMu is a leaf.
package events

import (
	"bytes"
	"cmp"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/vigilhq/vigil/storage/parts"
	"github.com/vigilhq/vigil/storage/wal"
)

// ErrDiskFull is returned (wrapped, with the free bytes and the limit) by
// Append, Cut and Compact when the file system of Options.Dir has less
// free space than Options.MinFreeBytes. Nothing was written.
var ErrDiskFull = errors.New("not enough free disk space")

// Options configure a Store. Zero values take the defaults noted.
type Options[T any] struct {
	// Dir holds wal/, parts/ and checkpoint.json.
	Dir    string
	Schema parts.Schema[T]
	// Compare orders rows within a part (spans: trace id, start).
	Compare func(a, b *T) int
	// MaxHeadRows triggers a cut when the head holds this many rows
	// (default 200000).
	MaxHeadRows int
	// MaxHeadBytes triggers a cut when the head's estimated size reaches
	// it (default 64 MiB). The estimate is RowBytes, or else the size of
	// the rows' WAL record.
	MaxHeadBytes int64
	RowBytes     func(*T) int
	// MaxHeadAge makes Run cut the head once its oldest row has waited
	// this long (default 10s). Parts are small early on; compaction
	// merges them.
	MaxHeadAge time.Duration
	// MaxPartRows bounds the rows of a part made by compaction (default
	// 2,000,000). Compaction holds a merge's rows in memory.
	MaxPartRows int
	// CompactInterval is how often Run compacts (default 1 min); it
	// leaves alone an hour that received a cut within the last interval
	// unless that hour has more than 8 parts.
	CompactInterval time.Duration
	// MinFreeBytes is the free space below which Append refuses rows
	// with ErrDiskFull and cuts and compactions are skipped (default
	// 256 MiB; negative disables the check).
	MinFreeBytes int64
	// Extra, if set, is called with the sorted rows of every part written
	// (cut or compaction); the files it returns are stored in the part
	// (see parts.WriteOptions.Extra). An error fails the part write.
	Extra func(rows []T) (map[string][]byte, error)
	// RowGroupRows is the rows per row group of the parts written
	// (default: parts.WriteOptions' default). Extra sees the same split.
	RowGroupRows int
	// Codec, if set, encodes WAL records instead of gob; records written
	// before it was set still replay.
	Codec  *Codec[T]
	Logger *slog.Logger

	// freeSpace returns the bytes available to this process on the file
	// system holding dir; tests replace it.
	freeSpace func(dir string) (int64, error)
}

// Store is an open event store.
type Store[T any] struct {
	o        Options[T]
	wal      *wal.WAL
	partsDir string

	// mu guards head through lastCut. cond waits on mu for appends in
	// flight (cut) and for a cut to take the head (appends).
	mu        sync.Mutex
	cond      *sync.Cond
	head      []T
	headBytes int64
	headSince time.Time // when the oldest row in head arrived; zero if empty
	lastPos   wal.Pos   // WAL position of the newest batch in head
	hasLast   bool
	inflight  int
	cutting   bool
	parts     []*partRef
	running   bool                // Run is running
	shrunk    chan struct{}       // closed when the head shrinks or Run stops
	lastCut   map[int64]time.Time // hour partition → time of its latest cut

	kick chan struct{} // tells Run the head is full; buffered, never blocks

	cutMu   sync.Mutex // serialises cuts
	maintMu sync.Mutex // serialises compaction and retention

	spaceMu   sync.Mutex
	spaceAt   time.Time // when free was measured; spaceMu must be held
	spaceFree int64
	spaceErr  error
}

// partRef counts the Scans using a part, so a part dropped or merged away
// is only removed from disk once no Scan can still read it.
type partRef struct {
	p       *parts.Part
	refs    int  // mu must be held
	retired bool // mu must be held
}

type checkpoint struct {
	Segment uint64 `json:"segment"`
	Offset  int64  `json:"offset"`
}

// Open opens or creates the store: it removes unfinished parts and parts
// that a compacted part replaces, and replays the WAL after the newest
// batch already in a part into the head.
func Open[T any](o Options[T]) (*Store[T], error) {
	if o.MaxHeadRows <= 0 {
		o.MaxHeadRows = 200_000
	}
	if o.MaxHeadBytes <= 0 {
		o.MaxHeadBytes = 64 << 20
	}
	if o.MaxHeadAge <= 0 {
		o.MaxHeadAge = 10 * time.Second
	}
	if o.MaxPartRows <= 0 {
		o.MaxPartRows = 2_000_000
	}
	if o.CompactInterval <= 0 {
		o.CompactInterval = time.Minute
	}
	if o.MinFreeBytes == 0 {
		o.MinFreeBytes = 256 << 20
	}
	if o.freeSpace == nil {
		o.freeSpace = freeSpace
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store[T]{
		o:        o,
		partsDir: filepath.Join(o.Dir, "parts"),
		shrunk:   make(chan struct{}),
		lastCut:  map[int64]time.Time{},
		kick:     make(chan struct{}, 1),
	}
	s.cond = sync.NewCond(&s.mu)
	if err := os.MkdirAll(s.partsDir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", s.partsDir, err)
	}
	if err := s.openParts(); err != nil {
		return nil, err
	}

	from, hasFrom, err := readCheckpoint(o.Dir)
	if err != nil {
		return nil, err
	}
	cpFrom, cpOK := from, hasFrom
	for _, r := range s.parts {
		if w := r.p.Meta.WAL; w != nil {
			if pos := (wal.Pos{Segment: w.Segment, Offset: w.Offset}); !hasFrom || from.Less(pos) {
				from, hasFrom = pos, true
			}
		}
	}
	if hasFrom && (!cpOK || cpFrom.Less(from)) {
		// A crash came between a part's rename and its checkpoint.
		// Record the position now, or dropping that part by retention
		// before the next cut would make its rows come back from the
		// WAL at the next start.
		o.Logger.Info("checkpoint behind the newest part; advancing it", "checkpoint", cpFrom, "part", from)
		if err := writeCheckpoint(o.Dir, checkpoint{Segment: from.Segment, Offset: from.Offset}); err != nil {
			return nil, err
		}
	}

	if s.wal, err = wal.Open(wal.Options{Dir: filepath.Join(o.Dir, "wal"), Logger: o.Logger}); err != nil {
		return nil, err
	}
	err = s.wal.Replay(from, func(pos wal.Pos, rec []byte) error {
		if hasFrom && pos == from {
			return nil // that batch is in a part already
		}
		rows, err := s.decode(rec)
		if err != nil {
			return fmt.Errorf("wal record at %v: %w", pos, err)
		}
		s.head = append(s.head, rows...)
		s.headBytes += s.batchBytes(rows, rec)
		s.lastPos, s.hasLast = pos, true
		return nil
	})
	if err != nil {
		s.wal.Close()
		return nil, err
	}
	if len(s.head) > 0 {
		s.headSince = time.Now()
		o.Logger.Info("replayed event wal", "rows", len(s.head))
	}
	return s, nil
}

// openParts opens every whole part, first deleting those that a compacted
// part replaces: their rows are in it.
func (s *Store[T]) openParts() error {
	names, err := parts.Recover(s.partsDir)
	if err != nil {
		return err
	}
	var opened []*parts.Part
	replaced := map[string]bool{}
	for _, n := range names {
		p, err := parts.Open(filepath.Join(s.partsDir, n))
		if err != nil {
			return err
		}
		opened = append(opened, p)
		for _, id := range p.Meta.Replaces {
			replaced[id] = true
		}
	}
	for _, p := range opened {
		if replaced[p.Meta.ID] {
			s.o.Logger.Info("removing a part that a compacted part replaces", "part", p.Meta.ID)
			if err := parts.Remove(p.Dir); err != nil {
				return err
			}
			continue
		}
		s.parts = append(s.parts, &partRef{p: p})
	}
	return nil
}

func readCheckpoint(dir string) (wal.Pos, bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, "checkpoint.json"))
	if errors.Is(err, os.ErrNotExist) {
		return wal.Pos{}, false, nil
	}
	if err != nil {
		return wal.Pos{}, false, fmt.Errorf("cannot read checkpoint: %w", err)
	}
	var cp checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return wal.Pos{}, false, fmt.Errorf("cannot parse checkpoint: %w", err)
	}
	return wal.Pos{Segment: cp.Segment, Offset: cp.Offset}, true, nil
}

func (s *Store[T]) batchBytes(rows []T, rec []byte) int64 {
	if s.o.RowBytes == nil {
		return int64(len(rec))
	}
	var n int64
	for i := range rows {
		n += int64(s.o.RowBytes(&rows[i]))
	}
	return n
}

// overLocked reports whether the head holds factor times its row or byte
// bound. mu must be held.
func (s *Store[T]) overLocked(factor int64) bool {
	return int64(len(s.head)) >= factor*int64(s.o.MaxHeadRows) || s.headBytes >= factor*s.o.MaxHeadBytes
}

// Append stores rows durably and makes them visible. It fails with
// ErrDiskFull, writing nothing, when free space is low. While Run is
// running it waits (until ctx ends) for a cut when the head is over twice
// its bounds; without Run it cuts inline when the head is full, logging
// (not returning) a failed cut. A nil error means the rows are stored.
func (s *Store[T]) Append(ctx context.Context, rows []T) error {
	if len(rows) == 0 {
		return nil
	}
	if err := s.checkSpace(); err != nil {
		return err
	}
	rec, err := s.encode(rows)
	if err != nil {
		return err
	}
	n := s.batchBytes(rows, rec)

	s.mu.Lock()
	for {
		if s.cutting {
			s.cond.Wait()
			continue
		}
		if s.running && s.overLocked(2) {
			ch := s.shrunk
			s.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return fmt.Errorf("cannot append while the event head is full: %w", ctx.Err())
			}
			s.mu.Lock()
			continue
		}
		break
	}
	s.inflight++
	s.mu.Unlock()

	pos, err := s.wal.Append(ctx, rec)

	s.mu.Lock()
	first := false
	if err == nil {
		if len(s.head) == 0 {
			s.headSince = time.Now()
			first = true
		}
		s.head = append(s.head, rows...)
		s.headBytes += n
		if !s.hasLast || s.lastPos.Less(pos) {
			s.lastPos, s.hasLast = pos, true
		}
	}
	s.inflight--
	s.cond.Broadcast()
	full, running := s.overLocked(1), s.running
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if full && !running {
		// The rows are stored: a failed cut is the store's business,
		// and an error here would make the client send them again.
		if err := s.Cut(); err != nil {
			s.logFailure("cannot cut event part", err)
		}
		return nil
	}
	// The first row of an empty head starts its age: Run re-arms its
	// timer for it.
	if running && (full || first) {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// Cut writes the head to a new part and checkpoints the WAL. If the part
// cannot be written (ErrDiskFull among other causes) the head is kept
// whole and nothing is left on disk.
func (s *Store[T]) Cut() error {
	s.cutMu.Lock()
	defer s.cutMu.Unlock()

	s.mu.Lock()
	empty := len(s.head) == 0
	s.mu.Unlock()
	if empty {
		return nil
	}
	if err := s.checkSpace(); err != nil {
		return fmt.Errorf("cannot cut part: %w", err)
	}

	s.mu.Lock()
	s.cutting = true
	for s.inflight > 0 {
		s.cond.Wait()
	}
	// Appends only ever add past this length and a cut replaces the
	// slice, so these rows stay as they are without a copy.
	rows := s.head[:len(s.head):len(s.head)]
	rowsBytes := s.headBytes
	last := s.lastPos
	taken := time.Now()
	s.cutting = false
	s.cond.Broadcast()
	s.mu.Unlock()

	rows = sortRows(rows, s.o.Compare)
	p, err := s.writePart(rows, parts.WriteOptions{WAL: &parts.WALPos{Segment: last.Segment, Offset: last.Offset}})
	if err != nil {
		return fmt.Errorf("cannot cut part: %w", err)
	}

	s.mu.Lock()
	s.parts = append(s.parts, &partRef{p: p})
	// Rows appended while the part was written stay in the head; they
	// all arrived after the head was taken.
	s.head = slices.Clone(s.head[len(rows):])
	s.headBytes -= rowsBytes
	s.headSince = time.Time{}
	if len(s.head) > 0 {
		s.headSince = taken
	}
	s.lastCut[hourOf(p.Meta.MinTime)] = time.Now()
	close(s.shrunk)
	s.shrunk = make(chan struct{})
	s.mu.Unlock()

	if err := writeCheckpoint(s.o.Dir, checkpoint{Segment: last.Segment, Offset: last.Offset}); err != nil {
		return err
	}
	if err := s.wal.TruncateBefore(last); err != nil {
		s.o.Logger.Warn("cannot truncate event wal", "err", err)
	}
	return nil
}

// writePart writes sorted rows as a part with the Extra files and opens it.
func (s *Store[T]) writePart(rows []T, wo parts.WriteOptions) (*parts.Part, error) {
	wo.RowGroupRows = s.o.RowGroupRows
	if s.o.Extra != nil {
		extra, err := s.o.Extra(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot make the part's extra files: %w", err)
		}
		wo.Extra = extra
	}
	meta, err := parts.Write(s.partsDir, s.o.Schema, rows, wo)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(s.partsDir, "part-"+meta.ID)
	p, err := parts.Open(dir)
	if err != nil {
		// A part on disk that the store does not list would be written
		// again by the next cut, or duplicate rows at the next Open.
		if rerr := parts.Remove(dir); rerr != nil {
			s.o.Logger.Error("cannot remove a part that failed to open", "part", meta.ID, "err", rerr)
		}
		return nil, err
	}
	return p, nil
}

// Scan calls fn for every row whose time is in [minT, maxT] and that may
// carry all tokens (parts are pruned by time and blooms; the head is not,
// so fn must check the tokens' conditions itself). It stops when fn
// returns false. It sees one consistent set of rows: every row once, even
// while cuts, compactions and retention run; parts removed meanwhile stay
// on disk until it returns. fn is called with no lock held.
func (s *Store[T]) Scan(minT, maxT int64, tokens []string, fn func(*T) bool) error {
	v := s.View()
	defer v.Release()
	for i := range v.Head {
		if t := s.o.Schema.Time(&v.Head[i]); t >= minT && t <= maxT {
			if !fn(&v.Head[i]) {
				return nil
			}
		}
	}
	for _, p := range v.Parts {
		more, err := ScanPart(p, s.o.Schema, minT, maxT, p.RowGroupsFor(minT, maxT, tokens...), fn)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// View is a consistent snapshot of the store for one query: the head's
// rows as they were, and the parts, which stay on disk until Release even
// if compaction or retention retires them meanwhile. Head rows are shared
// with the store: read them, never modify or keep them.
type View[T any] struct {
	Head  []T
	Parts []*parts.Part
	s     *Store[T]
	refs  []*partRef
	done  bool
}

// View pins the current head and parts. Call Release when done.
func (s *Store[T]) View() *View[T] {
	s.mu.Lock()
	v := &View[T]{Head: s.head[:len(s.head):len(s.head)], s: s, refs: slices.Clone(s.parts)}
	for _, r := range v.refs {
		r.refs++
		v.Parts = append(v.Parts, r.p)
	}
	s.mu.Unlock()
	return v
}

// Release unpins the view's parts.
func (v *View[T]) Release() {
	if v.done {
		return
	}
	v.done = true
	v.s.release(v.refs)
}

// ScanPart calls fn for the rows of the given row groups of p whose time
// is in [minT, maxT], reading one row group at a time so memory stays
// bounded by the row group, not the part. It reports whether fn wanted
// more.
func ScanPart[T any](p *parts.Part, schema parts.Schema[T], minT, maxT int64, groups []int, fn func(*T) bool) (bool, error) {
	if len(groups) == 0 {
		return true, nil
	}
	d, err := p.SharedData()
	if err != nil {
		return false, err
	}
	for _, g := range groups {
		rows, err := parts.ReadRows[T](d, g, 0, math.MaxInt64)
		if err != nil {
			return false, err
		}
		for i := range rows {
			if t := schema.Time(&rows[i]); t >= minT && t <= maxT {
				if !fn(&rows[i]) {
					return false, nil
				}
			}
		}
	}
	return true, nil
}

// release drops a Scan's references and removes the retired parts nobody
// reads any more.
func (s *Store[T]) release(refs []*partRef) {
	var doomed []*partRef
	s.mu.Lock()
	for _, r := range refs {
		r.refs--
		if r.refs == 0 && r.retired {
			doomed = append(doomed, r)
		}
	}
	s.mu.Unlock()
	for _, r := range doomed {
		if err := parts.Remove(r.p.Dir); err != nil {
			// A leftover replaced part is removed at the next Open; a
			// leftover expired one is dropped again by retention.
			s.o.Logger.Warn("cannot remove part", "part", r.p.Meta.ID, "err", err)
		}
	}
}

// retireLocked takes parts out of the store. Those no Scan holds are
// returned for the caller to remove once mu is released; the others are
// removed by the last Scan using them. mu must be held.
func (s *Store[T]) retireLocked(gone []*partRef) (removeNow []*partRef) {
	s.parts = slices.DeleteFunc(s.parts, func(r *partRef) bool { return slices.Contains(gone, r) })
	for _, r := range gone {
		r.retired = true
		if r.refs == 0 {
			removeNow = append(removeNow, r)
		}
	}
	return removeNow
}

func (s *Store[T]) removeParts(rs []*partRef) error {
	var firstErr error
	for _, r := range rs {
		_ = r.p.Close()
		if err := parts.Remove(r.p.Dir); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// DropBefore removes the parts whose newest row is older than t (Unix
// nanoseconds): retention by age, whole parts at a time. It returns how
// many parts it removed. Scans already running finish on the old set.
func (s *Store[T]) DropBefore(t int64) (int, error) {
	s.maintMu.Lock()
	defer s.maintMu.Unlock()
	s.mu.Lock()
	var drop []*partRef
	for _, r := range s.parts {
		if r.p.Meta.MaxTime < t {
			drop = append(drop, r)
		}
	}
	now := s.retireLocked(drop)
	s.mu.Unlock()
	if err := s.removeParts(now); err != nil {
		return len(drop), fmt.Errorf("cannot remove expired part: %w", err)
	}
	return len(drop), nil
}

// DropToSize removes the oldest parts (by newest row) until the parts
// take at most maxBytes on disk: retention by size. It returns how many
// parts it removed. The head and the WAL are not counted.
func (s *Store[T]) DropToSize(maxBytes int64) (int, error) {
	s.maintMu.Lock()
	defer s.maintMu.Unlock()
	s.mu.Lock()
	byAge := slices.Clone(s.parts)
	slices.SortStableFunc(byAge, func(a, b *partRef) int { return cmp.Compare(a.p.Meta.MaxTime, b.p.Meta.MaxTime) })
	var total int64
	for _, r := range byAge {
		total += r.p.Bytes()
	}
	var drop []*partRef
	for _, r := range byAge {
		if total <= maxBytes {
			break
		}
		drop = append(drop, r)
		total -= r.p.Bytes()
	}
	now := s.retireLocked(drop)
	s.mu.Unlock()
	if err := s.removeParts(now); err != nil {
		return len(drop), fmt.Errorf("cannot remove part for size retention: %w", err)
	}
	return len(drop), nil
}

// Stats describes the store.
type Stats struct {
	HeadRows  int
	HeadBytes int64 // estimated, as for Options.MaxHeadBytes
	Parts     int
	Bytes     int64 // parts on disk
}

// Stats returns the head and parts' sizes.
func (s *Store[T]) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{HeadRows: len(s.head), HeadBytes: s.headBytes, Parts: len(s.parts)}
	for _, r := range s.parts {
		st.Bytes += r.p.Bytes()
	}
	return st
}

// Close closes the WAL; the head is replayed from it at the next Open.
// Call it after Run has returned.
func (s *Store[T]) Close() error {
	s.mu.Lock()
	for _, r := range s.parts {
		_ = r.p.Close()
	}
	s.mu.Unlock()
	return s.wal.Close()
}

// checkSpace returns an error wrapping ErrDiskFull when the file system
// has less than MinFreeBytes free. The measure is reused for a second, so
// Append does not pay a statfs per batch. A file system that cannot be
// measured is assumed to have room: refusing all writes would be worse.
func (s *Store[T]) checkSpace() error {
	if s.o.MinFreeBytes < 0 {
		return nil
	}
	s.spaceMu.Lock()
	if now := time.Now(); s.spaceAt.IsZero() || now.Sub(s.spaceAt) >= time.Second {
		hadErr := s.spaceErr != nil
		s.spaceFree, s.spaceErr = s.o.freeSpace(s.o.Dir)
		s.spaceAt = now
		if s.spaceErr != nil && !hadErr {
			s.o.Logger.Warn("cannot measure free disk space", "dir", s.o.Dir, "err", s.spaceErr)
		}
	}
	free, err := s.spaceFree, s.spaceErr
	s.spaceMu.Unlock()
	if err == nil && free < s.o.MinFreeBytes {
		return fmt.Errorf("%w: %s has %d bytes free, below the limit of %d; free some space or lower the minimum free bytes setting", ErrDiskFull, s.o.Dir, free, s.o.MinFreeBytes)
	}
	return nil
}

func writeCheckpoint(dir string, cp checkpoint) error {
	b, _ := json.Marshal(cp)
	tmp := filepath.Join(dir, "checkpoint.json.tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("cannot write checkpoint: %w", err)
	}
	if _, err := f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cannot write checkpoint: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "checkpoint.json")); err != nil {
		return fmt.Errorf("cannot write checkpoint: %w", err)
	}
	return nil
}

// encode and decode a batch for the WAL. gob keeps the store generic over
// the row type; a kind-specific codec can replace it when profiles say so.
func (s *Store[T]) encode(rows []T) ([]byte, error) {
	if c := s.o.Codec; c != nil {
		return c.Append([]byte(codecMagic), rows), nil
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(rows); err != nil {
		return nil, fmt.Errorf("cannot encode rows for the wal: %w", err)
	}
	return buf.Bytes(), nil
}

// codecMagic starts the WAL records written with Options.Codec; records
// without it are gob, as every record was before codecs existed.
const codecMagic = "VEC1"

func (s *Store[T]) decode(b []byte) ([]T, error) {
	if rest, ok := bytes.CutPrefix(b, []byte(codecMagic)); ok {
		if s.o.Codec == nil {
			return nil, errors.New("record written with a row codec, but none is configured")
		}
		return s.o.Codec.Decode(rest)
	}
	var rows []T
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&rows); err != nil {
		return nil, err
	}
	return rows, nil
}

// Codec encodes batches of rows for the WAL, faster and smaller than the
// gob default. Decode must reject malformed input with an error (records
// are checksummed, but a codec bug must not crash a replay).
type Codec[T any] struct {
	Append func(dst []byte, rows []T) []byte
	Decode func(b []byte) ([]T, error)
}

// sortRows returns rows in Compare order (stable, so equal rows keep
// their arrival order). Rows are large structs: sorting a permutation
// and gathering once moves each row one time instead of many.
func sortRows[T any](rows []T, compare func(a, b *T) int) []T {
	idx := make([]int32, len(rows))
	for i := range idx {
		idx[i] = int32(i)
	}
	// Ties broken by position: stable, at pdqsort's speed (a stable
	// merge sort of a large head costs several times more).
	slices.SortFunc(idx, func(a, b int32) int {
		if c := compare(&rows[a], &rows[b]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	out := make([]T, len(rows))
	for i, j := range idx {
		out[i] = rows[j]
	}
	return out
}
