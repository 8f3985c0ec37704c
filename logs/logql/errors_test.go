package logql

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestParseErrors(t *testing.T) {
	f := func(q, want string) {
		t.Helper()
		_, err := ParseExpr(q)
		if err == nil {
			t.Fatalf("ParseExpr(%q) succeeded, want error %q", q, want)
		}
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Fatalf("ParseExpr(%q) error %T is not a *ParseError", q, err)
		}
		if err.Error() != want {
			t.Fatalf("ParseExpr(%q) error\n got: %s\nwant: %s", q, err, want)
		}
	}
	f(`{app="foo"} | unpack`, `parse error at line 1, col 13: unsupported: "| unpack"`)
	f(`{app="foo"} |= "x" | distinct a`, `parse error at line 1, col 20: unsupported: "| distinct"`)
	f(`{app="foo"} | logfmt --strict`, `parse error at line 1, col 22: unsupported: "| logfmt --strict"`)
	f(`{app="foo"} |= ip("1.2.3.4")`, `parse error at line 1, col 16: unsupported: "ip()"`)
	f(`rate_counter({app="foo"}[1m])`, `parse error at line 1, col 1: unsupported: "rate_counter"`)
	f(`rate({a="b"}[1m]) / on (a) group_left rate({a="b"}[1m])`, `parse error at line 1, col 28: unsupported: "group_left"`)
	f(`{app=~".*"}`, `parse error at line 1, col 1: stream selector {app=~".*"} needs at least one matcher that does not match the empty string: app=~".*" matches it, app=~".+" and app="x" do not`)
	f(`{}`, `parse error at line 1, col 1: stream selector {} needs at least one matcher that does not match the empty string: app=~".*" matches it, app=~".+" and app="x" do not`)
	f(`{app="a"} |~ "(unclosed"`, "parse error at line 1, col 14: invalid regular expression \"(unclosed\" in line filter: error parsing regexp: missing closing ): `(unclosed`")
	f(`{app=~"[z-a]"}`, "parse error at line 1, col 7: invalid regular expression \"[z-a]\" for label app: error parsing regexp: invalid character class range: `z-a`")
	f("{app=\"a\"}\n  | regexp \"no groups\"", `parse error at line 2, col 12: regexp stage "no groups" needs at least one named capture group such as (?P<name>...)`)
	f(`sum_over_time({a="b"}[1m])`, `parse error at line 1, col 1: invalid aggregation sum_over_time without unwrap`)
	f(`count_over_time({a="b"} | unwrap x [1m])`, `parse error at line 1, col 1: invalid aggregation count_over_time with unwrap`)
	f(`count_over_time({a="b"}[1m]) by (a)`, `parse error at line 1, col 1: grouping not allowed for count_over_time aggregation`)
	f(`{a="b"}[5m]`, `parse error at line 1, col 8: a range vector must be inside a range aggregation such as count_over_time`)
	f(`{a="b"} | unwrap x`, `parse error at line 1, col 11: unwrap is only allowed inside a range aggregation such as sum_over_time`)
	f(`sum({a="b"})`, `parse error at line 1, col 5: sum needs a metric expression, not a log query; wrap it in a range aggregation such as count_over_time`)
	f(`topk(0, rate({a="b"}[1m]))`, `parse error at line 1, col 6: invalid parameter 0 for topk: must be a positive integer`)
	f(`1 > 2`, `parse error at line 1, col 3: comparisons between scalars must use bool modifier`)
	f(`{a="b"} | line_format "{{.a"`, `parse error at line 1, col 23: invalid template "{{.a" in line_format: template: :1: unclosed action`)
	f(`{a="b"} | pattern "<a><b>"`, `parse error at line 1, col 19: invalid pattern "<a><b>": captures must be separated by literal text`)
	f(`{a="b"} | json x="a..b"`, `parse error at line 1, col 16: invalid json expression "a..b": missing key after '.'`)
	f(`{a="b" |= "x"`, `parse error at line 1, col 8: unexpected "|=", expected ","`)
	f(`{a="b"} |= "x`, `parse error at line 1, col 12: unterminated string`)
	f(`count_over_time({a="b"}[0s])`, `parse error at line 1, col 25: range must be positive, got 0s`)
	f(`foo(1)`, `parse error at line 1, col 1: unexpected identifier "foo"`)
}

func TestEngineErrors(t *testing.T) {
	ctx := context.Background()
	at := t0.Add(300 * time.Second)
	eng := NewEngine(SliceSource(testRecords()), Options{MaxSeries: 2})
	_, err := eng.Query(ctx, Params{Query: `count_over_time({env="prod"}[1m])`, Start: at, End: at})
	want := "cannot evaluate query: maximum of series (2) reached for a single query; narrow the stream selector, aggregate with sum by (...) or raise Options.MaxSeries (max_query_series)"
	if err == nil || err.Error() != want {
		t.Fatalf("too many series: got %v, want %s", err, want)
	}
	// Under the limit after aggregation: fine.
	r, err := eng.Query(ctx, Params{Query: `sum by (service_name) (count_over_time({env="prod"}[1m]))`, Start: at, End: at})
	if err != nil || len(r.Data.(Vector)) != 2 {
		t.Fatalf("aggregated query: %v %v", r.Data, err)
	}
	// Range queries count series over all steps.
	_, err = eng.Query(ctx, Params{Query: `count_over_time({env="prod"}[1m])`, Start: t0, End: at, Step: time.Minute})
	if err == nil || err.Error() != want {
		t.Fatalf("too many series in range query: got %v", err)
	}
	_, err = eng.Query(ctx, Params{Query: `rate({a="b"}[1m])`, Start: t0, End: t0.Add(24 * time.Hour), Step: time.Second})
	if err == nil || err.Error() != "cannot evaluate query: 86401 steps exceed the maximum of 11000; raise the step or shorten the time range" {
		t.Fatalf("too many steps: got %v", err)
	}
	_, err = eng.Query(ctx, Params{Query: `rate({a="b"}[1m])`, Start: at, End: t0})
	if err == nil {
		t.Fatal("end before start: no error")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = eng.Query(cctx, Params{Query: `{env="prod"}`, Start: t0, End: at})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled query: got %v", err)
	}
	// Duplicate series after label_replace.
	_, err = NewEngine(SliceSource(testRecords()), Options{}).Query(ctx, Params{Query: `label_replace(sum by (service_name) (count_over_time({env="prod"}[1m])), "service_name", "x", "", "")`, Start: at, End: at})
	if err == nil || err.Error() != `cannot evaluate query: result has two series with the labels {service_name="x"}` {
		t.Fatalf("duplicate series: got %v", err)
	}
	if _, err := NewLineMatcher(`rate({a="b"}[1m])`); err == nil || err.Error() != `cannot tail "rate({a=\"b\"}[1m])": only log queries can be tailed, not metric queries` {
		t.Fatalf("tail of metric query: got %v", err)
	}
}
