package logql

import (
	"errors"
	"fmt"
	"strings"
)

// pattern is a compiled | pattern expression: literals and captures
// alternate, and no two captures are adjacent.
type pattern struct {
	parts []patPart
}

type patPart struct {
	literal string // set for literals
	capture string // set for captures; "_" is a skipped capture
}

// compilePattern reads "<ip> - <_> [<ts>] <msg>".
func compilePattern(s string) (*pattern, error) {
	p := &pattern{}
	named := 0
	for len(s) > 0 {
		if s[0] == '<' {
			end := strings.IndexByte(s, '>')
			if end > 1 && isLabelName(s[1:end]) {
				name := s[1:end]
				if n := len(p.parts); n > 0 && p.parts[n-1].capture != "" {
					return nil, errors.New("captures must be separated by literal text")
				}
				if name != "_" {
					for _, q := range p.parts {
						if q.capture == name {
							return nil, fmt.Errorf("capture <%s> is used twice", name)
						}
					}
					named++
				}
				p.parts = append(p.parts, patPart{capture: name})
				s = s[end+1:]
				continue
			}
		}
		// A literal runs to the next '<' that starts a capture.
		j := 1
		for j < len(s) {
			if s[j] == '<' {
				if end := strings.IndexByte(s[j:], '>'); end > 1 && isLabelName(s[j+1:j+end]) {
					break
				}
			}
			j++
		}
		if n := len(p.parts); n > 0 && p.parts[n-1].capture == "" {
			p.parts[n-1].literal += s[:j]
		} else {
			p.parts = append(p.parts, patPart{literal: s[:j]})
		}
		s = s[j:]
	}
	if named == 0 {
		return nil, errors.New("at least one named capture such as <name> is needed")
	}
	return p, nil
}

// match calls emit with each named capture of line; it returns false
// (and emits nothing) when the line does not match. A line matches when
// it starts with the leading literal and each later literal follows;
// text after the last literal is ignored, and a trailing capture takes
// the rest of the line.
func (p *pattern) match(line string, emit func(name, value string)) bool {
	// First pass finds the spans so that nothing is emitted on failure.
	var spans [16][2]int
	var big [][2]int
	n := 0
	pos := 0
	for i, part := range p.parts {
		if part.capture == "" {
			if i == 0 {
				if !strings.HasPrefix(line, part.literal) {
					return false
				}
				pos = len(part.literal)
			}
			continue
		}
		start, end := pos, len(line)
		if i+1 < len(p.parts) {
			lit := p.parts[i+1].literal
			k := strings.Index(line[pos:], lit)
			if k < 0 {
				return false
			}
			end = pos + k
			pos = end + len(lit)
		} else {
			pos = end
		}
		if n < len(spans) {
			spans[n] = [2]int{start, end}
		} else {
			big = append(big, [2]int{start, end})
		}
		n++
	}
	k := 0
	for _, part := range p.parts {
		if part.capture == "" {
			continue
		}
		var sp [2]int
		if k < len(spans) {
			sp = spans[k]
		} else {
			sp = big[k-len(spans)]
		}
		k++
		if part.capture != "_" {
			emit(part.capture, line[sp[0]:sp[1]])
		}
	}
	return true
}
