// Package parts writes and reads the immutable parts of Vigil's event
// store, the on-disk form of spans and log records alike.
//
// A part is a folder:
//
//	part-<id>/
//	  data.parquet   the rows, standard Parquet with standard logical types,
//	                 one row group per RowGroupRows rows, zstd-compressed,
//	                 so DuckDB, pandas and polars read it unchanged
//	  blooms.bin     one token bloom filter per row group (see bloom.go)
//	  meta.json      format version, kind, row and time ranges per row
//	                 group, and the size and CRC-32C of every file
//	  <extra>        optional files the caller supplies (WriteOptions.Extra),
//	                 e.g. a per-part trace summary, checksummed like the rest
//
// Durability contract: Write builds the part in a ".tmp-" folder, fsyncs
// every file and the folder, and only then renames it into place and
// fsyncs the parent; a crash leaves either no part or a whole one, plus
// possibly a ".tmp-" folder that Recover removes. Parts are never modified
// after the rename; compaction writes new parts and removes old ones.
// Remove renames a part to a ".tmp-" name before deleting its files, so a
// crash during removal leaves either the whole part or a folder Recover
// removes, never a part with files missing.
//
// The package knows nothing of spans or logs: a Schema says how to get a
// row's time and its searchable tokens, and the row type's struct tags give
// the Parquet schema (parquet-go).
package parts

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// FormatVersion is written into every part's meta.json. A reader refuses a
// part with a newer version instead of misreading it.
const FormatVersion = 1

const (
	dataFile  = "data.parquet"
	bloomFile = "blooms.bin"
	metaFile  = "meta.json"
	tmpPrefix = ".tmp-"
	prefix    = "part-"
)

// Schema describes one kind of row to the part writer.
type Schema[T any] struct {
	// Kind names the row type ("spans", "logs"); it is recorded in
	// meta.json and checked when reading.
	Kind string
	// Time returns a row's timestamp in Unix nanoseconds.
	Time func(*T) int64
	// Tokens calls emit for every searchable token of a row (words of a
	// log body, attribute values, a trace id...). Nil means no blooms.
	Tokens func(row *T, emit func(string))
	// TokenHashes, when set, is used instead of Tokens: it emits the
	// xxhash64 of each token (xxhash.Sum64String of the token string),
	// so a schema can hash a token made of several strings without
	// building it.
	TokenHashes func(row *T, emit func(uint64))
}

// WriteOptions tune Write. Zero values take the defaults noted.
type WriteOptions struct {
	// RowGroupRows is the number of rows per row group (default 8192):
	// the unit that statistics and blooms can skip.
	RowGroupRows int
	// BloomFalsePositive is the target false-positive rate of the token
	// blooms (default 1%).
	BloomFalsePositive float64
	// Extra files to write into the part, by name, before it is renamed
	// into place; ReadExtra reads one back. A name must be a plain file
	// name: no separators, not starting with ".", and not one of the
	// part's own files.
	Extra map[string][]byte
	// WAL, Replaces and Level are recorded in meta.json as given (see
	// Meta); the part store uses them to recover from crashes.
	WAL      *WALPos
	Replaces []string
	Level    int
}

// WALPos is a position in the event store's write-ahead log.
type WALPos struct {
	Segment uint64 `json:"segment"`
	Offset  int64  `json:"offset"`
}

// FileInfo describes one file of a part, to detect damage.
type FileInfo struct {
	Size   int64  `json:"size"`
	CRC32C uint32 `json:"crc32c"`
}

// RowGroup is what meta.json records of one row group.
type RowGroup struct {
	Rows    int64 `json:"rows"`
	MinTime int64 `json:"min_time_unix_nano"`
	MaxTime int64 `json:"max_time_unix_nano"`
}

