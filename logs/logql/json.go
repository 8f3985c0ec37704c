package logql

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/vigilhq/vigil/logs/jsonscan"
	"github.com/vigilhq/vigil/storage/logs"
)

// jsonScanner is the | json stage's scanner: the flattened key of the
// field being read beside the text.
type jsonScanner struct {
	jsonscan.Scanner
	key []byte
}

var errJSON = jsonscan.ErrJSON

const maxJSONDepth = jsonscan.MaxDepth

// jsonFields calls emit with every scalar field of the JSON object line:
// nested object keys joined with "_" and sanitised, arrays skipped, null
// given as "". It returns errJSON when line is not a JSON object.
func jsonFields(sc *jsonScanner, line string, emit func(key []byte, value string)) error {
	sc.S, sc.I, sc.key = line, 0, sc.key[:0]
	sc.WS()
	if sc.I >= len(sc.S) || sc.S[sc.I] != '{' {
		return errJSON
	}
	if err := sc.walk(0, emit); err != nil {
		return err
	}
	sc.WS()
	if sc.I != len(sc.S) {
		return errJSON
	}
	return nil
}

func (sc *jsonScanner) walk(depth int, emit func(key []byte, value string)) error {
	if depth > maxJSONDepth {
		return errJSON
	}
	return sc.Object(depth, func(k string) error {
		n := len(sc.key)
		if n > 0 {
			sc.key = append(sc.key, '_')
		}
		sc.key = logs.AppendLabelName(sc.key, k)
		defer func() { sc.key = sc.key[:n] }()
		if sc.I >= len(sc.S) {
			return errJSON
		}
		switch sc.S[sc.I] {
		case '{':
			return sc.walk(depth+1, emit)
		case '[':
			return sc.Skip(depth + 1)
		case '"':
			v, err := sc.Str()
			if err != nil {
				return err
			}
			emit(sc.key, v)
			return nil
		}
		v, err := sc.Scalar()
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
	sc.S, sc.I = line, 0
	sc.WS()
	for depth, el := range path {
		if sc.I >= len(sc.S) {
			return "", false, errJSON
		}
		hit := false
		switch c := sc.S[sc.I]; {
		case c == '{' && el.index < 0:
			err = sc.Object(depth, func(k string) error {
				if hit || k != el.key {
					return sc.Skip(depth + 1)
				}
				hit = true
				return errStop
			})
		case c == '[' && el.index >= 0:
			err = sc.Array(depth, func(i int) error {
				if i != el.index {
					return sc.Skip(depth + 1)
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
	if sc.I >= len(sc.S) {
		return "", false, errJSON
	}
	start := sc.I
	switch sc.S[sc.I] {
	case '"':
		v, err := sc.Str()
		if err != nil {
			return "", false, err
		}
		return strings.Clone(v), true, nil
	case '{', '[':
		if err := sc.Skip(0); err != nil {
			return "", false, err
		}
		return sc.S[start:sc.I], true, nil
	}
	v, err := sc.Scalar()
	if err != nil {
		return "", false, err
	}
	if v == "null" {
		v = ""
	}
	return v, true, nil
}

var errStop = errors.New("stop")

// sanitizeName returns name as a label name (logs.LabelName), without
// allocating when it already is one.
func sanitizeName(name string) string { return logs.LabelName(name) }
