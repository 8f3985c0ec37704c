package logql

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/grafana/regexp"
)

// tmplLine is what __line__ and __timestamp__ return while a template
// runs; the pipeline sets it before each execution.
type tmplLine struct {
	line string
	ts   time.Time
}

// templateFuncs are the functions of line_format and label_format
// templates: a subset of Loki's (which are mostly Sprig's).
func templateFuncs(cur *tmplLine) template.FuncMap {
	return template.FuncMap{
		"__line__": func() string {
			if cur == nil {
				return ""
			}
			return cur.line
		},
		"__timestamp__": func() time.Time {
			if cur == nil {
				return time.Time{}
			}
			return cur.ts
		},
		"ToUpper":    strings.ToUpper,
		"ToLower":    strings.ToLower,
		"upper":      strings.ToUpper,
		"lower":      strings.ToLower,
		"Title":      title,
		"title":      title,
		"trim":       strings.TrimSpace,
		"TrimSpace":  strings.TrimSpace,
		"trimAll":    func(cut, s string) string { return strings.Trim(s, cut) },
		"trimPrefix": func(prefix, s string) string { return strings.TrimPrefix(s, prefix) },
		"trimSuffix": func(suffix, s string) string { return strings.TrimSuffix(s, suffix) },
		"TrimPrefix": strings.TrimPrefix,
		"TrimSuffix": strings.TrimSuffix,
		"Replace":    strings.Replace,
		"replace":    func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
		"contains":   func(sub, s string) bool { return strings.Contains(s, sub) },
		"hasPrefix":  func(prefix, s string) bool { return strings.HasPrefix(s, prefix) },
		"hasSuffix":  func(suffix, s string) bool { return strings.HasSuffix(s, suffix) },
		"repeat":     func(n int, s string) string { return strings.Repeat(s, max(0, min(n, 1024))) },
		"trunc":      trunc,
		"substr":     substr,
		"default":    defaultValue,
		"printf":     safePrintf,
		"regexReplaceAll": func(re, s, repl string) (string, error) {
			r, err := regexp.Compile(re)
			if err != nil {
				return "", err
			}
			return r.ReplaceAllString(s, repl), nil
		},
		"regexReplaceAllLiteral": func(re, s, repl string) (string, error) {
			r, err := regexp.Compile(re)
			if err != nil {
				return "", err
			}
			return r.ReplaceAllLiteralString(s, repl), nil
		},
		"int":     func(v any) int { return int(toFloat(v)) },
		"float64": toFloat,
		"add":     func(a, b any) float64 { return toFloat(a) + toFloat(b) },
		"sub":     func(a, b any) float64 { return toFloat(a) - toFloat(b) },
		"mul":     func(a, b any) float64 { return toFloat(a) * toFloat(b) },
		"div":     func(a, b any) float64 { return toFloat(a) / toFloat(b) },
		"mod":     func(a, b any) float64 { return math.Mod(toFloat(a), toFloat(b)) },
		"unixEpoch": func(t time.Time) string {
			return strconv.FormatInt(t.Unix(), 10)
		},
		"date": func(layout string, t time.Time) string { return t.UTC().Format(layout) },
	}
}

func title(s string) string {
	prev := ' '
	return strings.Map(func(r rune) rune {
		defer func() { prev = r }()
		if prev == ' ' || prev == '\t' || prev == '-' || prev == '_' {
			return []rune(strings.ToUpper(string(r)))[0]
		}
		return r
	}, s)
}

func trunc(n int, s string) string {
	if n >= 0 && len(s) > n {
		return s[:n]
	}
	if n < 0 && len(s) > -n {
		return s[len(s)+n:]
	}
	return s
}

func substr(start, end int, s string) string {
	if start < 0 {
		start = 0
	}
	if end < 0 || end > len(s) {
		end = len(s)
	}
	if start > end {
		return ""
	}
	return s[start:end]
}

// defaultValue is Sprig's default: d when v is empty.
func defaultValue(d any, v ...any) any {
	if len(v) == 0 || v[0] == nil {
		return d
	}
	switch x := v[0].(type) {
	case string:
		if x == "" {
			return d
		}
	case bool:
		if !x {
			return d
		}
	case int:
		if x == 0 {
			return d
		}
	case float64:
		if x == 0 {
			return d
		}
	}
	return v[0]
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0
		}
		return f
	case bool:
		if x {
			return 1
		}
		return 0
	}
	f, _ := strconv.ParseFloat(fmt.Sprint(v), 64)
	return f
}

// newTemplate compiles a template checked at parse time, bound to cur.
func newTemplate(text string, cur *tmplLine) *template.Template {
	t, err := template.New("").Option("missingkey=zero").Funcs(templateFuncs(cur)).Parse(text)
	if err != nil {
		panic("BUG: template checked at parse time does not compile: " + err.Error())
	}
	return t
}

// safePrintf is fmt.Sprintf refusing widths and precisions above 4
// digits, so a query cannot make one line allocate gigabytes.
func safePrintf(format string, args ...any) (string, error) {
	digits := 0
	for i := 0; i < len(format); i++ {
		if isDigit(format[i]) {
			digits++
			if digits > 4 {
				return "", fmt.Errorf("printf width too large in %q", format)
			}
		} else {
			digits = 0
		}
	}
	return fmt.Sprintf(format, args...), nil
}