// Meta is the content of meta.json.
type Meta struct {
	FormatVersion int                 `json:"format_version"`
	Kind          string              `json:"kind"`
	ID            string              `json:"id"`
	Rows          int64               `json:"rows"`
	MinTime       int64               `json:"min_time_unix_nano"`
	MaxTime       int64               `json:"max_time_unix_nano"`
	RowGroups     []RowGroup          `json:"row_groups"`
	Files         map[string]FileInfo `json:"files"`
	CreatedAt     time.Time           `json:"created_at"`

	// The fields below were added without a version bump: they are
	// optional, and a reader that ignores them reads the rows correctly.

	// WAL is the position of the newest write-ahead-log batch whose rows
	// are in this part, so recovery can skip what a crash kept from
	// reaching the checkpoint.
	WAL *WALPos `json:"wal,omitempty"`
	// Replaces lists the ids of the parts whose rows this part holds
	// (set by compaction); a reader that finds both must ignore those.
	Replaces []string `json:"replaces,omitempty"`
	// Level is 0 for a part cut from the head, and one more than the
	// highest level merged for a compacted part.
	Level int `json:"level,omitempty"`
}

// Write writes rows, in the order given, as a new part in dir and returns
// its meta. The caller sorts rows as the kind requires (spans by trace id
// and start, logs by service, stream and time) so row-group statistics
// prune well.
func Write[T any](dir string, s Schema[T], rows []T, o WriteOptions) (Meta, error) {
	if len(rows) == 0 {
		return Meta{}, errors.New("cannot write an empty part")
	}
	extras := make([]string, 0, len(o.Extra))
	for name := range o.Extra {
		if err := checkExtraName(name); err != nil {
			return Meta{}, err
		}
		extras = append(extras, name)
	}
	sort.Strings(extras)
	if o.RowGroupRows <= 0 {
		o.RowGroupRows = 8192
	}
	if o.BloomFalsePositive <= 0 || o.BloomFalsePositive >= 1 {
		o.BloomFalsePositive = 0.01
	}
	id, err := newID()
	if err != nil {
		return Meta{}, err
	}
	tmp := filepath.Join(dir, tmpPrefix+prefix+id)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return Meta{}, fmt.Errorf("cannot create part folder: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()

	meta := Meta{
		FormatVersion: FormatVersion, Kind: s.Kind, ID: id, Rows: int64(len(rows)),
		Files: map[string]FileInfo{}, CreatedAt: time.Now().UTC(),
		WAL: o.WAL, Replaces: o.Replaces, Level: o.Level,
	}
	var blooms []*bloom
	err = writeFile(tmp, dataFile, meta.Files, func(w io.Writer) error {
		pw := parquet.NewGenericWriter[T](w, parquet.Compression(&zstd.Codec{Level: zstd.SpeedDefault}), parquet.CreatedBy("vigil", "", ""))
		for start := 0; start < len(rows); start += o.RowGroupRows {
			group := rows[start:min(start+o.RowGroupRows, len(rows))]
			if _, err := pw.Write(group); err != nil {
				return err
			}
			// Flush ends the row group, so groups have exactly the rows
			// meta.json says.
			if err := pw.Flush(); err != nil {
				return err
			}
			rg := RowGroup{Rows: int64(len(group)), MinTime: s.Time(&group[0]), MaxTime: s.Time(&group[0])}
			var tokens []uint64
			for i := range group {
				t := s.Time(&group[i])
				rg.MinTime, rg.MaxTime = min(rg.MinTime, t), max(rg.MaxTime, t)
				if s.TokenHashes != nil {
					s.TokenHashes(&group[i], func(h uint64) { tokens = append(tokens, h) })
				} else if s.Tokens != nil {
					s.Tokens(&group[i], func(tok string) { tokens = append(tokens, xxhash.Sum64String(tok)) })
				}
			}
			if s.Tokens != nil || s.TokenHashes != nil {
				// Sized by distinct tokens: a span's service or route
				// repeats in every row, and each repeat would cost bits.
				slices.Sort(tokens)
				tokens = slices.Compact(tokens)
				blooms = append(blooms, newBloomOfHashes(tokens, o.BloomFalsePositive))
			}
			meta.RowGroups = append(meta.RowGroups, rg)
		}
		return pw.Close()
	})
	if err != nil {
		return Meta{}, fmt.Errorf("cannot write %s: %w", dataFile, err)
	}
	meta.MinTime, meta.MaxTime = meta.RowGroups[0].MinTime, meta.RowGroups[0].MaxTime
	for _, rg := range meta.RowGroups {
		meta.MinTime, meta.MaxTime = min(meta.MinTime, rg.MinTime), max(meta.MaxTime, rg.MaxTime)
	}
	if blooms != nil {
		if err := writeFile(tmp, bloomFile, meta.Files, func(w io.Writer) error { return writeBlooms(w, blooms) }); err != nil {
			return Meta{}, fmt.Errorf("cannot write %s: %w", bloomFile, err)
		}
	}
	for _, name := range extras {
		b := o.Extra[name]
		if err := writeFile(tmp, name, meta.Files, func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
			return Meta{}, fmt.Errorf("cannot write extra file %q: %w", name, err)
		}
	}
	// meta.json goes last: a part folder with a meta.json has every file
	// the meta lists.
	if err := writeFile(tmp, metaFile, nil, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(meta)
	}); err != nil {
		return Meta{}, fmt.Errorf("cannot write %s: %w", metaFile, err)
	}
	if err := syncDir(tmp); err != nil {
		return Meta{}, err
	}
	if err := os.Rename(tmp, filepath.Join(dir, prefix+id)); err != nil {
		return Meta{}, fmt.Errorf("cannot move part into place: %w", err)
	}
	ok = true
	if err := syncDir(dir); err != nil {
		return Meta{}, err
	}
	return meta, nil
}

