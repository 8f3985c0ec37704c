package watch

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// The state file: stateMagic, then per rule its name, fingerprint and
// series (labels, last point, detector state), then a CRC-32 of all that
// came before. It is written whole to a temporary file and renamed, so a
// crash leaves the previous file.
const stateFileMagic = "VGAW1\n"

// Bounds on what a state file may claim, so a damaged one cannot make the
// reader allocate without limit.
const (
	maxStateString = 1 << 16
	maxStateCount  = 1 << 24
)

type savedState struct {
	name, fp string
	series   []savedSeries
}

type savedSeries struct {
	labels labels.Labels
	last   time.Time
	value  float64
	det    []byte
}

// Save writes every rule's detectors to the state file.
func (w *Watcher) Save() error {
	if w.o.StateFile == "" {
		return nil
	}
	w.mu.Lock()
	sts := make([]*ruleState, 0, len(w.rules))
	for _, st := range w.rules {
		sts = append(sts, st)
	}
	// Saved rules not loaded this run are kept, so a rule file fixed
	// after a bad reload finds its detectors again.
	pending := make([]*savedState, 0, len(w.saved))
	for _, s := range w.saved {
		pending = append(pending, s)
	}
	w.mu.Unlock()
	out := pending
	for _, st := range sts {
		st.mu.Lock()
		s := &savedState{name: st.rule.Name, fp: st.fp}
		for _, ss := range st.series {
			b, err := ss.det.MarshalBinary()
			if err != nil {
				st.mu.Unlock()
				return err
			}
			s.series = append(s.series, savedSeries{labels: ss.labels, last: ss.last, value: ss.value, det: b})
		}
		st.mu.Unlock()
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return writeState(w.o.StateFile, out)
}

func writeState(path string, states []*savedState) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".anomaly-state-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	crc := crc32.NewIEEE()
	bw := bufio.NewWriter(io.MultiWriter(tmp, crc))
	e := &enc{w: bw}
	e.bytes([]byte(stateFileMagic))
	e.uvarint(uint64(len(states)))
	for _, s := range states {
		e.str(s.name)
		e.str(s.fp)
		e.uvarint(uint64(len(s.series)))
		for _, ss := range s.series {
			e.uvarint(uint64(ss.labels.Len()))
			ss.labels.Range(func(l labels.Label) {
				e.str(l.Name)
				e.str(l.Value)
			})
			e.uvarint(uint64(ss.last.UnixMilli()))
			e.uvarint(math.Float64bits(ss.value))
			e.str(string(ss.det))
		}
	}
	if e.err == nil {
		e.err = bw.Flush()
	}
	if e.err == nil {
		_, e.err = tmp.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32()))
	}
	if e.err == nil {
		e.err = tmp.Sync()
	}
	if err := tmp.Close(); e.err == nil {
		e.err = err
	}
	if e.err != nil {
		return fmt.Errorf("cannot write the anomaly state file: %w", e.err)
	}
	return os.Rename(tmp.Name(), path)
}

// readState reads a state file; a missing file is no state and no error.
func readState(path string) ([]*savedState, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeState(b)
}

func decodeState(b []byte) ([]*savedState, error) {
	if len(b) < len(stateFileMagic)+4 || string(b[:len(stateFileMagic)]) != stateFileMagic {
		return nil, errors.New("not an anomaly state file (or another version)")
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return nil, errors.New("anomaly state file checksum mismatch")
	}
	d := &dec{b: body[len(stateFileMagic):]}
	n := d.count()
	var out []*savedState
	for i := uint64(0); i < n && d.err == nil; i++ {
		s := &savedState{name: d.str(), fp: d.str()}
		ns := d.count()
		for j := uint64(0); j < ns && d.err == nil; j++ {
			nl := d.count()
			lb := labels.NewScratchBuilder(int(min(nl, 64)))
			for k := uint64(0); k < nl && d.err == nil; k++ {
				name := d.str()
				lb.Add(name, d.str())
			}
			lb.Sort()
			ss := savedSeries{labels: lb.Labels()}
			ss.last = time.UnixMilli(int64(d.uvarint()))
			ss.value = math.Float64frombits(d.uvarint())
			ss.det = []byte(d.str())
			s.series = append(s.series, ss)
		}
		out = append(out, s)
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errors.New("trailing bytes")
	}
	if d.err != nil {
		return nil, fmt.Errorf("anomaly state file: %w", d.err)
	}
	return out, nil
}

type enc struct {
	w   *bufio.Writer
	err error
}

func (e *enc) bytes(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}

func (e *enc) uvarint(v uint64) { e.bytes(binary.AppendUvarint(nil, v)) }

func (e *enc) str(s string) {
	e.uvarint(uint64(len(s)))
	e.bytes([]byte(s))
}

type dec struct {
	b   []byte
	err error
}

func (d *dec) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errors.New("truncated")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) count() uint64 {
	n := d.uvarint()
	if n > maxStateCount || n > uint64(len(d.b)) {
		if d.err == nil {
			d.err = fmt.Errorf("count %d out of range", n)
		}
		return 0
	}
	return n
}

func (d *dec) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > maxStateString || n > uint64(len(d.b)) {
		d.err = fmt.Errorf("string of %d bytes out of range", n)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
