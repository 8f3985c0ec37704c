// Package jsonscan reads JSON text in place, without building a tree or
// boxing values: the LogQL json stage and the log receivers walk an
// object once and take its fields as strings.
package jsonscan

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth bounds nesting so hostile input cannot exhaust the stack.
const MaxDepth = 64

// ErrJSON is the error of text that is not valid JSON.
var ErrJSON = errors.New("invalid JSON")

// Scanner reads JSON text without building a tree. S is the text and I
// the position of the next byte to read; callers move I themselves only
// to step over what they inspected with S[I].
type Scanner struct {
	S   string
	I   int
	buf []byte // unescaping scratch
}

// Reset starts reading s.
func (sc *Scanner) Reset(s string) { sc.S, sc.I = s, 0 }

// WS skips white space.
func (sc *Scanner) WS() {
	for sc.I < len(sc.S) {
		switch sc.S[sc.I] {
		case ' ', '\t', '\n', '\r':
			sc.I++
		default:
			return
		}
	}
}

// Str reads a string at sc.I (which is '"'). The result is a substring
// of sc.S when it has no escapes, a new string otherwise: either may be
// kept.
func (sc *Scanner) Str() (string, error) {
	sc.I++
	start := sc.I
	for sc.I < len(sc.S) {
		c := sc.S[sc.I]
		switch {
		case c == '"':
			sc.I++
			return sc.S[start : sc.I-1], nil
		case c == '\\':
			return sc.strSlow(start)
		case c < 0x20:
			return "", ErrJSON
		}
		sc.I++
	}
	return "", ErrJSON
}

func (sc *Scanner) strSlow(start int) (string, error) {
	sc.buf = append(sc.buf[:0], sc.S[start:sc.I]...)
	for sc.I < len(sc.S) {
		c := sc.S[sc.I]
		switch {
		case c == '"':
			sc.I++
			return string(sc.buf), nil
		case c < 0x20:
			return "", ErrJSON
		case c != '\\':
			sc.buf = append(sc.buf, c)
			sc.I++
			continue
		}
		if sc.I+1 >= len(sc.S) {
			return "", ErrJSON
		}
		e := sc.S[sc.I+1]
		sc.I += 2
		switch e {
		case '"', '\\', '/':
			sc.buf = append(sc.buf, e)
		case 'b':
			sc.buf = append(sc.buf, '\b')
		case 'f':
			sc.buf = append(sc.buf, '\f')
		case 'n':
			sc.buf = append(sc.buf, '\n')
		case 'r':
			sc.buf = append(sc.buf, '\r')
		case 't':
			sc.buf = append(sc.buf, '\t')
		case 'u':
			r, ok := sc.hex4()
			if !ok {
				return "", ErrJSON
			}
			if utf16.IsSurrogate(r) {
				// A high surrogate pairs with a following \u escape of a
				// low one; otherwise it is U+FFFD and the next escape is
				// read on its own, as encoding/json does.
				pair := utf8.RuneError
				if strings.HasPrefix(sc.S[sc.I:], `\u`) {
					at := sc.I
					sc.I += 2
					x, ok := sc.hex4()
					if !ok {
						return "", ErrJSON
					}
					if pair = utf16.DecodeRune(r, x); pair == utf8.RuneError {
						sc.I = at
					}
				}
				r = pair
			}
			sc.buf = utf8.AppendRune(sc.buf, r)
		default:
			return "", ErrJSON
		}
	}
	return "", ErrJSON
}

func (sc *Scanner) hex4() (rune, bool) {
	if sc.I+4 > len(sc.S) {
		return 0, false
	}
	n, err := strconv.ParseUint(sc.S[sc.I:sc.I+4], 16, 32)
	if err != nil {
		return 0, false
	}
	sc.I += 4
	return rune(n), true
}

// Scalar reads a number, true, false or null and returns its text.
func (sc *Scanner) Scalar() (string, error) {
	start := sc.I
	for sc.I < len(sc.S) {
		c := sc.S[sc.I]
		if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			break
		}
		sc.I++
	}
	t := sc.S[start:sc.I]
	switch t {
	case "true", "false", "null":
		return t, nil
	case "":
		return "", ErrJSON
	}
	if !isNumber(t) {
		return "", ErrJSON
	}
	return t, nil
}

// Skip skips one value.
func (sc *Scanner) Skip(depth int) error {
	if depth > MaxDepth {
		return ErrJSON
	}
	sc.WS()
	if sc.I >= len(sc.S) {
		return ErrJSON
	}
	switch sc.S[sc.I] {
	case '"':
		_, err := sc.Str()
		return err
	case '{':
		return sc.Object(depth, func(string) error { return sc.Skip(depth + 1) })
	case '[':
		return sc.Array(depth, func(int) error { return sc.Skip(depth + 1) })
	}
	_, err := sc.Scalar()
	return err
}

// Object reads an object at sc.I, calling field with each key (valid
// only during the call) positioned at the value, which field must read.
func (sc *Scanner) Object(depth int, field func(key string) error) error {
	sc.I++ // {
	sc.WS()
	if sc.I < len(sc.S) && sc.S[sc.I] == '}' {
		sc.I++
		return nil
	}
	for {
		sc.WS()
		if sc.I >= len(sc.S) || sc.S[sc.I] != '"' {
			return ErrJSON
		}
		k, err := sc.Str()
		if err != nil {
			return err
		}
		sc.WS()
		if sc.I >= len(sc.S) || sc.S[sc.I] != ':' {
			return ErrJSON
		}
		sc.I++
		sc.WS()
		if err := field(k); err != nil {
			return err
		}
		sc.WS()
		if sc.I >= len(sc.S) {
			return ErrJSON
		}
		switch sc.S[sc.I] {
		case ',':
			sc.I++
		case '}':
			sc.I++
			return nil
		default:
			return ErrJSON
		}
	}
}

// Array reads an array at sc.I, calling elem positioned at each value,
// which elem must read.
func (sc *Scanner) Array(depth int, elem func(i int) error) error {
	sc.I++ // [
	sc.WS()
	if sc.I < len(sc.S) && sc.S[sc.I] == ']' {
		sc.I++
		return nil
	}
	for n := 0; ; n++ {
		sc.WS()
		if err := elem(n); err != nil {
			return err
		}
		sc.WS()
		if sc.I >= len(sc.S) {
			return ErrJSON
		}
		switch sc.S[sc.I] {
		case ',':
			sc.I++
		case ']':
			sc.I++
			return nil
		default:
			return ErrJSON
		}
	}
}

// isNumber reports whether t is a JSON number:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func isNumber(t string) bool {
	i := 0
	if i < len(t) && t[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(t) && t[i] >= '0' && t[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(t) && t[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(t) && t[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(t) && (t[i] == 'e' || t[i] == 'E') {
		i++
		if i < len(t) && (t[i] == '+' || t[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(t)
}