func checkExtraName(name string) error {
	switch {
	case name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, "."):
		return fmt.Errorf("cannot write extra part file %q: the name must be a plain file name", name)
	case name == dataFile || name == bloomFile || name == metaFile:
		return fmt.Errorf("cannot write extra part file %q: the name is reserved", name)
	}
	return nil
}

// writeFile writes one file of a part through f, fsyncs it, and records
// its size and checksum in files (unless files is nil).
func writeFile(dir, name string, files map[string]FileInfo, f func(io.Writer) error) error {
	file, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cw := &checksumWriter{w: file, crc: crc32.New(castagnoli)}
	if err := f(cw); err != nil {
		file.Close()
		return err
	}
	if err := file.Sync(); err != nil {
		file.Close()
		return err
	}
	if err := file.Close(); err != nil {
		return err
	}
	if files != nil {
		files[name] = FileInfo{Size: cw.n, CRC32C: cw.crc.Sum32()}
	}
	return nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type checksumWriter struct {
	w   io.Writer
	crc interface {
		io.Writer
		Sum32() uint32
	}
	n int64
}

func (c *checksumWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.crc.Write(p[:n])
	c.n += int64(n)
	return n, err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cannot sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("cannot sync %s: %w", dir, err)
	}
	return nil
}

// newID returns a part id that sorts by creation time and does not
// collide between writers: nanoseconds and 4 random bytes, in hex.
func newID() (string, error) {
	var r [4]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("cannot make part id: %w", err)
	}
	return fmt.Sprintf("%016x%s", time.Now().UnixNano(), hex.EncodeToString(r[:])), nil
}

// Part is an opened part: its meta and blooms in memory, rows on disk. A
// Part is immutable and safe for concurrent use.
type Part struct {
	Dir      string
	Meta     Meta
	blooms   []*bloom
	metaSize int64

	dataMu sync.Mutex
	data   *Data // the shared data file, opened on first use; dataMu must be held
	closed bool
}

// Bytes is the size of the part's files on disk, meta.json included.
func (p *Part) Bytes() int64 {
	n := p.metaSize
	for _, fi := range p.Meta.Files {
		n += fi.Size
	}
	return n
}

// ReadExtra returns the content of a file listed in the part's meta
// (normally one written through WriteOptions.Extra), after checking its
// size and checksum. A name the part does not list is an error wrapping
// os.ErrNotExist, so readers can treat parts written before a file was
// introduced as lacking it.
func (p *Part) ReadExtra(name string) ([]byte, error) {
	fi, ok := p.Meta.Files[name]
	if !ok {
		return nil, fmt.Errorf("part %s has no file %q: %w", p.Dir, name, os.ErrNotExist)
	}
	b, err := os.ReadFile(filepath.Join(p.Dir, name))
	if err != nil {
		return nil, fmt.Errorf("cannot read part file: %w", err)
	}
	if int64(len(b)) != fi.Size {
		return nil, fmt.Errorf("part %s: %s is %d bytes, meta says %d", p.Dir, name, len(b), fi.Size)
	}
	if crc32.Checksum(b, castagnoli) != fi.CRC32C {
		return nil, fmt.Errorf("part %s: %s fails its checksum", p.Dir, name)
	}
	return b, nil
}

