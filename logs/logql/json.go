package logql

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// maxJSONDepth bounds nesting so a hostile line cannot exhaust the stack.
const maxJSONDepth = 64

var errJSON = errors.New("invalid JSON")

// jsonScanner reads JSON text without building a tree: the | json stage
// walks a line once and emits its scalar fields.
type jsonScanner struct {
	s   string
	i   int
	buf []byte // unescaping scratch
	key []byte // flattened key of the current field
}

func (sc *jsonScanner) ws() {
	for sc.i < len(sc.s) {
		switch sc.s[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// str reads a string at sc.i (which is '"'). The result aliases sc.s when
// it has no escapes, sc.buf otherwise: copy it before the next call.
func (sc *jsonScanner) str() (string, error) {
	sc.i++
	start := sc.i
	for sc.i < len(sc.s) {
		c := sc.s[sc.i]
		switch {
		case c == '"':
			sc.i++
			return sc.s[start : sc.i-1], nil
		case c == '\\':
			return sc.strSlow(start)
		case c < 0x20:
			return "", errJSON
		}
		sc.i++
	}
	return "", errJSON
}

func (sc *jsonScanner) strSlow(start int) (string, error) {
	sc.buf = append(sc.buf[:0], sc.s[start:sc.i]...)
	for sc.i < len(sc.s) {
		c := sc.s[sc.i]
		switch {
		case c == '"':
			sc.i++
			return string(sc.buf), nil
		case c < 0x20:
			return "", errJSON
		case c != '\\':
			sc.buf = append(sc.buf, c)
			sc.i++
			continue
		}
		if sc.i+1 >= len(sc.s) {
			return "", errJSON
		}
		e := sc.s[sc.i+1]
		sc.i += 2
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
				return "", errJSON
			}
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if strings.HasPrefix(sc.s[sc.i:], `\u`) {
					sc.i += 2
					if x, ok := sc.hex4(); ok {
						r2 = x
					}
				}
				r = utf16.DecodeRune(r, r2)
			}
			sc.buf = utf8.AppendRune(sc.buf, r)
		default:
			return "", errJSON
		}
	}
	return "", errJSON
}

func (sc *jsonScanner) hex4() (rune, bool) {
	if sc.i+4 > len(sc.s) {
		return 0, false
	}
	n, err := strconv.ParseUint(sc.s[sc.i:sc.i+4], 16, 32)
	if err != nil {
		return 0, false
	}
	sc.i += 4
	return rune(n), true
}

// scalar reads a number, true, false or null and returns its text.
func (sc *jsonScanner) scalar() (string, error) {
	start := sc.i
	for sc.i < len(sc.s) {
		c := sc.s[sc.i]
		if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			break
		}
		sc.i++
	}
	t := sc.s[start:sc.i]
	switch t {
	case "true", "false", "null":
		return t, nil
	case "":
		return "", errJSON
	}
	if c := t[0]; c != '-' && !isDigit(c) {
		return "", errJSON
	}
	if _, err := strconv.ParseFloat(t, 64); err != nil {
		return "", errJSON
	}
	return t, nil
}

// skip skips one value.
func (sc *jsonScanner) skip(depth int) error {
	if depth > maxJSONDepth {
		return errJSON
	}
	sc.ws()
	if sc.i >= len(sc.s) {
		return errJSON
	}
	switch sc.s[sc.i] {
	case '"':
		_, err := sc.str()
		return err
	case '{':
		return sc.object(depth, func(string) error { return sc.skip(depth + 1) })
	case '[':
		return sc.array(depth, func(int) error { return sc.skip(depth + 1) })
	}
	_, err := sc.scalar()
	return err
}

// object reads an object at sc.i, calling field with each key (valid
// only during the call) positioned at the value, which field must read.
func (sc *jsonScanner) object(depth int, field func(key string) error) error {
	sc.i++ // {
	sc.ws()
	if sc.i < len(sc.s) && sc.s[sc.i] == '}' {
		sc.i++
		return nil
	}
	for {
		sc.ws()
		if sc.i >= len(sc.s) || sc.s[sc.i] != '"' {
			return errJSON
		}
		k, err := sc.str()
		if err != nil {
			return err
		}
		sc.ws()
		if sc.i >= len(sc.s) || sc.s[sc.i] != ':' {
			return errJSON
		}
		sc.i++
		sc.ws()
		if err := field(k); err != nil {
			return err
		}
		sc.ws()
		if sc.i >= len(sc.s) {
			return errJSON
		}
		switch sc.s[sc.i] {
		case ',':
			sc.i++
		case '}':
			sc.i++
			return nil
		default:
			return errJSON
		}
	}
}

func (sc *jsonScanner) array(depth int, elem func(i int) error) error {
	sc.i++ // [
	sc.ws()
	if sc.i < len(sc.s) && sc.s[sc.i] == ']' {
		sc.i++
		return nil
	}
	for n := 0; ; n++ {
		sc.ws()
		if err := elem(n); err != nil {
			return err
		}
		sc.ws()
		if sc.i >= len(sc.s) {
			return errJSON
		}
		switch sc.s[sc.i] {
		case ',':
			sc.i++
		case ']':
			sc.i++
			return nil
		default:
			return errJSON
		}
	}
}

