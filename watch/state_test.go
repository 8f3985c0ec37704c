package watch

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigilhq/vigil/anomaly"
)

func sampleStates(t testing.TB) []*savedState {
	d := anomaly.New(anomaly.Config{})
	for i := range 50 {
		d.Observe(t0.Add(time.Duration(i)*time.Minute), float64(i%7))
	}
	det, err := d.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return []*savedState{
		{name: "A", fp: "fp-a\x00with nul", series: []savedSeries{
			{labels: labels.FromStrings("anomaly_rule", "A", "job", "api", "zone", "ü"), last: t0, value: 12.5, det: det},
			{labels: labels.FromStrings("anomaly_rule", "A", "job", ""), last: t0.Add(-time.Hour), value: math.NaN(), det: []byte{1, 2, 3}},
			{labels: labels.EmptyLabels(), last: time.UnixMilli(-5), value: math.Inf(-1), det: nil},
		}},
		{name: "B", fp: "", series: nil},
	}
}

func sameStates(a, b []*savedState) string {
	if len(a) != len(b) {
		return "different number of rules"
	}
	for i := range a {
		if a[i].name != b[i].name || a[i].fp != b[i].fp || len(a[i].series) != len(b[i].series) {
			return "rule " + a[i].name + " differs"
		}
		for j, x := range a[i].series {
			y := b[i].series[j]
			switch {
			case !labels.Equal(x.labels, y.labels):
				return "labels " + x.labels.String() + " != " + y.labels.String()
			case x.last.UnixMilli() != y.last.UnixMilli():
				return "last differs"
			case math.Float64bits(x.value) != math.Float64bits(y.value):
				return "value differs"
			case !bytes.Equal(x.det, y.det):
				return "detector bytes differ"
			}
		}
	}
	return ""
}

func TestStateRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "detectors.state")
	want := sampleStates(t)
	if err := writeState(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := readState(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := sameStates(want, got); d != "" {
		t.Error(d)
	}
}

func validStateBytes(t testing.TB) []byte {
	path := filepath.Join(t.TempDir(), "s")
	if err := writeState(path, sampleStates(t)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withCRC frames body as a state file with a valid checksum, so the
// decoder's own checks, not the CRC, must catch what is wrong in it.
func withCRC(body []byte) []byte {
	b := append([]byte(stateFileMagic), body...)
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

func TestStateDamageRejected(t *testing.T) {
	good := validStateBytes(t)
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x10
	magic := bytes.Clone(good)
	magic[0] = 'X'
	body := good[len(stateFileMagic) : len(good)-4]
	for _, c := range []struct {
		name, problem string
		b             []byte
	}{
		{"empty", "not an anomaly state file", nil},
		{"truncated", "checksum", good[:len(good)-7]},
		{"truncated to the magic", "not an anomaly state file", good[:len(stateFileMagic)+2]},
		{"flipped byte", "checksum", flipped},
		{"wrong magic", "not an anomaly state file", magic},
		{"truncated body, valid CRC", "anomaly state file: ", withCRC(body[:len(body)-3])},
		{"trailing bytes, valid CRC", "trailing", withCRC(append(bytes.Clone(body), 0))},
		{"huge count, valid CRC", "out of range", withCRC(binary.AppendUvarint(nil, 1<<40))},
		{"huge string, valid CRC", "out of range", withCRC(append(binary.AppendUvarint(nil, 1), binary.AppendUvarint(nil, maxStateString+1)...))},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s")
			if err := os.WriteFile(path, c.b, 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := readState(path)
			if err == nil || got != nil {
				t.Fatalf("accepted: %v, %v", got, err)
			}
			if !strings.Contains(err.Error(), c.problem) {
				t.Errorf("error %q, want %q", err, c.problem)
			}
		})
	}
}

// A few bytes that claim 2^24 rules of 2^24 series must not make the
// decoder reserve room for them.
func TestDecodeStateBoundedAllocation(t *testing.T) {
	body := binary.AppendUvarint(nil, maxStateCount)
	body = append(body, 0, 0)
	body = binary.AppendUvarint(body, maxStateCount)
	b := withCRC(body)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := decodeState(b)
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("accepted")
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("decoding %d bytes allocated %d bytes", len(b), d)
	}
}

func TestMissingStateFile(t *testing.T) {
	got, err := readState(filepath.Join(t.TempDir(), "none"))
	if got != nil || err != nil {
		t.Errorf("missing file: %v, %v; want no state and no error", got, err)
	}
}

func TestSaveIsAtomicAndRestores(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "anomaly")
	path := filepath.Join(dir, "detectors.state")
	h := newHarness(t, ruleFile(), Options{StateFile: path})
	h.q.set(vec(fsample(3, "__name__", "requests", "job", "a")))
	for i := range 3 {
		h.eval(t0.Add(time.Duration(i) * time.Minute))
		if err := h.w.Save(); err != nil {
			t.Fatal(err)
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 1 || ents[0].Name() != "detectors.state" {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Fatalf("after Save: %v in the directory, want only the state file", names)
		}
	}
	saved, err := readState(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(saved) != 1 || saved[0].name != "R" || len(saved[0].series) != 1 || saved[0].series[0].value != 3 ||
		!saved[0].series[0].last.Equal(t0.Add(2*time.Minute)) || len(saved[0].series[0].det) != anomaly.StateSize {
		t.Fatalf("saved %+v", saved)
	}

	// A new Watcher on the same file resumes: the detector's state is
	// the saved one, not a cold one.
	h2 := newHarness(t, ruleFile(), Options{StateFile: path})
	h2.q.set(vec(fsample(3, "__name__", "requests", "job", "a")))
	h2.eval(t0.Add(2 * time.Minute)) // not after the saved last point: not observed
	h2.w.mu.Lock()
	var restored []byte
	for _, ss := range h2.w.rules["R"].series {
		restored, _ = ss.det.MarshalBinary()
	}
	h2.w.mu.Unlock()
	if !bytes.Equal(restored, saved[0].series[0].det) {
		t.Error("the restarted Watcher's detector is not the saved one")
	}
}

func FuzzDecodeState(f *testing.F) {
	// Small seeds: a real detector's 14 KiB would make every mutation
	// and minimisation step slow.
	small := []*savedState{{name: "A", fp: "f", series: []savedSeries{
		{labels: labels.FromStrings("anomaly_rule", "A", "job", "x"), last: t0, value: 1.5, det: []byte("VGAD4....")},
		{labels: labels.EmptyLabels(), last: time.UnixMilli(-1), value: math.NaN()},
	}}, {name: "B"}}
	path := filepath.Join(f.TempDir(), "seed")
	if err := writeState(path, small); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[len(stateFileMagic) : len(good)-4])
	f.Add([]byte{})
	f.Add([]byte(stateFileMagic))
	f.Add(binary.AppendUvarint(nil, maxStateCount))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Raw, the checksum rejects nearly every mutation; framed with a
		// valid CRC, the input reaches the decoder's own checks.
		for _, in := range [][]byte{b, withCRC(b)} {
			got, err := decodeState(in)
			if err != nil {
				if got != nil {
					t.Fatalf("error %v with %d rules", err, len(got))
				}
				continue
			}
			var n, size int
			for _, s := range got {
				n++
				size += len(s.name) + len(s.fp)
				for _, ss := range s.series {
					n++
					size += len(ss.det)
					ss.labels.Range(func(l labels.Label) { n++; size += len(l.Name) + len(l.Value) })
				}
			}
			if n > len(in) || size > len(in) {
				t.Fatalf("%d bytes decoded into %d items of %d bytes", len(in), n, size)
			}
			path := filepath.Join(t.TempDir(), "s")
			if err := writeState(path, got); err != nil {
				t.Fatal(err)
			}
			again, err := readState(path)
			if err != nil {
				t.Fatalf("re-encoded state does not decode: %v", err)
			}
			if d := sameStates(got, again); d != "" {
				t.Fatalf("decode, encode, decode: %s", d)
			}
		}
	})
}
