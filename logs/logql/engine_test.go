package logql

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/storage/logs"
)

var update = flag.Bool("update", false, "rewrite testdata/queries.golden")

type queryCase struct {
	name  string
	query string
	// kind: "logs" (t0..t0+605s), "range" (t0+60s..t0+600s step 60s) or
	// "instant" (at t0+300s).
	kind      string
	limit     int
	direction Direction
}

var queryCases = []queryCase{
	// Log queries: selectors and line filters.
	{name: "selector equality, limit, newest first", query: `{service_name="api", level="error"}`, kind: "logs", limit: 3},
	{name: "forward direction", query: `{service_name="api", level="error"}`, kind: "logs", limit: 2, direction: Forward},
	{name: "regex and negative matchers", query: `{service_name=~"w.*", level!="info", env!~"dev|test"} |= "duration=500ms"`, kind: "logs", limit: 4},
	{name: "line filters chained", query: `{service_name="web"} |= "404" != "1520" |~ "/p[02]" !~ "p2 "`, kind: "logs"},
	{name: "line filter or", query: `{service_name="web"} |= "10.0.0.1 " or " 404 " |~ "/p[03] "`, kind: "logs"},
	{name: "negative line filter or", query: `{service_name="extra"} != "login" or "alert"`, kind: "logs"},
	{name: "backtick and escapes", query: "{service_name=\"extra\"} |= `{not` |= \"\\x7bnot\"", kind: "logs"},
	{name: "comment", query: "{service_name=\"extra\"} # only the login\n|= \"login\"", kind: "logs"},
	// Structured metadata.
	{name: "trace id filter", query: `{service_name="api"} | trace_id="ab00000000000000000000000000000c"`, kind: "logs"},
	{name: "attribute labels sanitised", query: `{service_name="extra"} | _1bad_key="v" or component="auth"`, kind: "logs"},
	{name: "detected_level unknown", query: `{env="dev"} | detected_level="unknown" |= "404"`, kind: "logs", limit: 2},
	// Parsers.
	{name: "json all fields", query: `{service_name="api", level="error"} | json | user_id="0"`, kind: "logs"},
	{name: "json expressions", query: `{service_name="api"} | json m="method", uid="user.id", tag="tags[0]", u="user", s="status" | s=500 | uid=~"[0-2]"`, kind: "logs", limit: 2},
	{name: "json on ingest-parsed record is a no-op", query: `{service_name="extra"} |= "login" | json id="user.id"`, kind: "logs"},
	{name: "json parser error", query: `{service_name="extra"} |= "{not" | json`, kind: "logs"},
	{name: "json errors filtered", query: `{service_name="extra"} | json | __error__=""`, kind: "logs"},
	{name: "logfmt", query: `{service_name="worker"} | logfmt | attempt="1" | level="warn"`, kind: "logs", limit: 2},
	{name: "logfmt extraction", query: `{service_name="worker"} | logfmt a="attempt", job | a="0" | keep a, job`, kind: "logs", limit: 2},
	{name: "regexp", query: `{service_name="web"} | regexp "^(?P<ip>\\S+) .* (?P<code>\\d+) (?P<size>\\d+)$" | code="404" | size > 1500 | keep ip, code, size`, kind: "logs"},
	{name: "pattern", query: `{service_name="web"} | pattern "<ip> - - \"<method> <path> <_>\" <code> <size>" | path="/p0" | code=404 | drop service_name, env, detected_level`, kind: "logs"},
	// Label filters.
	{name: "numeric filters and or", query: `{service_name="worker"} | logfmt | (attempt >= 2 and attempt != 3) or attempt < 1 | keep attempt`, kind: "logs", limit: 2},
	{name: "duration filter", query: `{service_name="worker"} | logfmt | duration > 850ms | keep duration`, kind: "logs", limit: 2},
	{name: "bytes filter", query: `{service_name="worker"} | logfmt | size >= 196KB, size < 200000B | keep size`, kind: "logs"},
	{name: "label filter error", query: `{service_name="worker"} | logfmt | msg > 1 | keep msg, __error__`, kind: "logs", limit: 1},
	{name: "extracted suffix", query: `{service_name="worker"} | logfmt | level_extracted="warn" | keep level, level_extracted`, kind: "logs", limit: 1},
	// Formatting.
	{name: "line_format", query: `{service_name="api", level="error"} | json | line_format "{{.method | ToLower}} {{ .path | ToUpper }} {{.status}} {{ printf \"%05d\" (int .user_id) }} {{ default \"none\" .missing }} {{ trim \" x \" }}"`, kind: "logs", limit: 2},
	{name: "line_format line and timestamp", query: "{service_name=\"extra\"} |= \"login\" | line_format `[{{ __timestamp__ | unixEpoch }}] {{ __line__ }}`", kind: "logs"},
	{name: "filter after line_format", query: `{service_name="web"} | line_format "x{{.env}}" |= "xdev" | keep env`, kind: "logs", limit: 1},
	{name: "label_format", query: `{service_name="worker", level="warn"} | logfmt | label_format j=job, who="{{.job}}-{{.attempt}}" | keep j, who, job`, kind: "logs", limit: 1},
	{name: "drop with matcher", query: `{service_name="worker"} | drop level="info", env, host_name, k8s_pod_name`, kind: "logs", limit: 3},
	{name: "decolorize", query: `{service_name="extra"} |= "alert" | decolorize`, kind: "logs"},

	// Metric queries.
	{name: "count_over_time by stream", query: `count_over_time({service_name="api"}[1m])`, kind: "instant"},
	{name: "rate range query", query: `sum by (level) (rate({service_name="worker"}[2m]))`, kind: "range"},
	{name: "bytes_over_time", query: `bytes_over_time({service_name="web"} |= "404" [5m])`, kind: "instant"},
	{name: "bytes_rate", query: `sum(bytes_rate({service_name="web"} |= "404" [5m]))`, kind: "instant"},
	{name: "absent_over_time", query: `absent_over_time({service_name="api", level="debug"}[1m])`, kind: "instant"},
	{name: "absent_over_time present", query: `absent_over_time({service_name="api"}[1m])`, kind: "instant"},
	{name: "sum_over_time unwrap", query: `sum by (env) (sum_over_time({service_name="worker"} | logfmt | unwrap attempt [1m]))`, kind: "range"},
	{name: "avg_over_time grouped", query: `avg_over_time({service_name="worker"} | logfmt | unwrap attempt [5m]) by (level)`, kind: "instant"},
	{name: "min max first last", query: `max_over_time({service_name="worker"} | logfmt | unwrap duration(duration) [1m]) by (k8s_pod_name) - min_over_time({service_name="worker"} | logfmt | unwrap duration_seconds(duration) [1m]) by (k8s_pod_name)`, kind: "instant"},
	{name: "first and last", query: `first_over_time({service_name="worker"} | logfmt | unwrap attempt [1m]) by (env) * 10 + last_over_time({service_name="worker"} | logfmt | unwrap attempt [1m]) by (env)`, kind: "instant"},
	{name: "stddev stdvar", query: `stdvar_over_time({service_name="worker"} | logfmt | unwrap attempt [1m]) by (env) + stddev_over_time({service_name="worker"} | logfmt | unwrap attempt [1m]) by (env)`, kind: "instant"},
	{name: "quantile_over_time", query: `quantile_over_time(0.5, {service_name="worker"} | logfmt | unwrap bytes(size) [1m]) by (env)`, kind: "instant"},
	{name: "rate over unwrap", query: `rate({service_name="worker"} | logfmt | unwrap attempt [1m]) by (env)`, kind: "instant"},
	{name: "unwrap errors filtered", query: `sum(sum_over_time({service_name="worker"} | logfmt | unwrap msg | __error__="" [1m]))`, kind: "instant"},
	{name: "offset", query: `count_over_time({service_name="web"}[1m] offset 2m)`, kind: "instant"},
	{name: "vector aggregations", query: `sum(count_over_time({env="prod"}[1m])) + count(count_over_time({env="prod"}[1m])) * 1000`, kind: "instant"},
	{name: "avg min max", query: `avg(count_over_time({env="prod"}[1m])) * 10000 + min(count_over_time({env="prod"}[1m])) * 100 + max(count_over_time({env="prod"}[1m]))`, kind: "instant"},
	{name: "stddev stdvar vector", query: `stdvar without (level, trace_id, span_id) (count_over_time({service_name="api"}[3m])) + stddev without (level, trace_id, span_id) (count_over_time({service_name="api"}[3m]))`, kind: "instant"},
	{name: "topk bottomk", query: `topk(2, count_over_time({env="prod"}[1m])) or bottomk(1, count_over_time({env="prod"}[1m]))`, kind: "instant"},
	{name: "topk by", query: `topk by (service_name) (1, count_over_time({env="prod"}[1m]))`, kind: "instant"},
	{name: "sort_desc", query: `sort_desc(count_over_time({env="prod"}[1m]))`, kind: "instant"},
	{name: "sort", query: `sort(count_over_time({env="prod"}[1m]))`, kind: "instant"},
	{name: "grouping after body", query: `sum(count_over_time({env="prod"}[1m])) by (service_name)`, kind: "instant"},
	{name: "without", query: `sum without (level, env) (count_over_time({env="prod"}[1m]))`, kind: "instant"},
	{name: "vector scalar comparison", query: `count_over_time({env="prod"}[1m]) > 2`, kind: "instant"},
	{name: "scalar vector comparison bool", query: `4 < bool count_over_time({env="prod"}[1m])`, kind: "instant"},
	{name: "vector vector on", query: `sum by (service_name) (count_over_time({env="prod"}[2m])) / on (service_name) sum by (service_name, env) (count_over_time({env="prod"}[1m]))`, kind: "instant"},
	{name: "vector vector ignoring", query: `count_over_time({service_name="api"}[2m]) - ignoring (level) count_over_time({service_name="api", level="info"}[1m])`, kind: "instant"},
	{name: "and unless", query: `(count_over_time({env="prod"}[1m]) and count_over_time({level="warn"}[1m])) or (count_over_time({env="prod"}[1m]) unless count_over_time({service_name="worker"}[1m])) * 0`, kind: "instant"},
	{name: "arithmetic", query: `(1 + 2) * 3 - 4 / 2 + 7 % 4 + 2 ^ 3 ^ 2 / 64`, kind: "instant"},
	{name: "scalar comparison bool", query: `2 >= bool 1`, kind: "instant"},
	{name: "scalar in range query", query: `3`, kind: "range"},
	{name: "vector(0)", query: `sum(count_over_time({service_name="api", level="debug"}[1m])) or vector(0)`, kind: "range"},
	{name: "label_replace", query: `label_replace(sum by (service_name) (count_over_time({env="prod"}[1m])), "svc", "s-$1", "service_name", "(a.*)")`, kind: "instant"},
	{name: "metric json pipeline", query: `sum by (status) (count_over_time({service_name="api"} | json | __error__="" [10m]))`, kind: "instant"},
	{name: "metric with parse errors", query: `count_over_time({service_name="extra"} | json [10m])`, kind: "late"},
	{name: "unwrap conversion error", query: `sum_over_time({service_name="worker"} | logfmt | unwrap msg [1m])`, kind: "instant"},
	{name: "json parse errors filtered in metric", query: `sum by (detected_level) (count_over_time({service_name="extra"} | json | __error__!="JSONParserErr" [10m]))`, kind: "late"},
	{name: "range before pipeline", query: `count_over_time({service_name="web"}[1m] |= "404")`, kind: "instant"},
}

