package redact

import "strings"

const (
	maxLocal  = 64
	maxDomain = 253
	maxLabel  = 63
)

func isLocalChar(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

func isLabelChar(c byte) bool { return isAlnum(c) || c == '-' }

// findEmails appends the spans of email addresses in s to dst.
func findEmails(s string, dst []span) []span {
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '@')
		if j < 0 {
			break
		}
		a := i + j
		if sp, ok := emailAt(s, a); ok {
			dst = append(dst, sp)
			i = sp.end
			continue
		}
		i = a + 1
	}
	return dst
}

// emailAt reports the address around the '@' at a.
func emailAt(s string, a int) (span, bool) {
	start := a
	for start > 0 && a-start < maxLocal && isLocalChar(s[start-1]) {
		start--
	}
	if start > 0 && isLocalChar(s[start-1]) {
		return span{}, false // local part too long
	}
	for start < a && s[start] == '.' {
		start++
	}
	if start == a || s[a-1] == '.' {
		return span{}, false
	}
	end, ok := domainEnd(s, a+1)
	if !ok {
		return span{}, false
	}
	// The address must not continue into a word, an id or a longer
	// dotted name.
	switch c := at(s, end); {
	case isWord(c) || c == '@':
		return span{}, false
	case c == '.' || c == '-':
		if isAlnum(at(s, end+1)) {
			return span{}, false
		}
	}
	return span{start, end}, true
}

// domainEnd returns the end of the longest domain starting at i with at
// least two labels and an alphabetic top-level label of two or more
// letters.
func domainEnd(s string, i int) (int, bool) {
	end, labels, ok := 0, 0, false
	for j := i; j < len(s) && j-i <= maxDomain; {
		k := j
		letters := true
		for k < len(s) && k-j < maxLabel && isLabelChar(s[k]) {
			letters = letters && isLetter(s[k])
			k++
		}
		if k == j || s[j] == '-' || s[k-1] == '-' || isLabelChar(at(s, k)) {
			break
		}
		labels++
		if labels == 1 && retina(s[j:k]) {
			return 0, false
		}
		if labels >= 2 && letters && k-j >= 2 {
			end, ok = k, true
		}
		if at(s, k) != '.' {
			break
		}
		j = k + 1
	}
	return end, ok
}

// retina reports whether a first domain label is a resolution suffix of
// an image name, as in icon@2x.png.
func retina(label string) bool {
	n := len(label)
	if n < 2 || (label[n-1] != 'x' && label[n-1] != 'X') {
		return false
	}
	for i := 0; i < n-1; i++ {
		if !isDigit(label[i]) {
			return false
		}
	}
	return true
}
