package anomaly

import (
	"runtime"
	"testing"
	"time"
)

// A detector restored from MarshalBinary continues exactly like the one
// that never stopped.
func TestStateRoundTrip(t *testing.T) {
	pts := series{days: 6, season: "daily", inject: "shift", at: 5 * 288, seed: 11}.points()
	a := New(Config{})
	run(a, pts[:4*288])
	blob, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b := New(Config{})
	if err := b.UnmarshalBinary(blob); err != nil {
		t.Fatal(err)
	}
	ra, rb := run(a, pts[4*288:]), run(b, pts[4*288:])
	for i := range ra {
		if ra[i] != rb[i] {
			t.Fatalf("point %d after restore: %+v, want %+v", i, rb[i], ra[i])
		}
	}
	if b.Season() != "daily" {
		t.Errorf("restored season %q, want daily", b.Season())
	}
}

func TestUnmarshalRejectsGarbage(t *testing.T) {
	good, _ := New(Config{}).MarshalBinary()
	bad := func(name string, data []byte) {
		t.Helper()
		d := New(Config{})
		before, _ := d.MarshalBinary()
		if err := d.UnmarshalBinary(data); err == nil {
			t.Errorf("%s: UnmarshalBinary accepted it", name)
		}
		if after, _ := d.MarshalBinary(); string(after) != string(before) {
			t.Errorf("%s: failed UnmarshalBinary changed the detector", name)
		}
	}
	bad("empty", nil)
	bad("truncated", good[:len(good)-1])
	bad("wrong magic", append([]byte("XXXXX"), good[5:]...))
	corrupt := append([]byte(nil), good...)
	for i := 5; i < 5+8; i++ { // N: a negative point count
		corrupt[i] = 0xff
	}
	bad("negative count", corrupt)
	// Ring indexes are only ever advanced modulo their length, so one at
	// the length (or a counter near overflow) is corruption that would
	// index out of range later.
	for name, mutate := range map[string]func(c *core){
		"shift ring index":   func(c *core) { c.ShiftPos = shiftRun },
		"hold-off counter":   func(c *core) { c.HoldSince = -1 },
		"novelty ring index": func(c *core) { c.NovPos = novOrder },
		"novelty fill":       func(c *core) { c.NovLen = novOrder + 1 },
		"shape accumulator":  func(c *core) { c.Proto.AccN = protoStep },
		"shape ring index":   func(c *core) { c.Proto.WinPos = protoLen },
		"shape window fill":  func(c *core) { c.Proto.WinLen = -1 },
		"prototype count":    func(c *core) { c.Proto.Count = protoSlots + 1 },
		"block ring index":   func(c *core) { c.Blk.Pos = blockMax },
		"block ring fill":    func(c *core) { c.Blk.Len = -1 },
	} {
		d := New(Config{})
		mutate(&d.c)
		blob, err := d.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		bad(name, blob)
	}
}

func FuzzUnmarshalBinary(f *testing.F) {
	d := New(Config{})
	run(d, series{days: 1, season: "daily", seed: 12}.points())
	good, _ := d.MarshalBinary()
	f.Add(good)
	f.Add([]byte(stateMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := New(Config{})
		if err := d.UnmarshalBinary(data); err != nil {
			return
		}
		// Whatever decoded must be safe to keep using.
		for _, p := range (series{days: 1, season: "none", seed: 13}).points()[:50] {
			d.Observe(p.T, p.V)
		}
	})
}

// TestStateSize states the per-series memory: the persisted state and the
// heap held by a live Detector.
func TestStateSize(t *testing.T) {
	blob, _ := New(Config{}).MarshalBinary()
	const n = 1000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	keep := make([]*Detector, n)
	for i := range keep {
		keep[i] = New(Config{})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perDetector := (after.HeapAlloc - before.HeapAlloc) / n
	runtime.KeepAlive(keep)
	t.Logf("state: %d bytes marshalled, about %d bytes of heap per Detector", len(blob), perDetector)
	if len(blob) > 16<<10 {
		t.Errorf("marshalled state is %d bytes, want at most 16 KiB", len(blob))
	}
}

func BenchmarkObserve(b *testing.B) {
	pts := series{days: 14, season: "weekly", seed: 14}.points()
	d := New(Config{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := pts[i%len(pts)]
		// Keep time moving forward across laps so hours keep completing.
		lap := time.Duration(i / len(pts))
		d.Observe(p.T.Add(lap*14*24*time.Hour), p.V)
	}
}