func render(r Result, err error) string {
	if err != nil {
		return "error: " + err.Error() + "\n"
	}
	var b strings.Builder
	sec := func(ms int64) string {
		return strconv.FormatFloat(float64(ms-t0.UnixMilli())/1000, 'f', -1, 64)
	}
	switch d := r.Data.(type) {
	case Streams:
		for _, s := range d {
			fmt.Fprintf(&b, "%s\n", s.Labels)
			for _, e := range s.Entries {
				fmt.Fprintf(&b, "  %s %q\n", e.Time.Sub(t0), e.Line)
			}
		}
	case Matrix:
		for _, s := range d {
			fmt.Fprintf(&b, "%s\n", s.Metric)
			for _, p := range s.Points {
				fmt.Fprintf(&b, "  %s: %s\n", sec(p.T), formatFloat(p.V))
			}
		}
	case Vector:
		for _, s := range d {
			fmt.Fprintf(&b, "%s @%s: %s\n", s.Metric, sec(s.T), formatFloat(s.V))
		}
	case Scalar:
		fmt.Fprintf(&b, "scalar @%s: %s\n", sec(d.T), formatFloat(d.V))
	}
	if b.Len() == 0 {
		return "(empty)\n"
	}
	return b.String()
}

func runCase(t *testing.T, eng *Engine, c queryCase) (Result, error) {
	t.Helper()
	p := Params{Query: c.query, Limit: c.limit, Direction: c.direction}
	switch c.kind {
	case "logs":
		p.Start, p.End = t0, t0.Add(605*time.Second)
	case "range":
		p.Start, p.End, p.Step = t0.Add(60*time.Second), t0.Add(600*time.Second), 60*time.Second
	case "instant":
		p.Start, p.End = t0.Add(300*time.Second), t0.Add(300*time.Second)
	case "late":
		p.Start, p.End = t0.Add(605*time.Second), t0.Add(605*time.Second)
	default:
		t.Fatalf("bad kind %q", c.kind)
	}
	return eng.Query(context.Background(), p)
}

