package parts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// event is a row type as a kind would declare it: standard logical types
// through parquet-go's struct tags.
type event struct {
	Time    time.Time         `parquet:"time,timestamp(nanosecond)"`
	Service string            `parquet:"service,dict"`
	Body    string            `parquet:"body"`
	Attrs   map[string]string `parquet:"attributes"`
}

var schema = Schema[event]{
	Kind: "test-events",
	Time: func(e *event) int64 { return e.Time.UnixNano() },
	Tokens: func(e *event, emit func(string)) {
		emit(e.Service)
		for _, w := range strings.Fields(e.Body) {
			emit(w)
		}
	},
}

func events(n int, base time.Time) []event {
	out := make([]event, n)
	for i := range out {
		out[i] = event{
			Time:    base.Add(time.Duration(i) * time.Second),
			Service: fmt.Sprintf("svc-%d", i/100),
			Body:    fmt.Sprintf("request %d handled order-%d", i, i),
			Attrs:   map[string]string{"i": fmt.Sprint(i)},
		}
	}
	return out
}

func TestWriteOpenRead(t *testing.T) {
	dir := t.TempDir()
	base := time.Unix(1_700_000_000, 0).UTC()
	rows := events(1000, base)
	meta, err := Write(dir, schema, rows, WriteOptions{RowGroupRows: 100})
	if err != nil {
		t.Fatal(err)
	}
	if meta.Rows != 1000 || len(meta.RowGroups) != 10 || meta.MinTime != base.UnixNano() || meta.MaxTime != base.Add(999*time.Second).UnixNano() {
		t.Errorf("meta = %+v", meta)
	}
	names, err := Recover(dir)
	if err != nil || len(names) != 1 || names[0] != "part-"+meta.ID {
		t.Fatalf("Recover = %v, %v", names, err)
	}
	p, err := Open(filepath.Join(dir, names[0]))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(); err != nil {
		t.Fatal(err)
	}

	got, err := Read[event](p, []int{0, 9})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 200 || !got[0].Time.Equal(rows[0].Time) || got[199].Body != rows[999].Body || got[150].Attrs["i"] != "950" {
		t.Errorf("read %d rows; first %+v last %+v", len(got), got[0], got[len(got)-1])
	}

	// Time ranges and blooms prune row groups; they never lose a match.
	if g := p.RowGroupsFor(base.Add(250*time.Second).UnixNano(), base.Add(320*time.Second).UnixNano()); fmt.Sprint(g) != "[2 3]" {
		t.Errorf("groups for 250s..320s = %v, want [2 3]", g)
	}
	if g := p.RowGroupsFor(0, 1<<62, "order-512"); len(g) == 0 || g[0] != 5 || len(g) > 2 {
		t.Errorf("groups for order-512 = %v, want [5] (perhaps one false positive)", g)
	}
	if g := p.RowGroupsFor(0, 1<<62, "svc-3", "request"); fmt.Sprint(g) != "[3]" {
		t.Errorf("groups for svc-3 = %v, want [3]", g)
	}
	misses := 0
	for i := range 1000 {
		misses += len(p.RowGroupsFor(0, 1<<62, fmt.Sprintf("absent-%d", i)))
	}
	// 1% per group target; 10 groups × 1000 probes.
	if misses > 300 {
		t.Errorf("%d false positives in 10000 probes", misses)
	}
}

