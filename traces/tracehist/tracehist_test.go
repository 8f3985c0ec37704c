package tracehist

import (
	"testing"
	"time"
)

func TestCumulativeBucketsAndExemplars(t *testing.T) {
	bounds := []float64{0.1, 1}
	h := New(bounds)
	t0 := time.Unix(1_700_000_000, 0)
	h.Observe(bounds, 0.1, [16]byte{1}, t0) // le is inclusive
	h.Observe(bounds, 0.5, [16]byte{2}, t0)
	h.Observe(bounds, 0.7, [16]byte{3}, t0.Add(time.Second))
	h.Observe(bounds, 9, [16]byte{4}, t0)
	snap := h.Clone()
	h.Observe(bounds, 0.05, [16]byte{5}, t0) // after the clone: not in it
	d := snap.DTO(bounds)
	if d.GetSampleCount() != 4 || d.GetSampleSum() != 10.3 || snap.Count() != 4 {
		t.Fatalf("count %d sum %v", d.GetSampleCount(), d.GetSampleSum())
	}
	want := []uint64{1, 3, 4}
	for i, b := range d.Bucket {
		if b.GetCumulativeCount() != want[i] {
			t.Errorf("bucket %d (le %v) = %d, want %d", i, b.GetUpperBound(), b.GetCumulativeCount(), want[i])
		}
	}
	ex := d.Bucket[1].Exemplar
	if ex.GetValue() != 0.7 || ex.Label[0].GetName() != "trace_id" || ex.Label[0].GetValue() != "03000000000000000000000000000000" || !ex.Timestamp.AsTime().Equal(t0.Add(time.Second)) {
		t.Fatalf("exemplar of le=1 is %v, want the latest (0.7, trace 03…)", ex)
	}
	if d.Bucket[2].Exemplar.GetValue() != 9 {
		t.Fatal("the +Inf bucket keeps its exemplar")
	}
}
