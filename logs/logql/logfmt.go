package logql

import (
	"strconv"
	"strings"
)

// logfmtPairs calls emit with each key=value pair of a logfmt line, in
// order. Bare keys and empty values are skipped (Loki keeps them only
// with --keep-empty); malformed pieces are skipped, as Loki's non-strict
// mode does. Quoted values are unquoted with Go escapes; a value that
// does not unquote is taken as written.
func logfmtPairs(line string, emit func(key, value string)) {
	i := 0
	for i < len(line) {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		ks := i
		for i < len(line) && line[i] != '=' && line[i] != ' ' && line[i] != '\t' && line[i] != '"' {
			i++
		}
		key := line[ks:i]
		if i >= len(line) || line[i] != '=' {
			// Bare key or stray quote: skip to the next space.
			if i < len(line) && line[i] == '"' {
				i = skipQuoted(line, i)
			}
			for i < len(line) && line[i] != ' ' && line[i] != '\t' {
				i++
			}
			continue
		}
		i++ // =
		var value string
		if i < len(line) && line[i] == '"' {
			end := skipQuoted(line, i)
			raw := line[i:end]
			if v, err := strconv.Unquote(raw); err == nil {
				value = v
			} else {
				value = strings.Trim(raw, `"`)
			}
			i = end
		} else {
			vs := i
			for i < len(line) && line[i] != ' ' && line[i] != '\t' {
				i++
			}
			value = line[vs:i]
		}
		if key != "" && value != "" {
			emit(key, value)
		}
	}
}

// skipQuoted returns the index after the quoted string starting at i.
func skipQuoted(s string, i int) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(s)
}