// A crash before the rename leaves a .tmp- folder, which Recover removes;
// damage to a written part is detected.
func TestRecoverAndDamage(t *testing.T) {
	dir := t.TempDir()
	if _, err := Write(dir, schema, events(10, time.Now()), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, ".tmp-part-crashed"), 0o755)
	os.WriteFile(filepath.Join(dir, ".tmp-part-crashed", "data.parquet"), []byte("half"), 0o644)
	names, err := Recover(dir)
	if err != nil || len(names) != 1 {
		t.Fatalf("Recover = %v, %v", names, err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".tmp-part-crashed")); !os.IsNotExist(err) {
		t.Error("unfinished part left behind")
	}
	pdir := filepath.Join(dir, names[0])

	data := filepath.Join(pdir, dataFile)
	b, _ := os.ReadFile(data)
	b[len(b)/2] ^= 0xff
	os.WriteFile(data, b, 0o644)
	p, err := Open(pdir)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(); err == nil || !strings.Contains(err.Error(), dataFile) {
		t.Errorf("Verify after damage = %v", err)
	}

	os.WriteFile(data, b[:len(b)-1], 0o644)
	if _, err := Open(pdir); err == nil {
		t.Error("Open accepted a data file of the wrong size")
	}

	var m Meta
	mb, _ := os.ReadFile(filepath.Join(pdir, metaFile))
	json.Unmarshal(mb, &m)
	m.FormatVersion = FormatVersion + 1
	mb, _ = json.Marshal(m)
	os.WriteFile(filepath.Join(pdir, metaFile), mb, 0o644)
	if _, err := Open(pdir); err == nil || !strings.Contains(err.Error(), "format version") {
		t.Errorf("Open of a newer format = %v", err)
	}
}

func TestEmptyPartRefused(t *testing.T) {
	if _, err := Write(t.TempDir(), schema, nil, WriteOptions{}); err == nil {
		t.Error("empty part written")
	}
}

func FuzzReadBlooms(f *testing.F) {
	var buf bytes.Buffer
	writeBlooms(&buf, []*bloom{newBloomOf([]string{"a", "b"}, 0.01)})
	f.Add(buf.Bytes())
	f.Add([]byte("VGBL\x01\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		blooms, err := readBlooms(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, bl := range blooms {
			bl.contains("x") // must not panic
		}
	})
}

// Extra files travel with the part, checksummed like its own files, and
// the optional meta fields round-trip.
func TestExtraFilesAndMeta(t *testing.T) {
	dir := t.TempDir()
	summary := []byte("trace summary\x00\x01")
	meta, err := Write(dir, schema, events(10, time.Now()), WriteOptions{
		Extra:    map[string][]byte{"summary.bin": summary, "empty": {}},
		WAL:      &WALPos{Segment: 3, Offset: 4096},
		Replaces: []string{"a", "b"},
		Level:    2,
	})
	if err != nil {
		t.Fatal(err)
	}
	pdir := filepath.Join(dir, "part-"+meta.ID)
	p, err := Open(pdir)
	if err != nil {
		t.Fatal(err)
	}
	if p.Meta.WAL == nil || *p.Meta.WAL != (WALPos{Segment: 3, Offset: 4096}) || fmt.Sprint(p.Meta.Replaces) != "[a b]" || p.Meta.Level != 2 {
		t.Errorf("meta read back: wal %v replaces %v level %d", p.Meta.WAL, p.Meta.Replaces, p.Meta.Level)
	}
	if fi := p.Meta.Files["summary.bin"]; fi.Size != int64(len(summary)) {
		t.Errorf("summary.bin recorded as %+v", fi)
	}
	if b, err := p.ReadExtra("summary.bin"); err != nil || !bytes.Equal(b, summary) {
		t.Errorf("ReadExtra = %q, %v", b, err)
	}
	if b, err := p.ReadExtra("empty"); err != nil || len(b) != 0 {
		t.Errorf("ReadExtra(empty) = %q, %v", b, err)
	}
	if _, err := p.ReadExtra("absent"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadExtra(absent) = %v, want ErrNotExist", err)
	}
	if err := p.Verify(); err != nil {
		t.Fatal(err)
	}

	// Bytes is what the files take, meta.json included.
	var onDisk int64
	entries, _ := os.ReadDir(pdir)
	for _, e := range entries {
		fi, _ := e.Info()
		onDisk += fi.Size()
	}
	if p.Bytes() != onDisk || len(entries) != 5 {
		t.Errorf("Bytes() = %d, files on disk %d bytes in %d files", p.Bytes(), onDisk, len(entries))
	}

	// Same size, different content: only the checksum notices.
	os.WriteFile(filepath.Join(pdir, "summary.bin"), []byte("trace summarY\x00\x01"), 0o644)
	if _, err := p.ReadExtra("summary.bin"); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("ReadExtra of a damaged file = %v", err)
	}
	os.WriteFile(filepath.Join(pdir, "summary.bin"), []byte("short"), 0o644)
	if _, err := p.ReadExtra("summary.bin"); err == nil || !strings.Contains(err.Error(), "meta says") {
		t.Errorf("ReadExtra of a truncated file = %v", err)
	}
}

