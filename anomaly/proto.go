package anomaly

import "math"

// Shape memory, after ARTime (the best published NAB entry; re-implemented
// from its description): the recent stretch of the series, as a short
// window of downsampled values, is compared with a bounded set of learnt
// prototype windows. A window that resonates with a prototype (is within
// the vigilance) refines it; one that matches none becomes a new prototype,
// replacing the least recently used when the set is full. The member
// reports a window whose distance to the nearest prototype is well beyond
// the largest distance of the recent past: a shape this series has not
// produced lately, which the point-wise band misses when every single
// point stays inside it (a flat stretch, a changed daily curve, a slow
// bump).
//
// Unlike ARTime it works on the de-seasonalised z-score (a live series has
// no known min and max to scale into [0,1]) and uses fixed steps in points
// rather than ones derived from each file's length. ARTime's adaptive
// vigilance is replaced by the "beyond the recent maximum" rule, which is
// also what makes a series that always looks a bit new stop alerting.
const (
	protoStep  = 12  // points averaged into one window value
	protoLen   = 8   // window values per shape: 96 points
	protoSlots = 64  // prototypes remembered (2 KiB)
	protoClip  = 8.0 // z is clamped here so one spike does not own a shape
	// protoVigil is the mean |Δz| per window value within which a shape
	// resonates with a prototype; protoRate is how far a resonating
	// prototype moves toward it.
	protoVigil = 0.5
	protoRate  = 0.02
	// protoMargin is how far beyond the recent largest distance a shape
	// must be to score; protoWarm is the number of shapes seen before any
	// scores (the set starts empty).
	protoMargin = 1.3
	protoWarm   = 20
)

// protoForget decays the recent largest distance once per shape, at the
// same per-point rate as the spike maximum.
var protoForget = math.Pow(1-familiarForget, protoStep)

// protoState is the shape member's memory; fixed-size for the encoding.
type protoState struct {
	AccN           int32
	AccSum         float64
	Win            [protoLen]float32
	WinLen, WinPos int32
	P              [protoSlots][protoLen]float32
	Used           [protoSlots]int64
	Count          int32
	Steps          int64
	DMax           float64
}

// shapeNovelty feeds z and returns 1 when it completes a shape far from
// every prototype (see protoMargin), else 0. It then learns the shape.
func (d *Detector) shapeNovelty(z float64) float64 {
	p := &d.c.Proto
	// Departures the other way are flattened, as in the context member.
	switch d.s.dir {
	case dirUp:
		z = max(z, 0)
	case dirDown:
		z = min(z, 0)
	}
	p.AccN++
	p.AccSum += min(max(z, -protoClip), protoClip)
	if p.AccN < protoStep {
		return 0
	}
	p.Win[p.WinPos] = float32(p.AccSum / float64(p.AccN))
	p.AccN, p.AccSum = 0, 0
	p.WinPos = (p.WinPos + 1) % protoLen
	p.WinLen = min(p.WinLen+1, protoLen)
	if p.WinLen < protoLen {
		return 0
	}
	p.Steps++
	var w [protoLen]float32
	for k := range w {
		w[k] = p.Win[(int(p.WinPos)+k)%protoLen]
	}
	best, dist := p.nearest(&w)
	p.learn(best, dist, &w)

	score := 0.0
	if p.Steps > protoWarm && dist > protoVigil && dist > p.DMax*protoMargin {
		score = 1
	}
	// A shape this far from every prototype twice lately is not news.
	if !d.c.ShapeRecur.pass(dist, protoVigil, recurForget*protoStep, d.c.N > familiarAfter) {
		score = 0
	}
	p.DMax *= protoForget
	if d.c.N > familiarAfter {
		p.DMax = max(p.DMax, dist)
	}
	return score
}

// nearest returns the closest prototype and the mean absolute difference
// to it (-1 and 0 while there are none).
func (p *protoState) nearest(w *[protoLen]float32) (int, float64) {
	best, bd := -1, math.Inf(1)
	for j := range int(p.Count) {
		var s float64
		for k := range protoLen {
			s += math.Abs(float64(w[k] - p.P[j][k]))
		}
		if s < bd {
			best, bd = j, s
		}
	}
	if best < 0 {
		return -1, 0
	}
	return best, bd / protoLen
}

// learn refines the resonating prototype, or stores w as a new one in a
// free slot or in place of the least recently used.
func (p *protoState) learn(best int, dist float64, w *[protoLen]float32) {
	switch {
	case best >= 0 && dist <= protoVigil:
		for k := range protoLen {
			p.P[best][k] += protoRate * (w[k] - p.P[best][k])
		}
		p.Used[best] = p.Steps
		return
	case int(p.Count) < protoSlots:
		best = int(p.Count)
		p.Count++
	default:
		best = 0
		for j := range protoSlots {
			if p.Used[j] < p.Used[best] {
				best = j
			}
		}
	}
	p.P[best] = *w
	p.Used[best] = p.Steps
}
