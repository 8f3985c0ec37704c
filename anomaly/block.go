package anomaly

import "math"

// Block-median member (eleventh round, docs/anomaly.md): small sustained
// level changes that stay inside the band. The band's scale is the noise of
// single points, and a change of a fraction of it is invisible point by
// point; the median of the last blockLens[j] de-seasonalised values moves by
// that fraction for as long as the change lasts, while its own noise is far
// smaller. Each block length keeps a robust level and scale of its sliding
// median itself (Huber-clipped EWMA at the band's rates, as in learn), so
// the noise reduction of the block and the autocorrelation of the series
// are both in that scale, whatever they are. The median, not the mean,
// because one spike in the block (the spike rule's business) must not move
// it: it moves only when more than half the block has changed.
//
// The member scores 1 when the median's z reaches blockBar, is at least
// blockMargin × the largest z of the recent past (forgetting in about
// blockForget⁻¹ points), and reaches the second-largest remembered event
// (recur.go): a series whose median wanders this far routinely is not news.
// An event is a run of z beyond blockEvent; while it lasts the recent
// maximum is not learned, and its peak is learned when it ends: a median
// rises over many points, and a maximum learned point by point would hold
// the rise of the very change being scored (on NAB a margin above 1.1 then
// lost the change it was meant to see).
const (
	blockMax    = 48 // the longest block, and the ring of recent values
	blockBar    = 5.5
	blockMargin = 1.5
	blockEvent  = huberK
	blockForget = 1.0 / 5000
)

// medianNoise is the standard deviation of the median of n independent
// Gaussian points in units of σ/√n: √(π/2).
const medianNoise = 1.2533141373155003

// blockLens are the block lengths, in points (2 and 4 hours of 5-minute
// data): a change that lasts about 15–25 points shows in the first, a
// longer and smaller one in the second.
var blockLens = [2]int{24, 48}

// blockScale is what one block length knows about its median.
type blockScale struct {
	Level, Scale float64
	Max          float64
	N            int64
	Recur        recurGate
	// Sorted holds the last blockLens[j] values in order (the first
	// min(Len, blockLens[j]) are in use).
	Sorted [blockMax]float64
}

// blockState is the member's memory: the last blockMax values and, per
// block length, its sorted window and statistics.
type blockState struct {
	Ring     [blockMax]float64
	Pos, Len int32
	S        [len(blockLens)]blockScale
}

// blockShift feeds the de-seasonalised value r and scores the medians.
func (d *Detector) blockShift(r float64) float64 {
	c := &d.c
	b := &c.Blk
	n := int(b.Len)
	score := 0.0
	fl := 1e-9 + scaleFloor*math.Abs(c.Level)
	for j, k := range blockLens {
		s := &b.S[j]
		// Slide the sorted window: r takes a free slot at the end while
		// the window fills, then the slot of the value that leaves it (the
		// one k points back, found by bisection); from there it moves to
		// where it belongs.
		i, last := n, n
		if n >= k {
			out := b.Ring[(int(b.Pos)-k+blockMax)%blockMax]
			lo, hi := 0, k
			for lo < hi {
				if mid := (lo + hi) / 2; s.Sorted[mid] < out {
					lo = mid + 1
				} else {
					hi = mid
				}
			}
			i, last = min(lo, k-1), k-1 // not found only in a corrupted state
		}
		for i > 0 && s.Sorted[i-1] > r {
			s.Sorted[i] = s.Sorted[i-1]
			i--
		}
		for i < last && s.Sorted[i+1] < r {
			s.Sorted[i] = s.Sorted[i+1]
			i++
		}
		s.Sorted[i] = r
		if n+1 < k {
			continue
		}
		med := (s.Sorted[(k-1)/2] + s.Sorted[k/2]) / 2
		s.N++
		if s.N == 1 {
			s.Level = med
			continue
		}
		// Never below the noise of the median of k independent points
		// (√(π/2)·σ/√k): a quantised or sticky series holds its median
		// still for hours, and its own scale then collapses until a
		// single quantum step is a huge z.
		scale := max(s.Scale, fl, medianNoise*c.Scale/math.Sqrt(float64(k)))
		z := (med - s.Level) / scale
		s.Level += max(1/float64(s.N), levelAlpha) * min(max(z, -huberK), huberK) * scale
		s.Scale += max(1/float64(s.N), scaleAlpha) * (min(math.Abs(z), huberK)*scale/0.8 - s.Scale)
		dz := d.directed(z)
		sc := 0.0
		if dz >= blockBar && dz >= blockMargin*s.Max {
			sc = 1
		}
		peak := s.Recur.Peak
		if !s.Recur.pass(dz, blockEvent, recurForget, c.N > familiarAfter) {
			sc = 0
		}
		s.Max *= 1 - blockForget
		if c.N > familiarAfter && dz <= blockEvent {
			s.Max = max(s.Max, dz, peak)
		}
		score = max(score, sc)
	}
	b.Ring[b.Pos] = r
	b.Pos = (b.Pos + 1) % blockMax
	b.Len = min(b.Len+1, blockMax)
	return score
}