// Open reads a part's meta and blooms. It checks the format version and
// the files' sizes; Verify checks their checksums too.
func Open(dir string) (*Part, error) {
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		return nil, fmt.Errorf("cannot read part meta: %w", err)
	}
	p := &Part{Dir: dir, metaSize: int64(len(b))}
	if err := json.Unmarshal(b, &p.Meta); err != nil {
		return nil, fmt.Errorf("part %s: cannot parse %s: %w", dir, metaFile, err)
	}
	if p.Meta.FormatVersion > FormatVersion {
		return nil, fmt.Errorf("part %s has format version %d; this Vigil reads up to %d", dir, p.Meta.FormatVersion, FormatVersion)
	}
	for name, fi := range p.Meta.Files {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("part %s: %w", dir, err)
		}
		if st.Size() != fi.Size {
			return nil, fmt.Errorf("part %s: %s is %d bytes, meta says %d", dir, name, st.Size(), fi.Size)
		}
	}
	if _, ok := p.Meta.Files[bloomFile]; ok {
		f, err := os.Open(filepath.Join(dir, bloomFile))
		if err != nil {
			return nil, fmt.Errorf("part %s: %w", dir, err)
		}
		p.blooms, err = readBlooms(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("part %s: %s: %w", dir, bloomFile, err)
		}
		if len(p.blooms) != len(p.Meta.RowGroups) {
			return nil, fmt.Errorf("part %s: %d blooms for %d row groups", dir, len(p.blooms), len(p.Meta.RowGroups))
		}
	}
	return p, nil
}

// Verify recomputes every file's checksum.
func (p *Part) Verify() error {
	for name, fi := range p.Meta.Files {
		f, err := os.Open(filepath.Join(p.Dir, name))
		if err != nil {
			return err
		}
		h := crc32.New(castagnoli)
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return err
		}
		if h.Sum32() != fi.CRC32C {
			return fmt.Errorf("part %s: %s fails its checksum", p.Dir, name)
		}
	}
	return nil
}

// RowGroupsFor returns the row groups that may hold rows in [minT, maxT]
// carrying every token: time ranges from meta, tokens from the blooms. A
// group is only skipped when it certainly has no match.
func (p *Part) RowGroupsFor(minT, maxT int64, tokens ...string) []int {
	var out []int
	for i, rg := range p.Meta.RowGroups {
		if rg.MaxTime < minT || rg.MinTime > maxT {
			continue
		}
		if p.blooms != nil && !p.blooms[i].containsAll(tokens) {
			continue
		}
		out = append(out, i)
	}
	return out
}

// Read returns the rows of the given row groups, in order.
func Read[T any](p *Part, groups []int) ([]T, error) {
	f, err := os.Open(filepath.Join(p.Dir, dataFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("part %s: %w", p.Dir, err)
	}
	rgs := pf.RowGroups()
	var out []T
	for _, g := range groups {
		if g < 0 || g >= len(rgs) {
			return nil, fmt.Errorf("part %s has no row group %d", p.Dir, g)
		}
		r := parquet.NewGenericRowGroupReader[T](rgs[g])
		buf := make([]T, rgs[g].NumRows())
		n, err := r.Read(buf)
		r.Close()
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("part %s row group %d: %w", p.Dir, g, err)
		}
		out = append(out, buf[:n]...)
	}
	return out, nil
}

// Remove deletes the part folder dir. It first renames the folder to a
// ".tmp-" name, so a crash part way through leaves nothing that Recover
// would take for a part.
func Remove(dir string) error {
	doomed := filepath.Join(filepath.Dir(dir), tmpPrefix+"rm-"+filepath.Base(dir))
	if err := os.Rename(dir, doomed); err != nil {
		return fmt.Errorf("cannot remove part: %w", err)
	}
	if err := os.RemoveAll(doomed); err != nil {
		return fmt.Errorf("cannot remove part: %w", err)
	}
	return nil
}

