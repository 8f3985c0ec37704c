package logql

import (
	"strings"
	"testing"

	"github.com/vigilhq/vigil/storage/logs"
)

// FuzzParse checks that parsing never panics and that a parsed
// expression prints to a query that parses to the same expression.
func FuzzParse(f *testing.F) {
	for _, c := range queryCases {
		f.Add(c.query)
	}
	for _, q := range []string{
		`{a="b"} | json x="a[0].b", y="[\"k\"]" | logfmt | regexp "(?P<z>.)" | decolorize | drop x="1", y`,
		`quantile_over_time(0.5, ({a="b"} | unwrap bytes(x) | __error__="")[1m] offset 5m) without (c)`,
		`-1 ^ 2 % vector(3) unless on (a) label_replace(rate({a=~"x+"}[1d]), "d", "$1", "s", "(.*)")`,
		`{a="b"} | a > 1e3 and b < -2.5 or c >= 1h2m, d="x"`,
		`{a="b"}#`,
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		e, err := ParseExpr(q)
		if err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("error %T is not a *ParseError: %v", err, err)
			}
			return
		}
		s := e.String()
		e2, err := ParseExpr(s)
		if err != nil {
			t.Fatalf("String() of %q does not parse: %q: %v", q, s, err)
		}
		if s2 := e2.String(); s2 != s {
			t.Fatalf("String() not stable for %q:\n%s\n%s", q, s, s2)
		}
	})
}

// FuzzPipeline runs parsers and formatters over arbitrary lines: no
// panics, and labels stay unique names.
func FuzzPipeline(f *testing.F) {
	f.Add(`{"a":{"b":[1,2]},"c":"d\u00e9"}`)
	f.Add(`a=1 b="x y" c`)
	f.Add(`1.2.3.4 - - "GET /" 200 5`)
	f.Add("\x1b[31mred\x1b[0m")
	f.Add(`{"a":`)
	e, err := ParseExpr(`{s="x"} | json | json j="a.b[1]" | logfmt | pattern "<ip> - <_> \"<req>\" <code>" | regexp "(?P<r>[a-z]+)" | code > 100 or code=~"x.*" | label_format f="{{.a_b}}-{{__line__}}", g=r | line_format "{{.c}} {{.ip}}" | decolorize`)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line string) {
		p := newPipeline(e.(*LogExpr))
		rec := logs.Record{Stream: `{s="x"}`, Body: line, Attributes: nil}
		if !p.process(&rec) {
			return
		}
		seen := map[string]bool{}
		for _, l := range p.lbls.ls {
			if seen[l.Name] {
				t.Fatalf("duplicate label %s", l.Name)
			}
			seen[l.Name] = true
			if strings.ContainsRune(l.Name, ' ') {
				t.Fatalf("label name with space %q", l.Name)
			}
		}
	})
}

// FuzzParseStream checks the stream parser over arbitrary text and that
// canonical streams round-trip.
func FuzzParseStream(f *testing.F) {
	f.Add(`{a="1", b="2"}`, "k", "v")
	f.Add(`{"a.b"="x"}`, "a.b", "\x00")
	f.Fuzz(func(t *testing.T, s, k, v string) {
		_, _ = parseStream(s)
		if k == "" || v == "" {
			return
		}
		ls, err := parseStream(logs.StreamString(map[string]string{k: v}))
		if err != nil || len(ls) != 1 || ls[0].Name != k || ls[0].Value != v {
			t.Fatalf("round trip of %q=%q: %v %v", k, v, ls, err)
		}
	})
}
