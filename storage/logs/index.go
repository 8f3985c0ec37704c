package logs

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"slices"
)

// Two extra files of every log part let queries skip row groups without
// reading them:
//
// streams.json lists the part's distinct streams and, per row group, the
// streams it holds (indexes into the list), so a stream selector is
// matched once per distinct stream and picks the row groups to read. It
// also answers the label APIs without reading records.
//
// grams.bin holds, per row group, a bitset of the hashed trigrams of the
// lowercased bodies (one hash function, like a bloom filter with k = 1).
// A line filter `|= "needle"` can only match in a row group whose bitset
// has every trigram of the needle; for a needle of 8+ bytes the chance a
// group without it passes is the fill ratio to the power of its trigram
// count, tiny in practice. Unlike word tokens, trigrams answer substring
// filters exactly as LogQL defines them (a needle may start or end inside
// a word). Each bitset is folded (its halves ORed together) while it
// stays at most a quarter full, so a group of short repetitive lines
// costs less than the 8 KiB of a full one.

const (
	StreamsFile = "streams.json"
	GramsFile   = "grams.bin"

	gramsMagic   = "VGR1"
	maxGramsBits = 16 // 65536 bits, 8 KiB per row group
	minGramsBits = 10
)

// StreamIndex is the decoded streams.json.
type StreamIndex struct {
	Streams []string `json:"streams"`
	Groups  [][]int  `json:"groups"`
	// Rows per stream, parallel to Streams.
	Rows []int64 `json:"rows"`
}

// Extra makes the extra files of a part from its sorted records (the
// events.Options.Extra of the log store) with row groups of RowGroupRows
// records, as the store writes them.
func Extra(rows []Record) (map[string][]byte, error) { return extra(rows, RowGroupRows) }

// ExtraFor is Extra for a store whose parts have row groups of
// groupRows records (events.Options.RowGroupRows): the indexes must split
// rows exactly as the part does.
func ExtraFor(groupRows int) func(rows []Record) (map[string][]byte, error) {
	return func(rows []Record) (map[string][]byte, error) { return extra(rows, groupRows) }
}

func extra(rows []Record, groupRows int) (map[string][]byte, error) {
	var si StreamIndex
	idx := map[string]int{}
	grams := []byte(gramsMagic)
	groups := (len(rows) + groupRows - 1) / groupRows
	grams = binary.AppendUvarint(grams, uint64(groups))
	set := make([]uint64, 1<<maxGramsBits/64)
	for start := 0; start < len(rows); start += groupRows {
		group := rows[start:min(start+groupRows, len(rows))]
		var in []int
		clear(set)
		for i := range group {
			r := &group[i]
			j, ok := idx[r.Stream]
			if !ok {
				j = len(si.Streams)
				idx[r.Stream] = j
				si.Streams = append(si.Streams, r.Stream)
				si.Rows = append(si.Rows, 0)
			}
			si.Rows[j]++
			if len(in) == 0 || in[len(in)-1] != j {
				in = append(in, j)
			}
			addGrams(set, r.Body)
		}
		slices.Sort(in)
		si.Groups = append(si.Groups, slices.Compact(in))
		grams = appendBitset(grams, set)
	}
	sj, err := json.Marshal(si)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{StreamsFile: sj, GramsFile: grams}, nil
}

// gramHash maps a lowercased trigram to 16 bits.
func gramHash(a, b, c byte) uint32 {
	x := uint32(a)<<16 | uint32(b)<<8 | uint32(c)
	return (x * 0x9E3779B1) >> (32 - maxGramsBits)
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func addGrams(set []uint64, s string) {
	if len(s) < 3 {
		return
	}
	a, b := lower(s[0]), lower(s[1])
	for i := 2; i < len(s); i++ {
		c := lower(s[i])
		h := gramHash(a, b, c)
		set[h>>6] |= 1 << (h & 63)
		a, b = b, c
	}
}

// appendBitset folds set while it is at most a quarter full and appends
// its size (log2 of bits) and words.
func appendBitset(dst []byte, set []uint64) []byte {
	ones := 0
	for _, w := range set {
		ones += bits.OnesCount64(w)
	}
	words := set
	lg := maxGramsBits
	for lg > minGramsBits && ones*4 <= len(words)*64/2 {
		half := len(words) / 2
		folded := make([]uint64, half)
		ones = 0
		for i := range folded {
			folded[i] = words[i] | words[i+half]
			ones += bits.OnesCount64(folded[i])
		}
		words = folded
		lg--
	}
	dst = append(dst, byte(lg))
	for _, w := range words {
		dst = binary.LittleEndian.AppendUint64(dst, w)
	}
	return dst
}

// Grams is the decoded grams.bin: one bitset per row group.
type Grams struct {
	sets [][]uint64
}

// ReadGrams decodes grams.bin.
func ReadGrams(b []byte) (*Grams, error) {
	if len(b) < len(gramsMagic) || string(b[:len(gramsMagic)]) != gramsMagic {
		return nil, errors.New("cannot read grams index: bad magic")
	}
	b = b[len(gramsMagic):]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, errors.New("cannot read grams index: bad group count")
	}
	b = b[k:]
	g := &Grams{sets: make([][]uint64, n)}
	for i := range g.sets {
		if len(b) < 1 {
			return nil, errors.New("cannot read grams index: truncated")
		}
		lg := int(b[0])
		if lg < minGramsBits || lg > maxGramsBits {
			return nil, fmt.Errorf("cannot read grams index: bitset of 2^%d bits", lg)
		}
		words := 1 << lg / 64
		b = b[1:]
		if len(b) < words*8 {
			return nil, errors.New("cannot read grams index: truncated")
		}
		set := make([]uint64, words)
		for j := range set {
			set[j] = binary.LittleEndian.Uint64(b[j*8:])
		}
		b = b[words*8:]
		g.sets[i] = set
	}
	if len(b) != 0 {
		return nil, errors.New("cannot read grams index: trailing bytes")
	}
	return g, nil
}

// Groups is the number of row groups indexed.
func (g *Grams) Groups() int { return len(g.sets) }

// Bytes is the memory the index holds.
func (g *Grams) Bytes() int {
	n := 0
	for _, s := range g.sets {
		n += len(s) * 8
	}
	return n
}

// MayContain reports whether row group i may hold a body containing every
// needle, compared case-insensitively (ASCII). Needles shorter than three
// bytes cannot be checked and pass.
func (g *Grams) MayContain(i int, needles []string) bool {
	if i < 0 || i >= len(g.sets) {
		return true
	}
	set := g.sets[i]
	mask := uint32(len(set)*64 - 1)
	for _, s := range needles {
		if len(s) < 3 {
			continue
		}
		a, b := lower(s[0]), lower(s[1])
		for j := 2; j < len(s); j++ {
			c := lower(s[j])
			h := gramHash(a, b, c) & mask
			if set[h>>6]&(1<<(h&63)) == 0 {
				return false
			}
			a, b = b, c
		}
	}
	return true
}
