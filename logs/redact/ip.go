package redact

import (
	"net/netip"
	"strings"
)

// maxIPv6Text bounds the text tried as one IPv6 address (an IPv6 with an
// IPv4 tail is at most 45 bytes).
const maxIPv6Text = 45

// findIPs appends the spans of IPv4 and IPv6 addresses in s to dst.
func findIPs(s string, dst []span) []span {
	dst = findIPv6(s, dst)
	return findIPv4(s, dst)
}

// findIPv4 appends dotted quads: maximal runs of digits and dots with
// exactly four decimal octets, not after a letter or underscore and not
// before one.
func findIPv4(s string, dst []span) []span {
	for i := 0; i < len(s); {
		c := s[i]
		if !isDigit(c) && c != '.' {
			i++
			continue
		}
		j := i
		for j < len(s) && (isDigit(s[j]) || s[j] == '.') {
			j++
		}
		start, end := i, j
		i = j
		if s[start] == '.' || isWord(at(s, start-1)) {
			continue
		}
		if s[end-1] == '.' {
			end-- // a full stop
		}
		if isWord(at(s, j)) || !dottedQuad(s[start:end]) || inIPv6Run(s, start, end) {
			continue
		}
		dst = append(dst, span{start, end})
	}
	return dst
}

// inIPv6Run reports whether the quad s[i:j] is part of a run of hex
// digits, colons and dots with two colons or more: the IPv6 detector
// has judged that run whole, and masking only the quad would leave an
// address-like rest ("0::" of "0::0.0.0.0:0").
func inIPv6Run(s string, i, j int) bool {
	colons := 0
	for k := i - 1; k >= 0 && isIPv6Char(s[k]); k-- {
		if s[k] == ':' {
			colons++
		}
	}
	for k := j; k < len(s) && isIPv6Char(s[k]); k++ {
		if s[k] == ':' {
			colons++
		}
	}
	return colons >= 2
}

// dottedQuad reports whether s is four octets 0..255 without leading
// zeros.
func dottedQuad(s string) bool {
	parts := 0
	for len(s) > 0 {
		k := strings.IndexByte(s, '.')
		p := s
		if k >= 0 {
			p, s = s[:k], s[k+1:]
			if s == "" {
				return false
			}
		} else {
			s = ""
		}
		if len(p) == 0 || len(p) > 3 || (len(p) > 1 && p[0] == '0') {
			return false
		}
		v := 0
		for i := 0; i < len(p); i++ {
			v = v*10 + int(p[i]-'0')
		}
		if v > 255 {
			return false
		}
		parts++
	}
	return parts == 4
}

// findIPv6 appends IPv6 addresses: maximal runs of hex digits, colons and
// dots with at least two colons and a hex digit, not inside a word, that
// net/netip parses (a trailing colon or dot, punctuation after the
// address, is left out).
func findIPv6(s string, dst []span) []span {
	for i := 0; i < len(s); {
		k := strings.IndexByte(s[i:], ':')
		if k < 0 {
			break
		}
		c := i + k
		start, end := c, c
		for start > 0 && isIPv6Char(s[start-1]) {
			start--
		}
		for end < len(s) && isIPv6Char(s[end]) {
			end++
		}
		i = end
		if isWord(at(s, start-1)) || isWord(at(s, end)) || end-start > maxIPv6Text+1 {
			continue
		}
		if t := s[start:end]; strings.Count(t, ":") < 2 || !strings.ContainsFunc(t, func(r rune) bool { return r < 128 && isHex(byte(r)) }) {
			continue
		}
		for end > start && (s[end-1] == ':' || s[end-1] == '.') && !parsesIPv6(s[start:end]) {
			end--
		}
		if end > start && parsesIPv6(s[start:end]) {
			dst = append(dst, span{start, end})
		}
	}
	return dst
}

func isIPv6Char(c byte) bool { return isHex(c) || c == ':' || c == '.' }

// parsesIPv6 reports whether t is an IPv6 address. Its shape is checked
// first, as netip's errors allocate and most candidates are times.
func parsesIPv6(t string) bool {
	groups, double := 0, false
	for i := 0; i < len(t); {
		if t[i] == ':' {
			if at(t, i+1) == ':' {
				if double {
					return false
				}
				double = true
				i += 2
				continue
			}
			if i == 0 || i == len(t)-1 {
				return false
			}
			i++
			continue
		}
		j := i
		for j < len(t) && isHex(t[j]) {
			j++
		}
		if at(t, j) == '.' {
			groups += 2 // an IPv4 tail, two groups' worth
			break
		}
		if j == i || j-i > 4 {
			return false
		}
		groups++
		i = j
	}
	if groups > 8 || (!double && groups != 8) || (double && groups == 8) {
		return false
	}
	a, err := netip.ParseAddr(t)
	return err == nil && a.Is6()
}
