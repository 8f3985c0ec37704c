package anomaly

// Contextual novelty, after the Contextual Anomaly Detector (CAD OSE, third
// on NAB): the de-seasonalised z-score is quantised into a few levels, the
// last one to novOrder levels form contexts of increasing length, and a
// point's raw novelty is the share of the contexts it completes that were
// never seen before. It sees shapes that a band cannot: a wiggle where the
// series used to be flat, spikes arriving in a new rhythm, a peak that stops
// short. Unlike CAD it quantises z rather than the value range, because a
// live series has no known min and max and re-binning after every new
// extreme would make every context new at once.
//
// The memory of contexts is a direct-mapped table of 16-bit fingerprints:
// a new context overwrites whatever shared its slot, so the table stays at
// 4 KiB and contexts that stopped recurring are the ones forgotten.
const (
	novLevels = 8
	novWidth  = 2.0 // z units per level: ±8 scale spans the levels
	novOrder  = 6
	novSlots  = 2048
)

// novelty scores z by its contexts and then remembers them.
func (d *Detector) novelty(z float64) float64 {
	c := &d.c
	switch d.s.dir {
	case dirUp:
		z = max(z, 0)
	case dirDown:
		z = min(z, 0)
	}
	f := z/novWidth + novLevels/2
	c.NovHist[c.NovPos] = uint8(min(max(f, 0), novLevels-1))
	c.NovPos = (c.NovPos + 1) % novOrder
	c.NovLen = min(c.NovLen+1, novOrder)
	n := int(c.NovLen)
	// FNV-1a over the levels, newest first, so the order-k context hash
	// extends the order-(k-1) one.
	var h uint64 = 14695981039346656037
	unseen := 0
	for k := range n {
		h ^= uint64(c.NovHist[(int(c.NovPos)-1-k+novOrder)%novOrder]) + 1
		h *= 1099511628211
		h ^= h >> 29
		slot, fp := h%novSlots, uint16(h>>48)|1
		if c.NovTab[slot] != fp {
			unseen++
			c.NovTab[slot] = fp
		}
	}
	return float64(unseen) / float64(n)
}
