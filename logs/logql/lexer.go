package logql

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// tokKind is the kind of a lexical token.
type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tDuration
	tBytes
	tOp // punctuation and operators; the text says which
)

// token is one lexical token of a query; pos is its byte offset.
type token struct {
	kind tokKind
	text string // raw text; for strings the unquoted value
	pos  int
}

// ParseError is a query the parser refused, with the 1-based line and
// column of the offending token.
type ParseError struct {
	Line, Col int
	Msg       string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("parse error at line %d, col %d: %s", e.Line, e.Col, e.Msg)
}

func newParseError(q string, pos int, format string, args ...any) *ParseError {
	if pos > len(q) {
		pos = len(q)
	}
	line, col := 1, 1
	for _, r := range q[:pos] {
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return &ParseError{Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// operators, longest first so that "|=" wins over "|".
var operators = []string{
	"|=", "|~", "!=", "!~", "=~", "==", ">=", "<=",
	"{", "}", "(", ")", "[", "]", ",", "|", "=", ">", "<", "+", "-", "*", "/", "%", "^",
}

// lex splits q into tokens. Comments (# to end of line) are dropped.
func lex(q string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(q) {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case c == '#':
			for i < len(q) && q[i] != '\n' {
				i++
			}
			continue
		case c == '"' || c == '`':
			s, n, err := lexString(q[i:])
			if err != nil {
				return nil, newParseError(q, i, "%s", err)
			}
			toks = append(toks, token{kind: tString, text: s, pos: i})
			i += n
			continue
		case isDigit(c) || (c == '.' && i+1 < len(q) && isDigit(q[i+1])):
			t, n, err := lexNumber(q[i:])
			if err != nil {
				return nil, newParseError(q, i, "%s", err)
			}
			t.pos = i
			toks = append(toks, t)
			i += n
			continue
		case isIdentStart(c):
			j := i + 1
			for j < len(q) && isIdentChar(q[j]) {
				j++
			}
			toks = append(toks, token{kind: tIdent, text: q[i:j], pos: i})
			i = j
			continue
		}
		matched := false
		for _, op := range operators {
			if strings.HasPrefix(q[i:], op) {
				toks = append(toks, token{kind: tOp, text: op, pos: i})
				i += len(op)
				matched = true
				break
			}
		}
		if !matched {
			r, _ := utf8.DecodeRuneInString(q[i:])
			return nil, newParseError(q, i, "unexpected character %q", r)
		}
	}
	toks = append(toks, token{kind: tEOF, pos: len(q)})
	return toks, nil
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z') }
func isIdentChar(c byte) bool  { return isIdentStart(c) || isDigit(c) }

// lexString reads a double-quoted string with Go escapes or a backtick
// raw string, returning its value and length in q.
func lexString(q string) (string, int, error) {
	if q[0] == '`' {
		end := strings.IndexByte(q[1:], '`')
		if end < 0 {
			return "", 0, fmt.Errorf("unterminated raw string")
		}
		return q[1 : 1+end], end + 2, nil
	}
	for j := 1; j < len(q); j++ {
		switch q[j] {
		case '\\':
			j++
		case '\n':
			return "", 0, fmt.Errorf("newline in string")
		case '"':
			s, err := strconv.Unquote(q[:j+1])
			if err != nil {
				return "", 0, fmt.Errorf("invalid string %s: %v", q[:j+1], err)
			}
			return s, j + 1, nil
		}
	}
	return "", 0, fmt.Errorf("unterminated string")
}

// lexNumber reads a number, a duration (5m, 1h30m, 250ms) or a byte size
// (20MB, 1.5KiB).
func lexNumber(q string) (token, int, error) {
	j := 0
	for j < len(q) && (isDigit(q[j]) || q[j] == '.') {
		j++
	}
	if j < len(q) && (q[j] == 'e' || q[j] == 'E') {
		k := j + 1
		if k < len(q) && (q[k] == '+' || q[k] == '-') {
			k++
		}
		if k < len(q) && isDigit(q[k]) {
			for k < len(q) && isDigit(q[k]) {
				k++
			}
			j = k
		}
	}
	if j < len(q) && isIdentStart(q[j]) {
		// A unit follows: durations may repeat number+unit (1h30m).
		k := j
		for k < len(q) && (isIdentChar(q[k]) || q[k] == '.') {
			k++
		}
		text := q[:k]
		if _, err := parseDuration(text); err == nil {
			return token{kind: tDuration, text: text}, k, nil
		}
		if _, err := parseBytes(text); err == nil {
			return token{kind: tBytes, text: text}, k, nil
		}
		return token{}, 0, fmt.Errorf("invalid number, duration or byte size %q", text)
	}
	text := q[:j]
	if _, err := strconv.ParseFloat(text, 64); err != nil {
		return token{}, 0, fmt.Errorf("invalid number %q", text)
	}
	return token{kind: tNumber, text: text}, j, nil
}
