package redact

const (
	minCardDigits = 13
	maxCardDigits = 19
	// maxGroups bounds the digit groups of one run looked at together; a
	// longer run is cut there, and the rest read as a run of its own that
	// continues the one before (so it is judged by the separator).
	maxGroups = 16
)

// group is one run of digits of a possibly grouped number; sep is the
// separator before it (0 for the first group of a run).
type group struct {
	start, end int
	sep        byte
}

func (g group) len() int { return g.end - g.start }

// findCards appends the spans of card numbers in s to dst.
func findCards(s string, dst []span) []span {
	var gs [maxGroups]group
	for i := 0; i < len(s); {
		// Every card starts with a group of at least four digits, and
		// four bytes in a row hold one at an index of i+3 modulo 4: text
		// without digits is skipped four bytes at a time.
		p := i + 3
		for p < len(s) && !isDigit(s[p]) {
			p += 4
		}
		if p >= len(s) {
			break
		}
		g, e := p, p+1
		for g > i && isDigit(s[g-1]) {
			g--
		}
		for e < len(s) && isDigit(s[e]) {
			e++
		}
		if e-g < 4 {
			i = e
			continue
		}
		// A run from here: digit groups joined by single spaces or
		// dashes. A group before it, too short to start a card, is seen
		// by cardStartOK.
		n := 0
		j := g
		var sep byte
		for n < maxGroups {
			start := j
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			gs[n] = group{start, j, sep}
			n++
			if c := at(s, j); (c == ' ' || c == '-') && isDigit(at(s, j+1)) {
				sep = c
				j++
				continue
			}
			break
		}
		dst = cardsInRun(s, gs[:n], dst)
		i = j
	}
	return dst
}

// cardsInRun appends the card numbers among the groups of one run.
func cardsInRun(s string, gs []group, dst []span) []span {
	total := 0
	for _, g := range gs {
		total += g.len()
	}
	if total < minCardDigits {
		return dst
	}
	for k := 0; k < len(gs); {
		if !cardStartOK(s, gs, k) {
			k++
			continue
		}
		m, ok := cardAt(s, gs, k)
		if !ok || !cardEndOK(s, gs, m) {
			k++
			continue
		}
		dst = append(dst, span{gs[k].start, gs[m].end})
		k = m + 1
	}
	return dst
}

// cardStartOK reports whether a number may start at group k: the run
// does not touch a word or a decimal, and the group before (if any) is a
// separate word (joined by a space, not a dash).
func cardStartOK(s string, gs []group, k int) bool {
	if k > 0 {
		return gs[k].sep == ' '
	}
	i := gs[0].start
	c := at(s, i-1)
	switch {
	case isWord(c) || c == '.':
		return false
	case c == '-' || c == ' ':
		// A run cut at maxGroups, or joined to a word: "id-4111...".
		p := at(s, i-2)
		if isDigit(p) {
			return c == ' '
		}
		return c == ' ' || !isWord(p)
	}
	return true
}

// cardEndOK is cardStartOK for a number ending at group m.
func cardEndOK(s string, gs []group, m int) bool {
	if m < len(gs)-1 {
		return gs[m+1].sep == ' '
	}
	i := gs[m].end
	c := at(s, i)
	switch {
	case isWord(c):
		return false
	case c == '.' || c == '-':
		// A full stop ends a sentence; a dot or dash before a word or
		// digit continues an id or a decimal.
		return !isWord(at(s, i+1))
	}
	return true
}

// cardAt reports whether groups k..m form a card number, and m.
func cardAt(s string, gs []group, k int) (int, bool) {
	first := gs[k].len()
	if first >= minCardDigits && first <= maxCardDigits {
		return k, validCard(s, gs[k:k+1])
	}
	if first != 4 || k+2 >= len(gs) {
		return 0, false
	}
	sep := gs[k+1].sep
	same := func(m int) bool { return m < len(gs) && gs[m].sep == sep }
	l1, l2 := gs[k+1].len(), gs[k+2].len()
	if !same(k + 2) {
		return 0, false
	}
	switch {
	case l1 == 6 && (l2 == 5 || l2 == 4): // Amex 4-6-5, Diners 4-6-4
		return k + 2, validCard(s, gs[k:k+3])
	case l1 == 4 && l2 == 4 && same(k+3):
		l3 := gs[k+3].len()
		if l3 == 4 && same(k+4) && gs[k+4].len() <= 3 && validCard(s, gs[k:k+5]) {
			return k + 4, true // 4-4-4-4-1..3
		}
		if l3 >= 1 && l3 <= 4 {
			return k + 3, validCard(s, gs[k:k+4])
		}
	}
	return 0, false
}

// validCard reports whether the digits of gs pass the Luhn check and
// start with an issuer prefix of their length.
func validCard(s string, gs []group) bool {
	var d [maxCardDigits]byte
	n := 0
	for _, g := range gs {
		for i := g.start; i < g.end; i++ {
			if n == maxCardDigits {
				return false
			}
			d[n] = s[i] - '0'
			n++
		}
	}
	if n < minCardDigits || !issuer(d[:n]) {
		return false
	}
	sum := 0
	for i := range n {
		v := int(d[n-1-i])
		if i%2 == 1 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

// issuer reports whether d starts with a known issuer's prefix and has a
// length that issuer uses.
func issuer(d []byte) bool {
	n := len(d)
	p2 := int(d[0])*10 + int(d[1])
	p3 := p2*10 + int(d[2])
	p4 := p3*10 + int(d[3])
	switch {
	case d[0] == 4: // Visa
		return n == 13 || n == 16 || n == 19
	case p2 >= 51 && p2 <= 55, p4 >= 2221 && p4 <= 2720: // Mastercard
		return n == 16
	case p2 == 34 || p2 == 37: // Amex
		return n == 15
	case p4 == 6011, p2 == 65, p3 >= 644 && p3 <= 649: // Discover
		return n >= 16
	case p4 >= 3528 && p4 <= 3589: // JCB
		return n >= 16
	case p2 == 36, p2 == 38, p3 >= 300 && p3 <= 305: // Diners
		return n >= 14
	}
	return false
}