// TestQueries runs every case over the data set and compares with
// testdata/queries.golden (go test -run TestQueries -update rewrites
// it; review the diff).
func TestQueries(t *testing.T) {
	eng := NewEngine(SliceSource(testRecords()), Options{})
	var b strings.Builder
	for _, c := range queryCases {
		r, err := runCase(t, eng, c)
		fmt.Fprintf(&b, "### %s\n%s [%s]\n%s\n", c.name, c.query, c.kind, render(r, err))
	}
	const path = "testdata/queries.golden"
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("cannot read golden file (run with -update): %v", err)
	}
	got := b.String()
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := 0; i < max(len(gl), len(wl)); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("result differs from %s at line %d:\n got: %s\nwant: %s", path, i+1, g, w)
			}
		}
	}
}

// lightSource is a SliceSource that strips what Selection.Light says the
// engine does not need, as the event store does, so the short way of
// grouping is shown to give the long way's answers.
type lightSource struct {
	SliceSource
	lightened *int
}

func (s lightSource) Select(ctx context.Context, sel Selection, fn func(*logs.Record) bool) error {
	return s.SliceSource.Select(ctx, sel, func(r *logs.Record) bool {
		if sel.Light == nil || !sel.Light(r.Stream) {
			return fn(r)
		}
		*s.lightened++
		light := logs.Record{Stream: r.Stream, Time: r.Time, SeverityNumber: r.SeverityNumber}
		if sel.LightBody {
			light.Body = r.Body
		}
		return fn(&light)
	})
}

