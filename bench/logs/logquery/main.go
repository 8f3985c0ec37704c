// Command logquery times log queries against a store that logload
// filled, in Vigil's LogQL (the Loki API) or VictoriaLogs' LogsQL, and
// checks every answer against the counts logload wrote to its -json file:
//
//   - needle: the lines containing "rare-token" over the whole stored
//     range, limit 1000. Vigil: {service_name=~".+"} |= "rare-token" (a
//     substring match); VictoriaLogs: the phrase filter "rare-token"
//     (word-bounded; the planted lines carry it as a whole phrase, so both
//     find the same lines).
//   - count-by-level: lines per level over the whole range in 5-minute
//     steps. Vigil: sum by (level) (count_over_time({service_name=~".+"}[5m]));
//     VictoriaLogs: * | stats by (level) count() on stats_query_range.
//     The per-level sums over all steps must equal the lines sent.
//   - focus: the typical UI query, one service and level with a word
//     filter, limit 100 (the answer must be min(100, matching lines)).
//
// Each query runs once untimed (a warm-up whose answer is checked too),
// then -n times, one at a time, or until -max-time has passed (at least
// once). A wrong answer is an error: the figures
// are still written, and logquery exits non-zero.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigilhq/vigil/bench/latency"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "logquery:", err)
		os.Exit(1)
	}
}

// Load is the part of logload's -json file the queries need.
type Load struct {
	StartUnixNano int64          `json:"startUnixNano"`
	EndUnixNano   int64          `json:"endUnixNano"`
	Needle        string         `json:"needle"`
	NeedleLines   int            `json:"needleLines"`
	PerLevel      map[string]int `json:"perLevel"`
	Focus         struct {
		Service string `json:"service"`
		Level   string `json:"level"`
		Word    string `json:"word"`
		Lines   int    `json:"lines"`
	} `json:"focus"`
}

// Result is what -json receives.
type Result struct {
	Target  string        `json:"target"`
	Dialect string        `json:"dialect"`
	Queries []QueryResult `json:"queries"`
	Wrong   int           `json:"wrongAnswers"`
}

// QueryResult is one query's latencies and answer.
type QueryResult struct {
	Name    string         `json:"name"`
	Query   string         `json:"query"`
	Latency Latency        `json:"latency"`
	Lines   int            `json:"lines,omitempty"`     // log lines returned
	Counts  map[string]int `json:"counts,omitempty"`    // per level, summed over steps
	Want    string         `json:"want"`                // the expected answer
	Wrong   int            `json:"wrongAnswers"`        // answers that differed from Want
	Diff    string         `json:"firstDiff,omitempty"` // the first of them
}

// Latency summarizes timed requests, in milliseconds.
type Latency = latency.Summary

func summarize(d []time.Duration, errs int) Latency { return latency.Summarize(d, errs) }

