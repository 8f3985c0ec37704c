package events

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhq/vigil/storage/parts"
)

const hourNs = int64(time.Hour)

func mustOpen(t *testing.T, o Options[row]) *Store[row] {
	t.Helper()
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func appendRows(t *testing.T, s *Store[row], from, n int64) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := s.Append(context.Background(), []row{{T: i, Body: fmt.Sprintf("row %d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
}

// multiset counts every row a Scan returns, duplicates included.
func multiset(t *testing.T, s *Store[row]) map[row]int {
	t.Helper()
	out := map[row]int{}
	if err := s.Scan(-1<<62, 1<<62, nil, func(r *row) bool { out[*r]++; return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

func partMetas(t *testing.T, dir string) []parts.Meta {
	t.Helper()
	names, err := parts.Recover(filepath.Join(dir, "parts"))
	if err != nil {
		t.Fatal(err)
	}
	var out []parts.Meta
	for _, n := range names {
		p, err := parts.Open(filepath.Join(dir, "parts", n))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Meta)
	}
	return out
}

// waitFor polls until cond holds; a store that never gets there fails by
// the test binary's timeout, not by a guess at how long is enough.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i%5000 == 4999 {
			t.Logf("still waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// runStore starts Run and returns a func that stops it and checks it
// returned nil.
func runStore(t *testing.T, s *Store[row]) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}
}

// Every part written, by a cut or by compaction, carries the Extra files
// computed from its own rows, sorted.
func TestExtraFiles(t *testing.T) {
	dir := t.TempDir()
	o := options(dir, 1000)
	var calls atomic.Int32
	o.Extra = func(rows []row) (map[string][]byte, error) {
		calls.Add(1)
		var b strings.Builder
		for _, r := range rows {
			fmt.Fprintf(&b, "%d,", r.T)
		}
		return map[string][]byte{"summary.txt": []byte(b.String())}, nil
	}
	s := mustOpen(t, o)
	defer s.Close()
	for _, batch := range [][]int64{{3, 1, 2}, {6, 4, 5}} {
		for _, ts := range batch {
			appendRows(t, s, ts, 1)
		}
		if err := s.Cut(); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.Compact(); err != nil || n != 2 {
		t.Fatalf("Compact = %d, %v", n, err)
	}
	if calls.Load() != 3 {
		t.Errorf("Extra called %d times, want 3 (two cuts, one merge)", calls.Load())
	}
	s.mu.Lock()
	p := s.parts[0].p
	s.mu.Unlock()
	b, err := p.ReadExtra("summary.txt")
	if err != nil || string(b) != "1,2,3,4,5,6," {
		t.Errorf("merged part's summary = %q, %v", b, err)
	}

	// An Extra failure fails the cut and keeps the rows in the head.
	o.Extra = func([]row) (map[string][]byte, error) { return nil, errors.New("no summary today") }
	s.o.Extra = o.Extra
	appendRows(t, s, 7, 1)
	if err := s.Cut(); err == nil || !strings.Contains(err.Error(), "no summary today") {
		t.Errorf("Cut with failing Extra = %v", err)
	}
	if st := s.Stats(); st.HeadRows != 1 || st.Parts != 1 {
		t.Errorf("after failed cut: %+v", st)
	}
}

// A crash after a part's rename but before its checkpoint neither loses
// nor duplicates rows: Open replays from the part's recorded WAL position.
func TestCrashBetweenPartAndCheckpoint(t *testing.T) {
	f := func(t *testing.T, cutsBefore int) {
		dir := t.TempDir()
		s := mustOpen(t, options(dir, 1000))
		for i := range cutsBefore {
			appendRows(t, s, int64(i*10+1), 10)
			if err := s.Cut(); err != nil {
				t.Fatal(err)
			}
		}
		cpPath := filepath.Join(dir, "checkpoint.json")
		oldCP, cpErr := os.ReadFile(cpPath)

		appendRows(t, s, 1000, 25)
		if err := s.Cut(); err != nil {
			t.Fatal(err)
		}
		appendRows(t, s, 2000, 5) // in the head only
		s.Close()

		// Put the world back as it was just before the checkpoint write.
		if cpErr != nil {
			os.Remove(cpPath)
		} else {
			os.WriteFile(cpPath, oldCP, 0o644)
		}

		s = mustOpen(t, options(dir, 1000))
		defer s.Close()
		got := multiset(t, s)
		if want := cutsBefore*10 + 30; len(got) != want {
			t.Errorf("%d distinct rows, want %d", len(got), want)
		}
		for r, n := range got {
			if n != 1 {
				t.Errorf("row %+v returned %d times", r, n)
			}
		}
		if st := s.Stats(); st.HeadRows != 5 {
			t.Errorf("head has %d rows after reopen, want the 5 never cut", st.HeadRows)
		}
		// Open caught the checkpoint up, so dropping the part cannot
		// bring its rows back from the WAL.
		if n, err := s.DropBefore(1 << 62); err != nil || n != cutsBefore+1 {
			t.Fatalf("DropBefore = %d, %v", n, err)
		}
		s.Close()
		s = mustOpen(t, options(dir, 1000))
		defer s.Close()
		if got := multiset(t, s); len(got) != 5 {
			t.Errorf("after dropping all parts and reopening, %d rows, want the 5 in the head", len(got))
		}
	}
	t.Run("no checkpoint yet", func(t *testing.T) { f(t, 0) })
	t.Run("older checkpoint", func(t *testing.T) { f(t, 2) })
}

// Run cuts the head once it is MaxHeadAge old, with no other trigger.
func TestRunCutsByAge(t *testing.T) {
	dir := t.TempDir()
	o := options(dir, 1000)
	o.MaxHeadAge = 20 * time.Millisecond
	s := mustOpen(t, o)
	defer s.Close()
	stop := runStore(t, s)
	defer stop()
	// One batch, so a slow machine cannot split it over two age cuts.
	if err := s.Append(context.Background(), []row{{T: 1}, {T: 2}, {T: 3}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "an age cut", func() bool { st := s.Stats(); return st.Parts == 1 && st.HeadRows == 0 })
	if got := multiset(t, s); len(got) != 3 {
		t.Errorf("%d rows after the cut", len(got))
	}
}

// Run cuts on the row bound and on the byte bound; Append no longer cuts
// inline while Run runs.
func TestRunCutsBySize(t *testing.T) {
	f := func(t *testing.T, o Options[row]) {
		o.MaxHeadAge = time.Hour
		s := mustOpen(t, o)
		defer s.Close()
		stop := runStore(t, s)
		defer stop()
		appendRows(t, s, 1, 9)
		if st := s.Stats(); st.Parts != 0 {
			t.Fatalf("cut below the bounds: %+v", st)
		}
		appendRows(t, s, 10, 1)
		waitFor(t, "a size cut", func() bool { st := s.Stats(); return st.Parts == 1 && st.HeadRows == 0 })
	}
	t.Run("rows", func(t *testing.T) { f(t, options(t.TempDir(), 10)) })
	t.Run("bytes", func(t *testing.T) {
		o := options(t.TempDir(), 1000)
		o.RowBytes = func(*row) int { return 100 }
		o.MaxHeadBytes = 1000
		f(t, o)
	})
}

// While Run cannot cut, Append stops growing the head at twice its bound
// and waits, honouring its context; once cuts work again it proceeds.
func TestAppendBackpressure(t *testing.T) {
	dir := t.TempDir()
	o := options(dir, 5)
	o.MaxHeadAge = time.Hour
	var broken atomic.Bool
	broken.Store(true)
	o.Extra = func([]row) (map[string][]byte, error) {
		if broken.Load() {
			return nil, errors.New("injected")
		}
		return nil, nil
	}
	s := mustOpen(t, o)
	defer s.Close()
	stop := runStore(t, s)
	defer stop()
	appendRows(t, s, 1, 10)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Append(ctx, []row{{T: 11}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append over twice the bound = %v, want context.Canceled", err)
	}
	if st := s.Stats(); st.HeadRows != 10 || st.Parts != 0 {
		t.Fatalf("stats %+v, want 10 rows in the head", st)
	}

	done := make(chan error, 1)
	go func() { done <- s.Append(context.Background(), []row{{T: 11}}) }()
	broken.Store(false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := multiset(t, s); len(got) != 11 {
		t.Errorf("%d rows, want 11", len(got))
	}
	if st := s.Stats(); st.Parts == 0 {
		t.Errorf("no part cut: %+v", st)
	}
}

// A part write that fails half way leaves no .tmp- folder, and the head
// keeps every row until a later cut succeeds.
func TestFailedCutLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	o := options(dir, 1000)
	var broken atomic.Bool
	broken.Store(true)
	o.Extra = func([]row) (map[string][]byte, error) {
		if broken.Load() {
			// The data file is written by then; the file system
			// refuses this name.
			return map[string][]byte{strings.Repeat("n", 300): []byte("x")}, nil
		}
		return nil, nil
	}
	s := mustOpen(t, o)
	defer s.Close()
	appendRows(t, s, 1, 20)
	if err := s.Cut(); err == nil {
		t.Fatal("cut with an impossible file name succeeded")
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "parts"))
	if len(entries) != 0 {
		t.Errorf("failed cut left %v", entries)
	}
	if st := s.Stats(); st.HeadRows != 20 || st.Parts != 0 {
		t.Errorf("after a failed cut: %+v", st)
	}
	broken.Store(false)
	if err := s.Cut(); err != nil {
		t.Fatal(err)
	}
	if got := multiset(t, s); len(got) != 20 {
		t.Errorf("%d rows after the retried cut", len(got))
	}
}

// Low free space refuses appends with ErrDiskFull and writes nothing;
// cuts and compactions are refused too.
func TestDiskFullGuard(t *testing.T) {
	dir := t.TempDir()
	o := options(dir, 1000)
	var free atomic.Int64
	free.Store(1 << 40)
	o.freeSpace = func(string) (int64, error) { return free.Load(), nil }
	s := mustOpen(t, o)
	defer s.Close()
	appendRows(t, s, 1, 5)
	if err := s.Cut(); err != nil {
		t.Fatal(err)
	}
	appendRows(t, s, 6, 5)
	if err := s.Cut(); err != nil {
		t.Fatal(err)
	}
	appendRows(t, s, 11, 5)
	walBefore := dirBytes(t, filepath.Join(dir, "wal"))

	free.Store(100 << 20)
	s.spaceMu.Lock()
	s.spaceAt = time.Time{} // forget the cached measure
	s.spaceMu.Unlock()
	err := s.Append(context.Background(), []row{{T: 99}})
	if !errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), fmt.Sprint(100<<20)) || !strings.Contains(err.Error(), fmt.Sprint(256<<20)) {
		t.Errorf("Append on a full disk = %v", err)
	}
	if got := dirBytes(t, filepath.Join(dir, "wal")); got != walBefore {
		t.Errorf("wal grew from %d to %d bytes on a refused append", walBefore, got)
	}
	if err := s.Cut(); !errors.Is(err, ErrDiskFull) {
		t.Errorf("Cut on a full disk = %v", err)
	}
	if n, err := s.Compact(); !errors.Is(err, ErrDiskFull) || n != 0 {
		t.Errorf("Compact on a full disk = %d, %v", n, err)
	}
	if st := s.Stats(); st.HeadRows != 5 || st.Parts != 2 {
		t.Errorf("after refusals: %+v", st)
	}

	// A negative minimum turns the guard off.
	s.o.MinFreeBytes = -1
	if err := s.Append(context.Background(), []row{{T: 99}}); err != nil {
		t.Errorf("Append with the guard off = %v", err)
	}
}

func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Compaction changes how rows are stored, never which rows a Scan
// returns, and the result survives a reopen.
func TestCompactKeepsRows(t *testing.T) {
	dir := t.TempDir()
	o := options(dir, 1000)
	o.MaxPartRows = 50
	s := mustOpen(t, o)
	// Hour 0 gets eight parts of 10 rows, hour 5 two, hour 9 a lone one
	// (nothing to merge it with). Rows of the same time in different parts
	// check that equal rows are kept, not deduplicated.
	for i := range 8 {
		for j := range 10 {
			ts := int64(1 + j*7 + i)
			if err := s.Append(context.Background(), []row{{T: ts, Body: fmt.Sprintf("p%d", i%2)}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Cut(); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		appendRows(t, s, 5*hourNs, 10)
		if err := s.Cut(); err != nil {
			t.Fatal(err)
		}
	}
	appendRows(t, s, 9*hourNs, 10)
	if err := s.Cut(); err != nil {
		t.Fatal(err)
	}
	appendRows(t, s, 9*hourNs+100, 3) // head rows stay put
	before := multiset(t, s)
	statsBefore := s.Stats()

	n, err := s.Compact()
	if err != nil {
		t.Fatal(err)
	}
	// Hour 0: 50 rows max per part → 5 + 3 parts merged; hour 5: 2.
	if n != 10 {
		t.Errorf("merged %d parts, want 10", n)
	}
	if after := multiset(t, s); !maps.Equal(before, after) {
		t.Errorf("rows differ after Compact: %d distinct before, %d after", len(before), len(after))
	}
	st := s.Stats()
	if st.Parts != 4 || st.HeadRows != 3 || st.Bytes >= statsBefore.Bytes {
		t.Errorf("after Compact %+v (before %+v), want 4 parts", st, statsBefore)
	}
	var levels []int
	var maxWAL parts.WALPos
	for _, m := range partMetas(t, dir) {
		levels = append(levels, m.Level)
		if m.Rows > 50 {
			t.Errorf("part of %d rows, over MaxPartRows", m.Rows)
		}
		if m.Level == 1 && (len(m.Replaces) < 2 || m.WAL == nil) {
			t.Errorf("compacted part meta: replaces %v wal %v", m.Replaces, m.WAL)
		}
		if m.WAL != nil && (maxWAL.Segment < m.WAL.Segment || maxWAL.Segment == m.WAL.Segment && maxWAL.Offset < m.WAL.Offset) {
			maxWAL = *m.WAL
		}
	}
	slices.Sort(levels)
	if fmt.Sprint(levels) != "[0 1 1 1]" {
		t.Errorf("levels %v, want the lone part at 0 and three merged at 1", levels)
	}
	cp, _, _ := readCheckpoint(dir)
	if cp.Segment != maxWAL.Segment || cp.Offset != maxWAL.Offset {
		t.Errorf("checkpoint %v, newest part wal %v", cp, maxWAL)
	}
	// A second pass leaves hour 0 alone: its parts of 50 and 30 rows are
	// no longer small.
	if n, err := s.Compact(); err != nil || n != 0 {
		t.Errorf("second Compact = %d, %v", n, err)
	}
	s.Close()

	s = mustOpen(t, o)
	defer s.Close()
	if after := multiset(t, s); !maps.Equal(before, after) {
		t.Errorf("rows differ after reopen: %d distinct before, %d after", len(before), len(after))
	}
}

// A crash after a compacted part's rename but before the old parts are
// removed: Open removes the old parts, so no row is returned twice.
func TestOpenRemovesReplacedParts(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, options(dir, 1000))
	for i := range 3 {
		appendRows(t, s, int64(i*10+1), 10)
		if err := s.Cut(); err != nil {
			t.Fatal(err)
		}
	}
	before := multiset(t, s)
	backup := t.TempDir()
	names, _ := parts.Recover(filepath.Join(dir, "parts"))
	for _, n := range names {
		if err := os.CopyFS(filepath.Join(backup, n), os.DirFS(filepath.Join(dir, "parts", n))); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.Compact(); err != nil || n != 3 {
		t.Fatalf("Compact = %d, %v", n, err)
	}
	s.Close()
	for _, n := range names {
		if err := os.CopyFS(filepath.Join(dir, "parts", n), os.DirFS(filepath.Join(backup, n))); err != nil {
			t.Fatal(err)
		}
	}
	if len(partMetas(t, dir)) != 4 {
		t.Fatal("the old parts were not put back")
	}

	s = mustOpen(t, options(dir, 1000))
	defer s.Close()
	if after := multiset(t, s); !maps.Equal(before, after) {
		t.Errorf("after reopen %d distinct rows (%v), want %d each once", len(after), after, len(before))
	}
	if st := s.Stats(); st.Parts != 1 {
		t.Errorf("%d parts after reopen, want the compacted one", st.Parts)
	}
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, "parts", n)); !os.IsNotExist(err) {
			t.Errorf("replaced part %s still on disk", n)
		}
	}
}

// A Scan that is reading while compaction and retention remove its parts
// finishes on the set it started with: no error, every row once. The
// parts leave the disk when it ends.
func TestScanWhileRemoving(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, options(dir, 1000))
	defer s.Close()
	for i := range 4 {
		appendRows(t, s, int64(i*10+1), 10)
		if err := s.Cut(); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[int64]int{}
	first := true
	err := s.Scan(0, 1<<62, nil, func(r *row) bool {
		if first {
			first = false
			if n, err := s.Compact(); err != nil || n != 4 {
				t.Errorf("Compact = %d, %v", n, err)
			}
			if n, err := s.DropToSize(0); err != nil || n != 1 {
				t.Errorf("DropToSize = %d, %v", n, err)
			}
			if st := s.Stats(); st.Parts != 0 {
				t.Errorf("parts after dropping all: %d", st.Parts)
			}
			// The old parts stay on disk for this Scan; the merged one,
			// which no Scan holds, went at once.
			if entries, _ := os.ReadDir(filepath.Join(dir, "parts")); len(entries) != 4 {
				t.Errorf("%d part folders during the scan, want the 4 it reads", len(entries))
			}
		}
		seen[r.T]++
		return true
	})
	if err != nil {
		t.Fatalf("Scan failed while parts were removed: %v", err)
	}
	if len(seen) != 40 {
		t.Errorf("scan saw %d rows, want the 40 it started with", len(seen))
	}
	for ts, n := range seen {
		if n != 1 {
			t.Errorf("row %d seen %d times", ts, n)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "parts")); len(entries) != 0 {
		t.Errorf("%d folders left after the scan ended", len(entries))
	}
}

// Appends, cuts, compactions and scans at once: every scan sees each row
// at most once and at least every row acknowledged before it started.
func TestConcurrentCompaction(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, options(dir, 1000))
	defer s.Close()
	var acked atomic.Int64
	var wg sync.WaitGroup
	stopMaint := make(chan struct{})
	for g := range 3 {
		wg.Go(func() {
			for i := range 150 {
				if err := s.Append(context.Background(), []row{{T: int64(g*1000 + i + 1)}}); err != nil {
					t.Error(err)
					return
				}
				acked.Add(1)
			}
		})
	}
	var maint sync.WaitGroup
	maint.Go(func() {
		for {
			select {
			case <-stopMaint:
				return
			default:
			}
			if err := s.Cut(); err != nil {
				t.Error(err)
			}
			if _, err := s.Compact(); err != nil {
				t.Error(err)
			}
		}
	})
	for range 2 {
		maint.Go(func() {
			for {
				select {
				case <-stopMaint:
					return
				default:
				}
				want := acked.Load()
				seen := map[int64]bool{}
				err := s.Scan(0, 1<<62, nil, func(r *row) bool {
					if seen[r.T] {
						t.Errorf("row %d twice in one scan", r.T)
					}
					seen[r.T] = true
					return true
				})
				if err != nil {
					t.Error(err)
				}
				if int64(len(seen)) < want {
					t.Errorf("scan saw %d rows, %d were acknowledged before it", len(seen), want)
				}
			}
		})
	}
	wg.Wait()
	close(stopMaint)
	maint.Wait()
	if got := multiset(t, s); len(got) != 450 {
		t.Errorf("%d rows at the end, want 450", len(got))
	}
}

// Size retention drops the parts with the oldest rows first, until the
// rest fit.
func TestDropToSize(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, options(dir, 1000))
	defer s.Close()
	// Written newest first, so age by creation and by rows disagree.
	for i := 3; i >= 0; i-- {
		appendRows(t, s, int64(i*100+1), 10)
		if err := s.Cut(); err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stats()
	if st.Bytes != dirBytes(t, filepath.Join(dir, "parts")) {
		t.Errorf("Stats.Bytes %d, parts on disk %d", st.Bytes, dirBytes(t, filepath.Join(dir, "parts")))
	}
	if n, err := s.DropToSize(st.Bytes); err != nil || n != 0 {
		t.Errorf("DropToSize(current) = %d, %v", n, err)
	}
	n, err := s.DropToSize(st.Bytes - 1)
	if err != nil || n != 1 {
		t.Fatalf("DropToSize = %d, %v", n, err)
	}
	got := multiset(t, s)
	if len(got) != 30 || got[row{T: 5, Body: "row 5"}] != 0 || got[row{T: 105, Body: "row 105"}] != 1 {
		t.Errorf("after dropping one part: %d rows", len(got))
	}
	if after := s.Stats(); after.Bytes > st.Bytes-1 || after.Bytes != dirBytes(t, filepath.Join(dir, "parts")) {
		t.Errorf("Bytes %d after drop, on disk %d", after.Bytes, dirBytes(t, filepath.Join(dir, "parts")))
	}
}

// Run compacts on its interval, and an hour crowded with parts is
// compacted even while cuts keep arriving.
func TestRunCompacts(t *testing.T) {
	dir := t.TempDir()
	o := options(dir, 1000)
	o.MaxHeadAge = time.Hour
	o.CompactInterval = 5 * time.Millisecond
	s := mustOpen(t, o)
	defer s.Close()
	for i := range 3 {
		appendRows(t, s, int64(i*10+1), 10)
		if err := s.Cut(); err != nil {
			t.Fatal(err)
		}
	}
	stop := runStore(t, s)
	defer stop()
	waitFor(t, "compaction", func() bool { return s.Stats().Parts == 1 })
	if got := multiset(t, s); len(got) != 30 {
		t.Errorf("%d rows after compaction", len(got))
	}
}

func TestCompactionPlan(t *testing.T) {
	s := &Store[row]{o: Options[row]{MaxPartRows: 100}}
	add := func(id string, hour int64, rows int64) {
		s.parts = append(s.parts, &partRef{p: &parts.Part{Meta: parts.Meta{ID: id, MinTime: hour*hourNs + 5, Rows: rows}}})
	}
	add("a", 0, 10)
	add("c", 0, 60) // too big to be small
	add("b", 0, 30)
	add("d", 0, 50)
	add("e", 0, 20)
	add("f", 1, 10) // alone in its hour
	add("g", -1, 10)
	add("h", -1, 10)
	var plan []string
	for _, g := range s.planCompaction(func(int64, int) bool { return true }) {
		var ids []string
		for _, r := range g {
			ids = append(ids, r.p.Meta.ID)
		}
		plan = append(plan, strings.Join(ids, ""))
	}
	if fmt.Sprint(plan) != "[gh abd]" {
		t.Errorf("plan %v, want [gh abd]: e does not fit with abd and is alone", plan)
	}
	if p := s.planCompaction(func(h int64, _ int) bool { return h == 0 }); len(p) != 1 {
		t.Errorf("plan for hour 0 only: %d groups", len(p))
	}
}

func TestRunTwiceRefused(t *testing.T) {
	s := mustOpen(t, options(t.TempDir(), 1000))
	defer s.Close()
	stop := runStore(t, s)
	defer stop()
	waitFor(t, "Run to start", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.running })
	if err := s.Run(context.Background()); err == nil {
		t.Error("second Run accepted")
	}
}

func TestStatsBytes(t *testing.T) {
	o := options(t.TempDir(), 1000)
	o.RowBytes = func(r *row) int { return 8 + len(r.Body) }
	s := mustOpen(t, o)
	defer s.Close()
	s.Append(context.Background(), []row{{T: 1, Body: "abc"}, {T: 2, Body: "de"}})
	if st := s.Stats(); st.HeadBytes != 21 || st.Bytes != 0 {
		t.Errorf("stats %+v, want 21 head bytes", st)
	}
	if err := s.Cut(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.HeadBytes != 0 || st.Bytes == 0 {
		t.Errorf("stats after cut %+v", st)
	}
}

// When Run stops, an Append waiting for its cut is released and stores its
// rows (cutting inline, as without Run) instead of waiting forever.
func TestRunStopReleasesAppends(t *testing.T) {
	o := options(t.TempDir(), 5)
	o.MaxHeadAge = time.Hour
	o.Extra = func([]row) (map[string][]byte, error) { return nil, errors.New("injected") }
	s := mustOpen(t, o)
	defer s.Close()
	stop := runStore(t, s)
	appendRows(t, s, 1, 10)
	done := make(chan error, 1)
	go func() { done <- s.Append(context.Background(), []row{{T: 11}}) }()
	stop()
	if err := <-done; err != nil {
		t.Errorf("Append after Run stopped = %v; the rows are stored, a failed cut is not its error", err)
	}
	if st := s.Stats(); st.HeadRows != 11 {
		t.Errorf("head has %d rows, want 11", st.HeadRows)
	}
}