// A meta.json without the optional fields (as written before they
// existed) reads as a level-0 part with no WAL position.
func TestMetaWithoutOptionalFields(t *testing.T) {
	dir := t.TempDir()
	meta, err := Write(dir, schema, events(3, time.Now()), WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := os.ReadFile(filepath.Join(dir, "part-"+meta.ID, metaFile))
	for _, field := range []string{`"wal"`, `"replaces"`, `"level"`} {
		if bytes.Contains(mb, []byte(field)) {
			t.Errorf("meta.json of a plain part has %s:\n%s", field, mb)
		}
	}
	p, err := Open(filepath.Join(dir, "part-"+meta.ID))
	if err != nil || p.Meta.WAL != nil || p.Meta.Replaces != nil || p.Meta.Level != 0 {
		t.Errorf("Open = %+v, %v", p, err)
	}
}

func TestExtraNamesRefused(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"", "../x", "a/b", `a\b`, ".hidden", dataFile, bloomFile, metaFile} {
		if _, err := Write(dir, schema, events(1, time.Now()), WriteOptions{Extra: map[string][]byte{name: nil}}); err == nil {
			t.Errorf("extra file %q accepted", name)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("refused writes left %d entries", len(entries))
	}
}

// A write that fails after the folder exists (here: a file name the file
// system refuses) leaves nothing behind.
func TestFailedWriteLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	_, err := Write(dir, schema, events(100, time.Now()), WriteOptions{Extra: map[string][]byte{strings.Repeat("x", 300): []byte("y")}})
	if err == nil {
		t.Fatal("write with an impossible file name succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed write left %v", entries)
	}
}

func TestRemove(t *testing.T) {
	dir := t.TempDir()
	meta, err := Write(dir, schema, events(3, time.Now()), WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	keep, err := Write(dir, schema, events(3, time.Now()), WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := Remove(filepath.Join(dir, "part-"+meta.ID)); err != nil {
		t.Fatal(err)
	}
	if names, err := Recover(dir); err != nil || fmt.Sprint(names) != "[part-"+keep.ID+"]" {
		t.Errorf("after Remove, Recover = %v, %v", names, err)
	}
	// A removal cut short by a crash is finished by Recover.
	half := filepath.Join(dir, tmpPrefix+"rm-part-x")
	os.MkdirAll(half, 0o755)
	os.WriteFile(filepath.Join(half, dataFile), []byte("rest"), 0o644)
	if names, _ := Recover(dir); len(names) != 1 {
		t.Errorf("Recover = %v", names)
	}
	if _, err := os.Stat(half); !os.IsNotExist(err) {
		t.Error("half-removed part left behind")
	}
}

// The shared data file is opened once, survives its readers' Close, is
// read from many goroutines at once, and is gone after the part's Close.
func TestSharedData(t *testing.T) {
	dir := t.TempDir()
	meta, err := Write(dir, schema, events(500, time.Unix(1_700_000_000, 0)), WriteOptions{RowGroupRows: 100})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Open(filepath.Join(dir, "part-"+meta.ID))
	if err != nil {
		t.Fatal(err)
	}
	d1, err := p.SharedData()
	if err != nil {
		t.Fatal(err)
	}
	d1.Close() // a reader's Close leaves it open
	d2, _ := p.SharedData()
	if d1 != d2 {
		t.Fatal("SharedData opened the file twice")
	}
	errs := make(chan error, 5)
	for g := range 5 {
		go func() {
			rows, err := ReadRows[event](d2, g, 0, 100)
			if err == nil && (len(rows) != 100 || rows[0].Body != fmt.Sprintf("request %d handled order-%d", g*100, g*100)) {
				err = fmt.Errorf("group %d: %d rows, first %q", g, len(rows), rows[0].Body)
			}
			errs <- err
		}()
	}
	for range 5 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.SharedData(); err == nil {
		t.Fatal("SharedData after Close succeeded")
	}
}
