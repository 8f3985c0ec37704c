package events

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/vigilhq/vigil/storage/parts"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type row struct {
	T    int64  `parquet:"t"`
	Body string `parquet:"body"`
}

func options(dir string, maxHead int) Options[row] {
	return Options[row]{
		Dir: dir,
		Schema: parts.Schema[row]{
			Kind: "test",
			Time: func(r *row) int64 { return r.T },
			Tokens: func(r *row, emit func(string)) {
				for _, w := range strings.Fields(r.Body) {
					emit(w)
				}
			},
		},
		Compare:     func(a, b *row) int { return int(a.T - b.T) },
		MaxHeadRows: maxHead,
		// Tests must not depend on the free space of the machine's
		// temporary directory.
		freeSpace: func(string) (int64, error) { return 1 << 40, nil },
	}
}

func scanAll(t *testing.T, s *Store[row], tokens ...string) map[int64]string {
	t.Helper()
	out := map[int64]string{}
	if err := s.Scan(0, 1<<62, tokens, func(r *row) bool {
		if _, dup := out[r.T]; dup {
			t.Errorf("row %d seen twice", r.T)
		}
		out[r.T] = r.Body
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// Rows are visible as soon as Append returns, survive cuts and restarts,
// and are never returned twice.
func TestAppendCutRestart(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(options(dir, 50))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 120 {
		if err := s.Append(context.Background(), []row{{T: int64(i + 1), Body: fmt.Sprintf("row %d word%d", i+1, (i+1)%7)}}); err != nil {
			t.Fatal(err)
		}
		if got := scanAll(t, s); len(got) != i+1 {
			t.Fatalf("after %d appends %d rows visible", i+1, len(got))
		}
	}
	st := s.Stats()
	if st.Parts != 2 || st.HeadRows != 20 {
		t.Errorf("stats %+v, want 2 parts and 20 rows in the head", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(options(dir, 50))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := scanAll(t, s)
	if len(got) != 120 || got[77] != "row 77 word0" {
		t.Fatalf("after restart %d rows; row 77 = %q", len(got), got[77])
	}
	if st := s.Stats(); st.HeadRows != 20 {
		t.Errorf("head after restart %d rows, want the 20 not yet in parts", st.HeadRows)
	}
	// Time ranges and blooms narrow what parts are read.
	n := 0
	s.Scan(10, 20, nil, func(*row) bool { n++; return true })
	if n != 11 {
		t.Errorf("rows in [10,20] = %d", n)
	}
}

// Appends and cuts in parallel lose and duplicate nothing.
func TestConcurrentAppendsAndCuts(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(options(dir, 64))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				ts := int64(g*1000 + i + 1)
				if err := s.Append(context.Background(), []row{{T: ts, Body: "x"}}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 10 {
			if err := s.Cut(); err != nil {
				t.Error(err)
			}
		}
	}()
	wg.Wait()
	if got := scanAll(t, s); len(got) != 400 {
		t.Errorf("%d rows, want 400", len(got))
	}
	s.Close()
	s, err = Open(options(dir, 64))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := scanAll(t, s); len(got) != 400 {
		t.Errorf("after restart %d rows, want 400", len(got))
	}
}

func TestDropBefore(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(options(dir, 10))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 30 {
		if err := s.Append(context.Background(), []row{{T: int64(i + 1), Body: "x"}}); err != nil {
			t.Fatal(err)
		}
	}
	// Parts hold 1..10, 11..20, 21..30; dropping before 15 removes one.
	if n, err := s.DropBefore(15); err != nil || n != 1 {
		t.Fatalf("DropBefore = %d, %v", n, err)
	}
	got := scanAll(t, s)
	if len(got) != 20 || got[5] != "" || got[11] != "x" {
		t.Errorf("after retention %d rows", len(got))
	}
	s.Close()
	s2, err := Open(options(dir, 10))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := scanAll(t, s2); len(got) != 20 {
		t.Errorf("after restart %d rows, want the 20 kept", len(got))
	}
}

// A codec takes over WAL records from gob without losing the records gob
// wrote: a store upgraded with unflushed rows in its WAL replays both.
func TestCodecReplaysGobRecords(t *testing.T) {
	dir := t.TempDir()
	codec := &Codec[row]{
		Append: func(dst []byte, rows []row) []byte {
			for _, r := range rows {
				dst = fmt.Appendf(dst, "%d:%s\n", r.T, r.Body)
			}
			return dst
		},
		Decode: func(b []byte) ([]row, error) {
			var out []row
			for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
				var r row
				t, body, ok := strings.Cut(line, ":")
				if _, err := fmt.Sscan(t, &r.T); err != nil || !ok {
					return nil, fmt.Errorf("bad line %q", line)
				}
				r.Body = body
				out = append(out, r)
			}
			return out, nil
		},
	}
	s, err := Open(options(dir, 1000)) // gob
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(context.Background(), []row{{T: 1, Body: "by gob"}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	o := options(dir, 1000)
	o.Codec = codec
	if s, err = Open(o); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(context.Background(), []row{{T: 2, Body: "by codec"}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(o); err != nil {
		t.Fatal(err)
	}
	if got := scanAll(t, s); len(got) != 2 || got[1] != "by gob" || got[2] != "by codec" {
		t.Fatalf("replayed %v", got)
	}
	// Without the codec, its records are refused by name, not misread.
	s.Close()
	if _, err := Open(options(dir, 1000)); err == nil || !strings.Contains(err.Error(), "codec") {
		t.Fatalf("opening codec records without the codec: %v", err)
	}
}