func TestLightGroupingMatchesFull(t *testing.T) {
	n := 0
	full := NewEngine(SliceSource(testRecords()), Options{})
	light := NewEngine(lightSource{SliceSource(testRecords()), &n}, Options{})
	for _, q := range []string{
		`sum by (level) (count_over_time({service_name=~".+"}[1m]))`,
		`sum by (service_name, detected_level) (rate({service_name=~".+"}[2m]))`,
		`sum by (detected_level) (bytes_over_time({service_name=~"api|web"}[1m]))`,
		`sum by (level, env) (count_over_time({service_name=~".+"}[1m]))`,
		// k8s_pod_name is structured metadata of worker lines: those
		// streams must take the long way.
		`sum by (k8s_pod_name) (count_over_time({service_name=~".+"}[1m]))`,
		`max by (service_name) (count_over_time({service_name=~".+"}[1m]))`,
	} {
		c := queryCase{name: q, query: q, kind: "range"}
		want := render(runCase(t, full, c))
		got := render(runCase(t, light, c))
		if got != want {
			t.Errorf("%s: light\n%s\nfull\n%s", q, got, want)
		}
		if want == "(empty)\n" {
			t.Errorf("%s: no result, the comparison shows nothing", q)
		}
	}
	if n == 0 {
		t.Fatal("no record was read light: the short way was never taken")
	}
}