// Recover removes what a crash left half-written in dir and returns the
// names of the whole parts, oldest first.
func Recover(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var parts []string
	for _, e := range entries {
		switch name := e.Name(); {
		case strings.HasPrefix(name, tmpPrefix):
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				return nil, fmt.Errorf("cannot remove unfinished part %s: %w", name, err)
			}
		case strings.HasPrefix(name, prefix) && e.IsDir():
			parts = append(parts, name)
		}
	}
	sort.Strings(parts)
	return parts, nil
}

// Data is a part's open data file, for reading single columns or a few
// rows, which costs far less than decoding whole rows of a row group.
type Data struct {
	p      *Part
	f      *os.File
	file   *parquet.File
	shared bool
}

// OpenData opens the part's data file. Close it when done.
func (p *Part) OpenData() (*Data, error) {
	f, err := os.Open(filepath.Join(p.Dir, dataFile))
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("part %s: %w", p.Dir, err)
	}
	return &Data{p: p, f: f, file: pf}, nil
}

// Close closes the file; on the part's shared data (SharedData) it does
// nothing.
func (d *Data) Close() error {
	if d.shared {
		return nil
	}
	return d.f.Close()
}

// SharedData returns the part's data file, opened on first use and kept
// open until the part is closed, so queries do not pay for opening the
// file and decoding its footer every time. Many goroutines may read it
// at once (reads go through ReadAt); Close on it does nothing.
func (p *Part) SharedData() (*Data, error) {
	p.dataMu.Lock()
	defer p.dataMu.Unlock()
	if p.data != nil {
		return p.data, nil
	}
	if p.closed {
		return nil, fmt.Errorf("part %s is closed", p.Dir)
	}
	d, err := p.OpenData()
	if err != nil {
		return nil, err
	}
	d.shared = true
	p.data = d
	return d, nil
}

// Close closes the shared data file. Call it when no reader can use the
// part any more (the event store does, as it removes the part or shuts
// down).
func (p *Part) Close() error {
	p.dataMu.Lock()
	defer p.dataMu.Unlock()
	p.closed = true
	if p.data == nil {
		return nil
	}
	err := p.data.f.Close()
	p.data = nil
	return err
}

func (d *Data) group(g int) (parquet.RowGroup, error) {
	rgs := d.file.RowGroups()
	if g < 0 || g >= len(rgs) {
		return nil, fmt.Errorf("part %s has no row group %d", d.p.Dir, g)
	}
	return rgs[g], nil
}

// ReadColumn calls fn with the values of a top-level column of row group
// g in row order, a page at a time. The values (and byte arrays in them)
// are only valid during the call.
func (d *Data) ReadColumn(g int, column string, fn func(vals []parquet.Value)) error {
	rg, err := d.group(g)
	if err != nil {
		return err
	}
	leaf, ok := d.file.Schema().Lookup(column)
	if !ok {
		return fmt.Errorf("part %s has no column %q", d.p.Dir, column)
	}
	pages := rg.ColumnChunks()[leaf.ColumnIndex].Pages()
	defer pages.Close()
	buf := make([]parquet.Value, 1024)
	for {
		pg, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("part %s row group %d column %s: %w", d.p.Dir, g, column, err)
		}
		vr := pg.Values()
		for {
			n, err := vr.ReadValues(buf)
			if n > 0 {
				fn(buf[:n])
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				parquet.Release(pg)
				return fmt.Errorf("part %s row group %d column %s: %w", d.p.Dir, g, column, err)
			}
		}
		parquet.Release(pg)
	}
}

// ReadRows returns rows [from, to) of row group g.
func ReadRows[T any](d *Data, g int, from, to int64) ([]T, error) {
	rg, err := d.group(g)
	if err != nil {
		return nil, err
	}
	to = min(to, rg.NumRows())
	if from >= to {
		return nil, nil
	}
	r := parquet.NewGenericRowGroupReader[T](rg)
	defer r.Close()
	if err := r.SeekToRow(from); err != nil {
		return nil, fmt.Errorf("part %s row group %d: %w", d.p.Dir, g, err)
	}
	buf := make([]T, to-from)
	n, err := r.Read(buf)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("part %s row group %d: %w", d.p.Dir, g, err)
	}
	return buf[:n], nil
}
