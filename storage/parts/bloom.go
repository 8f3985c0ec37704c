package parts

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/cespare/xxhash/v2"
)

// bloom is a token bloom filter of one row group. Tokens are hashed with
// xxhash64 (stable across processes and versions, unlike hash/maphash),
// and the k probes are derived from the two halves of that hash (Kirsch
// and Mitzenmacher's double hashing).
//
// blooms.bin layout, little endian:
//
//	"VGBL" version(uint8)=1 count(uint32)
//	count times: k(uint8) words(uint32) words×uint64
type bloom struct {
	k    uint8
	bits []uint64
}

func newBloomOf(tokens []string, fp float64) *bloom {
	hashes := make([]uint64, len(tokens))
	for i, t := range tokens {
		hashes[i] = xxhash.Sum64String(t)
	}
	return newBloomOfHashes(hashes, fp)
}

// newBloomOfHashes builds a bloom of tokens given by their xxhash64.
func newBloomOfHashes(hashes []uint64, fp float64) *bloom {
	n := max(len(hashes), 1)
	m := int(math.Ceil(-float64(n) * math.Log(fp) / (math.Ln2 * math.Ln2)))
	words := max((m+63)/64, 1)
	k := uint8(max(1, min(16, int(math.Round(float64(words*64)/float64(n)*math.Ln2)))))
	b := &bloom{k: k, bits: make([]uint64, words)}
	for _, h := range hashes {
		b.probesHash(h, func(bit uint64) bool {
			b.bits[bit/64] |= 1 << (bit % 64)
			return true
		})
	}
	return b
}

func (b *bloom) probes(token string, f func(bit uint64) bool) bool {
	return b.probesHash(xxhash.Sum64String(token), f)
}

func (b *bloom) probesHash(h uint64, f func(bit uint64) bool) bool {
	h1, h2 := h&0xffffffff, h>>32
	m := uint64(len(b.bits)) * 64
	for i := uint64(0); i < uint64(b.k); i++ {
		if !f((h1 + i*h2) % m) {
			return false
		}
	}
	return true
}

func (b *bloom) add(token string) {
	b.probes(token, func(bit uint64) bool {
		b.bits[bit/64] |= 1 << (bit % 64)
		return true
	})
}

func (b *bloom) contains(token string) bool {
	return b.probes(token, func(bit uint64) bool { return b.bits[bit/64]&(1<<(bit%64)) != 0 })
}

func (b *bloom) containsAll(tokens []string) bool {
	for _, t := range tokens {
		if !b.contains(t) {
			return false
		}
	}
	return true
}

var bloomMagic = [4]byte{'V', 'G', 'B', 'L'}

func writeBlooms(w io.Writer, blooms []*bloom) error {
	bw := bufio.NewWriter(w)
	bw.Write(bloomMagic[:])
	bw.WriteByte(1)
	binary.Write(bw, binary.LittleEndian, uint32(len(blooms)))
	for _, b := range blooms {
		bw.WriteByte(b.k)
		binary.Write(bw, binary.LittleEndian, uint32(len(b.bits)))
		if err := binary.Write(bw, binary.LittleEndian, b.bits); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// maxBloomWords bounds what readBlooms allocates for one filter (64 MiB),
// so a damaged file cannot ask for gigabytes.
const maxBloomWords = 8 << 20

func readBlooms(r io.Reader) ([]*bloom, error) {
	br := bufio.NewReader(r)
	var hdr [9]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, fmt.Errorf("short header: %w", err)
	}
	if [4]byte(hdr[:4]) != bloomMagic {
		return nil, errors.New("not a bloom file")
	}
	if hdr[4] != 1 {
		return nil, fmt.Errorf("unknown bloom format version %d", hdr[4])
	}
	count := binary.LittleEndian.Uint32(hdr[5:9])
	var out []*bloom
	for i := uint32(0); i < count; i++ {
		var h [5]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return nil, fmt.Errorf("bloom %d: %w", i, err)
		}
		words := binary.LittleEndian.Uint32(h[1:5])
		if words == 0 || words > maxBloomWords || h[0] == 0 {
			return nil, fmt.Errorf("bloom %d: invalid size %d or k %d", i, words, h[0])
		}
		b := &bloom{k: h[0], bits: make([]uint64, words)}
		if err := binary.Read(br, binary.LittleEndian, b.bits); err != nil {
			return nil, fmt.Errorf("bloom %d: %w", i, err)
		}
		out = append(out, b)
	}
	return out, nil
}

// GroupMayContainAny reports whether row group g may hold a row carrying
// one of tokens; a part without blooms may hold anything.
func (p *Part) GroupMayContainAny(g int, tokens []string) bool {
	if p.blooms == nil || g < 0 || g >= len(p.blooms) {
		return true
	}
	for _, t := range tokens {
		if p.blooms[g].contains(t) {
			return true
		}
	}
	return false
}
