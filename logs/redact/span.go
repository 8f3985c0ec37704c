package redact

import (
	"slices"
	"strings"
)

// span is a byte range [start, end) of a value to mask.
type span struct{ start, end int }

// applySpans replaces each span of s by mask. Overlapping spans are
// masked once, as their union; the count is of the masked ranges.
func applySpans(s string, spans []span, mask string) (string, int) {
	if len(spans) == 0 {
		return s, 0
	}
	slices.SortFunc(spans, func(a, b span) int { return a.start - b.start })
	var b strings.Builder
	b.Grow(len(s) + len(spans)*len(mask))
	n, last := 0, 0
	for i := 0; i < len(spans); {
		start, end := spans[i].start, spans[i].end
		for i++; i < len(spans) && spans[i].start < end; i++ {
			end = max(end, spans[i].end)
		}
		if start < last || end <= start || end > len(s) {
			panic("BUG: redaction span out of order or out of range")
		}
		b.WriteString(s[last:start])
		b.WriteString(mask)
		last = end
		n++
	}
	b.WriteString(s[last:])
	return b.String(), n
}

// features are the cheap signs of a value the detectors look for before
// they scan: the number of digits (low bits: a card number needs 13),
// and whether the value holds an '=' or ':', an '@', a '.' or a ':'.
type features uint64

const (
	featSep   features = 1 << 32 // '=' or ':'
	featAt    features = 1 << 33
	featDot   features = 1 << 34
	featColon features = 1 << 35
)

func (f features) digits() int { return int(f & (1<<32 - 1)) }

var featureOf = func() (t [256]features) {
	for c := '0'; c <= '9'; c++ {
		t[c] = 1
	}
	t['='] = featSep
	t[':'] = featSep | featColon
	t['@'] = featAt
	t['.'] = featDot
	return t
}()

func scanFeatures(s string) features {
	var f features
	for i := 0; i < len(s); i++ {
		t := featureOf[s[i]]
		f = (f | t&^1) + t&1 // flags are set once, digits counted
	}
	return f
}

// Character classes.
const (
	clDigit = 1 << iota
	clUpper
	clLower
	clHex
)

var class = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = clDigit | clHex
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = clLower
		t[c-'a'+'A'] = clUpper
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] |= clHex
		t[c-'a'+'A'] |= clHex
	}
	return t
}()

func isDigit(c byte) bool { return class[c]&clDigit != 0 }
func isUpper(c byte) bool { return class[c]&clUpper != 0 }
func isLower(c byte) bool { return class[c]&clLower != 0 }
func isLetter(c byte) bool {
	return class[c]&(clUpper|clLower) != 0
}
func isAlnum(c byte) bool { return class[c]&(clDigit|clUpper|clLower) != 0 }
func isHex(c byte) bool   { return class[c]&clHex != 0 }

// isWord reports whether c continues an identifier: a letter, digit or
// underscore.
func isWord(c byte) bool { return isAlnum(c) || c == '_' }

// at returns s[i], or 0 outside s.
func at(s string, i int) byte {
	if i < 0 || i >= len(s) {
		return 0
	}
	return s[i]
}

// isMask reports whether s starts with a mask, "[REDACTED:...]".
func isMask(s string) bool { return strings.HasPrefix(s, "[REDACTED:") }