// query is one benchmark query in one dialect: the request to send and
// how to check its answer.
type query struct {
	name  string
	text  string // the query as the dialect writes it
	path  string // path and parameters
	want  string
	check func(body []byte) (lines int, counts map[string]int, diff string)
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("logquery", flag.ContinueOnError)
	var (
		base     = fs.String("url", "http://127.0.0.1:9090", "server's HTTP base URL")
		dialect  = fs.String("dialect", "vigil", "vigil (the Loki API, LogQL) or vlogs (VictoriaLogs' LogsQL API)")
		loadJSON = fs.String("load", "", "logload's -json file (time range and expected counts)")
		n        = fs.Int("n", 20, "timed runs of each query, after one warm-up")
		format   = fs.String("format", "jsonline", "how logload sent the lines: jsonline or otlp (VictoriaLogs names the fields differently)")
		only     = fs.String("queries", "needle,count-by-level,focus", "queries to run, comma-separated")
		name     = fs.String("name", "target", "target name for the report")
		jsonFile = fs.String("json", "", "write the figures here as JSON")
		timeout  = fs.Duration("timeout", 600*time.Second, "timeout of one query")
		maxTime  = fs.Duration("max-time", 0, "stop a query's timed runs after this long (0: no limit); the report says how many ran")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dialect != "vigil" && *dialect != "vlogs" {
		return fmt.Errorf("unknown -dialect %q: want vigil or vlogs", *dialect)
	}
	b, err := os.ReadFile(*loadJSON)
	if err != nil {
		return fmt.Errorf("cannot read -load: %w", err)
	}
	var load Load
	if err := json.Unmarshal(b, &load); err != nil {
		return fmt.Errorf("cannot parse %s: %w", *loadJSON, err)
	}
	if load.Needle == "" || len(load.PerLevel) == 0 {
		return fmt.Errorf("cannot use %s: it has no needle or per-level counts (was it written by logload -json?)", *loadJSON)
	}
	if *format != "jsonline" && *format != "otlp" {
		return fmt.Errorf("unknown -format %q: want jsonline or otlp", *format)
	}
	qs := queries(*dialect, *format, load)
	client := &http.Client{Timeout: *timeout}
	res := Result{Target: *name, Dialect: *dialect}
	for _, q := range qs {
		if !slices.Contains(strings.Split(*only, ","), q.name) {
			continue
		}
		qr := QueryResult{Name: q.name, Query: q.text, Want: q.want}
		var lat []time.Duration
		errs := 0
		phase := time.Now()
		for i := 0; i <= *n && ctx.Err() == nil; i++ {
			if i > 1 && *maxTime > 0 && time.Since(phase) > *maxTime {
				break
			}
			t := time.Now()
			status, body, err := get(ctx, client, *base+q.path)
			d := time.Since(t)
			if err != nil || status != http.StatusOK {
				errs++
				fmt.Fprintf(os.Stderr, "logquery: %s: status %d, %v: %.300s\n", q.name, status, err, body)
				continue
			}
			if i > 0 {
				lat = append(lat, d)
			}
			lines, counts, diff := q.check(body)
			qr.Lines, qr.Counts = lines, counts
			if diff != "" {
				qr.Wrong++
				if qr.Diff == "" {
					qr.Diff = diff
				}
			}
		}
		qr.Latency = summarize(lat, errs)
		res.Wrong += qr.Wrong
		res.Queries = append(res.Queries, qr)
		fmt.Fprintf(stdout, "%s: %s: %d runs, p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms; %d errors, %d wrong answers\n",
			res.Target, q.name, qr.Latency.N, qr.Latency.P50, qr.Latency.P90, qr.Latency.P99, qr.Latency.Max, errs, qr.Wrong)
		if qr.Diff != "" {
			fmt.Fprintf(stdout, "%s: %s: WRONG ANSWER: %s\n", res.Target, q.name, qr.Diff)
		}
	}
	if *jsonFile != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(*jsonFile, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("cannot write %s: %w", *jsonFile, err)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if res.Wrong > 0 {
		return fmt.Errorf("%d wrong answers from %s", res.Wrong, res.Target)
	}
	for _, q := range res.Queries {
		if q.Latency.Errors > 0 {
			return fmt.Errorf("%d failed %s queries on %s", q.Latency.Errors, q.Name, res.Target)
		}
	}
	return nil
}

// queries builds the benchmark queries for a dialect and the format the
// lines were sent in. Vigil derives the same service_name and level
// labels from both formats; VictoriaLogs keeps the JSON fields (service
// and level, the stream fields) or OTLP's (service.name, severity_text).
func queries(dialect, format string, load Load) []query {
	start, end := time.Unix(0, load.StartUnixNano), time.Unix(0, load.EndUnixNano)
	wantLines := func(want int) func([]byte) (int, map[string]int, string) {
		return func(body []byte) (int, map[string]int, string) {
			msgs, err := parseLines(dialect, body)
			if err != nil {
				return 0, nil, err.Error()
			}
			if len(msgs) != want {
				return len(msgs), nil, fmt.Sprintf("%d lines, want %d", len(msgs), want)
			}
			return len(msgs), nil, ""
		}
	}
	needleCheck := wantLines(min(load.NeedleLines, 1000))
	needle := func(body []byte) (int, map[string]int, string) {
		n, _, diff := needleCheck(body)
		if diff != "" {
			return n, nil, diff
		}
		msgs, _ := parseLines(dialect, body)
		for _, m := range msgs {
			if !strings.Contains(m, load.Needle) {
				return n, nil, fmt.Sprintf("line %q has no %q", m, load.Needle)
			}
		}
		return n, nil, ""
	}
	levelField := "level"
	if dialect == "vlogs" && format == "otlp" {
		levelField = "severity_text"
	}
	countCheck := func(body []byte) (int, map[string]int, string) {
		got, err := parseMatrix(body, levelField)
		if err != nil {
			return 0, nil, err.Error()
		}
		if !maps.Equal(got, load.PerLevel) {
			return 0, got, fmt.Sprintf("lines per level %v, want %v", got, load.PerLevel)
		}
		return 0, got, ""
	}
	f := load.Focus
	wantFocus := min(f.Lines, 100)
	perLevel, _ := json.Marshal(load.PerLevel)

	v := url.Values{}
	if dialect == "vigil" {
		ns := func(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) }
		needleQ := fmt.Sprintf(`{service_name=~".+"} |= %q`, load.Needle)
		countQ := `sum by (level) (count_over_time({service_name=~".+"}[5m]))`
		focusQ := fmt.Sprintf(`{service_name=%q, level=%q} |= %q`, f.Service, f.Level, f.Word)
		mk := func(q string, extra ...string) string {
			v = url.Values{"query": {q}, "start": {ns(start)}, "end": {ns(end)}}
			for i := 0; i+1 < len(extra); i += 2 {
				v.Set(extra[i], extra[i+1])
			}
			return "/loki/api/v1/query_range?" + v.Encode()
		}
		return []query{
			{"needle", needleQ, mk(needleQ, "limit", "1000"), fmt.Sprintf("%d lines", min(load.NeedleLines, 1000)), needle},
			{"count-by-level", countQ, mk(countQ, "step", "300"), string(perLevel), countCheck},
			{"focus", focusQ, mk(focusQ, "limit", "100"), fmt.Sprintf("%d lines", wantFocus), wantLines(wantFocus)},
		}
	}
	rfc := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	needleQ := strconv.Quote(load.Needle)
	countQ := fmt.Sprintf(`* | stats by (%s) count()`, levelField)
	focusQ := fmt.Sprintf(`_stream:{service=%q,level=%q} %s`, f.Service, f.Level, f.Word)
	if format == "otlp" {
		focusQ = fmt.Sprintf(`_stream:{service.name=%q} severity_text:=%q %s`, f.Service, f.Level, f.Word)
	}
	mk := func(path, q string, extra ...string) string {
		v = url.Values{"query": {q}, "start": {rfc(start)}, "end": {rfc(end)}}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		return path + "?" + v.Encode()
	}
	return []query{
		{"needle", needleQ, mk("/select/logsql/query", needleQ, "limit", "1000"), fmt.Sprintf("%d lines", min(load.NeedleLines, 1000)), needle},
		{"count-by-level", countQ, mk("/select/logsql/stats_query_range", countQ, "step", "5m"), string(perLevel), countCheck},
		{"focus", focusQ, mk("/select/logsql/query", focusQ, "limit", "100"), fmt.Sprintf("%d lines", wantFocus), wantLines(wantFocus)},
	}
}

// parseLines returns the messages of a log query's answer: Vigil's Loki
// streams (data.result[].values[][1]) or VictoriaLogs' JSON lines (_msg).
func parseLines(dialect string, body []byte) ([]string, error) {
	if dialect == "vigil" {
		var r struct {
			Status string `json:"status"`
			Data   struct {
				ResultType string `json:"resultType"`
				Result     []struct {
					Values [][2]string `json:"values"`
				} `json:"result"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, fmt.Errorf("cannot parse the answer: %w", err)
		}
		if r.Status != "success" || r.Data.ResultType != "streams" {
			return nil, fmt.Errorf("cannot use the answer: status %q, result type %q, want success and streams", r.Status, r.Data.ResultType)
		}
		out := []string{}
		for _, s := range r.Data.Result {
			for _, v := range s.Values {
				out = append(out, v[1])
			}
		}
		return out, nil
	}
	out := []string{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var r struct {
			Msg *string `json:"_msg"`
		}
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, fmt.Errorf("cannot parse an answer line %.100q: %w", line, err)
		}
		if r.Msg == nil {
			return nil, fmt.Errorf("cannot use the answer line %.100q: it has no _msg", line)
		}
		out = append(out, *r.Msg)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cannot read the answer: %w", err)
	}
	return out, nil
}

// parseMatrix sums a Prometheus-style matrix answer (both Vigil and
// VictoriaLogs' stats_query_range answer so) over its steps, per value of
// the label by.
func parseMatrix(body []byte, by string) (map[string]int, error) {
	var r struct {
		Status string `json:"status"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Values [][2]any          `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("cannot parse the answer: %w", err)
	}
	if r.Status != "success" || r.Data.ResultType != "matrix" {
		return nil, fmt.Errorf("cannot use the answer: status %q, result type %q, want success and matrix", r.Status, r.Data.ResultType)
	}
	out := map[string]int{}
	for _, s := range r.Data.Result {
		key := s.Metric[by]
		for _, p := range s.Values {
			str, ok := p[1].(string)
			if !ok {
				return nil, fmt.Errorf("cannot use the answer: value %v of %s=%q is not a string", p[1], by, key)
			}
			f, err := strconv.ParseFloat(str, 64)
			if err != nil || f < 0 || f > 1e15 || f != math.Trunc(f) {
				return nil, fmt.Errorf("cannot use the answer: value %q of %s=%q is not a count", str, by, key)
			}
			if out[key] > math.MaxInt64-int(f) {
				return nil, fmt.Errorf("cannot use the answer: the counts of %s=%q overflow", by, key)
			}
			out[key] += int(f)
		}
	}
	return out, nil
}

func get(ctx context.Context, c *http.Client, u string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}