// jsonFields calls emit with every scalar field of the JSON object line:
// nested object keys joined with "_" and sanitised, arrays skipped, null
// given as "". It returns errJSON when line is not a JSON object.
func jsonFields(sc *jsonScanner, line string, emit func(key []byte, value string)) error {
	sc.s, sc.i, sc.key = line, 0, sc.key[:0]
	sc.ws()
	if sc.i >= len(sc.s) || sc.s[sc.i] != '{' {
		return errJSON
	}
	if err := sc.walk(0, emit); err != nil {
		return err
	}
	sc.ws()
	if sc.i != len(sc.s) {
		return errJSON
	}
	return nil
}

func (sc *jsonScanner) walk(depth int, emit func(key []byte, value string)) error {
	if depth > maxJSONDepth {
		return errJSON
	}
	return sc.object(depth, func(k string) error {
		n := len(sc.key)
		if n > 0 {
			sc.key = append(sc.key, '_')
		}
		sc.key = appendSanitized(sc.key, k, n == 0)
		defer func() { sc.key = sc.key[:n] }()
		if sc.i >= len(sc.s) {
			return errJSON
		}
		switch sc.s[sc.i] {
		case '{':
			return sc.walk(depth+1, emit)
		case '[':
			return sc.skip(depth + 1)
		case '"':
			v, err := sc.str()
			if err != nil {
				return err
			}
			emit(sc.key, v)
			return nil
		}
		v, err := sc.scalar()
		if err != nil {
			return err
		}
		if v == "null" {
			v = ""
		}
		emit(sc.key, v)
		return nil
	})
}

// pathElem is one step of a | json expression: a key or an array index.
type pathElem struct {
	key   string
	index int // -1 for keys
}

// parseJSONPath reads a | json expression such as a.b[0]["c d"].
func parseJSONPath(expr string) ([]pathElem, error) {
	var path []pathElem
	s := expr
	for len(s) > 0 {
		switch s[0] {
		case '.':
			if len(path) == 0 {
				return nil, fmt.Errorf("unexpected '.' at the start")
			}
			s = s[1:]
			if s == "" || s[0] == '.' || s[0] == '[' {
				return nil, fmt.Errorf("missing key after '.'")
			}
			continue
		case '[':
			end := strings.IndexByte(s, ']')
			if len(s) > 1 && s[1] == '"' {
				v, n, err := lexString(s[1:])
				if err != nil || 1+n >= len(s) || s[1+n] != ']' {
					return nil, fmt.Errorf("invalid quoted key in %q", s)
				}
				path = append(path, pathElem{key: v, index: -1})
				s = s[2+n:]
				continue
			}
			if end < 0 {
				return nil, fmt.Errorf("missing ']'")
			}
			n, err := strconv.Atoi(s[1:end])
			if err != nil || n < 0 {
				return nil, fmt.Errorf("invalid array index %q", s[1:end])
			}
			path = append(path, pathElem{index: n})
			s = s[end+1:]
			continue
		}
		j := 0
		for j < len(s) && s[j] != '.' && s[j] != '[' {
			j++
		}
		path = append(path, pathElem{key: s[:j], index: -1})
		s = s[j:]
	}
	if len(path) == 0 {
		return nil, fmt.Errorf("empty expression")
	}
	return path, nil
}

// jsonLookup returns the value at path in the JSON line: strings
// unescaped, numbers and booleans as written, objects and arrays as JSON
// text, null as "". found is false when the path does not exist.
func jsonLookup(sc *jsonScanner, line string, path []pathElem) (value string, found bool, err error) {
	sc.s, sc.i = line, 0
	sc.ws()
	for depth, el := range path {
		if sc.i >= len(sc.s) {
			return "", false, errJSON
		}
		hit := false
		switch c := sc.s[sc.i]; {
		case c == '{' && el.index < 0:
			err = sc.object(depth, func(k string) error {
				if hit || k != el.key {
					return sc.skip(depth + 1)
				}
				hit = true
				return errStop
			})
		case c == '[' && el.index >= 0:
			err = sc.array(depth, func(i int) error {
				if i != el.index {
					return sc.skip(depth + 1)
				}
				hit = true
				return errStop
			})
		default:
			return "", false, nil
		}
		if err == errStop {
			err = nil
		}
		if err != nil {
			return "", false, err
		}
		if !hit {
			return "", false, nil
		}
	}
	if sc.i >= len(sc.s) {
		return "", false, errJSON
	}
	start := sc.i
	switch sc.s[sc.i] {
	case '"':
		v, err := sc.str()
		if err != nil {
			return "", false, err
		}
		return strings.Clone(v), true, nil
	case '{', '[':
		if err := sc.skip(0); err != nil {
			return "", false, err
		}
		return sc.s[start:sc.i], true, nil
	}
	v, err := sc.scalar()
	if err != nil {
		return "", false, err
	}
	if v == "null" {
		v = ""
	}
	return v, true, nil
}

var errStop = errors.New("stop")

// appendSanitized appends name with every byte outside [a-zA-Z0-9_]
// replaced by '_' and, when first, a '_' before a leading digit: label
// names as Loki makes them from OTLP attributes and JSON keys.
func appendSanitized(dst []byte, name string, first bool) []byte {
	if first && len(name) > 0 && isDigit(name[0]) {
		dst = append(dst, '_')
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if isIdentChar(c) {
			dst = append(dst, c)
		} else {
			dst = append(dst, '_')
		}
	}
	return dst
}

// sanitizeName returns name as a label name (see appendSanitized),
// without allocating when it already is one.
func sanitizeName(name string) string {
	if name != "" && isLabelName(name) {
		return name
	}
	return string(appendSanitized(nil, name, true))
}
