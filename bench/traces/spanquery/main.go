// Command spanquery times trace queries against a server that spanload
// filled: trace by id for -n ids drawn (seeded) from spanload's -ids file,
// checking each answer's span count, then -search-n searches by service
// and minimum duration, in Vigil's API or Jaeger's query API (trace by id
// as /api/traces/{id}, search as API v3's /api/v3/trace-summaries). Queries run
// one at a time, so each latency is that of a lone request.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/signal"
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
		fmt.Fprintln(os.Stderr, "spanquery:", err)
		os.Exit(1)
	}
}

// Result is what -json receives.
type Result struct {
	Target        string          `json:"target"`
	Dialect       string          `json:"dialect"`
	ByID          Latency         `json:"traceByID"`
	ByIDWrong     int             `json:"traceByIDWrongSpanCount"`
	ByIDMissing   int             `json:"traceByIDNotFound"`
	ByIDFirstDiff string          `json:"traceByIDFirstDiff,omitempty"`
	Search        Latency         `json:"search"`
	SearchTraces  int             `json:"searchTracesReturned"` // summed over the queries
	SearchEmpty   int             `json:"searchEmptyAnswers"`
	Queries       []SearchFigures `json:"searchQueries"`
}

// SearchFigures is one distinct search query's answer size.
type SearchFigures struct {
	Query  string `json:"query"`
	Traces int    `json:"traces"`
}

// Latency summarizes timed requests, in milliseconds.
type Latency = latency.Summary

func summarize(d []time.Duration, errs int) Latency { return latency.Summarize(d, errs) }

type sampled struct {
	id    string
	spans int
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("spanquery", flag.ContinueOnError)
	var (
		base     = fs.String("url", "http://127.0.0.1:9090", "server's HTTP base URL (Jaeger: its query port)")
		dialect  = fs.String("dialect", "vigil", "vigil (/api/vigil/v1/traces) or jaeger (/api/traces)")
		idsFile  = fs.String("ids", "", "spanload's -ids file")
		loadJSON = fs.String("load", "", "spanload's -json file (time range and services)")
		n        = fs.Int("n", 1000, "trace-by-id lookups")
		searchN  = fs.Int("search-n", 100, "searches")
		minDurs  = fs.String("min-durations", "100ms,250ms,500ms,1s", "minDuration values, cycled with the services")
		limit    = fs.Int("limit", 20, "traces per search")
		seed     = fs.Uint64("seed", 1, "seed for picking ids")
		name     = fs.String("name", "target", "target name for the report")
		jsonFile = fs.String("json", "", "write the figures here as JSON")
		timeout  = fs.Duration("timeout", 60*time.Second, "timeout of one query")
		maxTime  = fs.Duration("max-time", 0, "stop each phase after this long (0: no limit); the report says how many queries ran")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dialect != "vigil" && *dialect != "jaeger" {
		return fmt.Errorf("unknown -dialect %q: want vigil or jaeger", *dialect)
	}
	ids, err := readIDs(*idsFile)
	if err != nil {
		return err
	}
	var load struct {
		StartUnixNano int64    `json:"startUnixNano"`
		EndUnixNano   int64    `json:"endUnixNano"`
		Services      []string `json:"services"`
	}
	b, err := os.ReadFile(*loadJSON)
	if err != nil {
		return fmt.Errorf("cannot read -load: %w", err)
	}
	if err := json.Unmarshal(b, &load); err != nil {
		return fmt.Errorf("cannot parse %s: %w", *loadJSON, err)
	}
	client := &http.Client{Timeout: *timeout}
	res := Result{Target: *name, Dialect: *dialect}

	// Trace by id.
	rng := rand.New(rand.NewPCG(*seed, 0))
	var lat []time.Duration
	errs := 0
	deadline := func(t0 time.Time) bool { return *maxTime > 0 && time.Since(t0) > *maxTime }
	phase := time.Now()
	for i := 0; i < *n && ctx.Err() == nil && !deadline(phase); i++ {
		s := ids[rng.IntN(len(ids))]
		path := "/api/vigil/v1/traces/" + s.id
		if *dialect == "jaeger" {
			path = "/api/traces/" + s.id
		}
		t := time.Now()
		status, body, err := get(ctx, client, *base+path)
		d := time.Since(t)
		if err != nil {
			errs++
			fmt.Fprintf(os.Stderr, "spanquery: %v\n", err)
			continue
		}
		lat = append(lat, d)
		if status == http.StatusNotFound {
			res.ByIDMissing++
			continue
		}
		if status != http.StatusOK {
			errs++
			fmt.Fprintf(os.Stderr, "spanquery: %s: status %d: %.200s\n", path, status, body)
			continue
		}
		got, err := spanCount(*dialect, body)
		if err != nil {
			errs++
			fmt.Fprintf(os.Stderr, "spanquery: %s: %v\n", path, err)
			continue
		}
		if got != s.spans {
			res.ByIDWrong++
			if res.ByIDFirstDiff == "" {
				res.ByIDFirstDiff = fmt.Sprintf("trace %s: %d spans, want %d", s.id, got, s.spans)
			}
		}
	}
	res.ByID = summarize(lat, errs)

	// Search by service and minimum duration, over the whole workload.
	durs := strings.Split(*minDurs, ",")
	type query struct{ service, minDur string }
	var distinct []query
	for i := 0; i < len(load.Services)*len(durs); i++ {
		distinct = append(distinct, query{load.Services[i%len(load.Services)], durs[(i/len(load.Services))%len(durs)]})
	}
	counts := map[query]int{}
	lat, errs = nil, 0
	phase = time.Now()
	for i := 0; i < *searchN && ctx.Err() == nil && !deadline(phase); i++ {
		q := distinct[i%len(distinct)]
		v := url.Values{}
		v.Set("service", q.service)
		v.Set("minDuration", q.minDur)
		v.Set("limit", strconv.Itoa(*limit))
		path := "/api/vigil/v1/traces?"
		if *dialect == "jaeger" {
			// Jaeger v2 (2026) dropped the v1 search (/api/traces?service=);
			// its API v3 answers trace summaries, as Vigil's search does.
			path = "/api/v3/trace-summaries?"
			v = url.Values{}
			v.Set("query.serviceName", q.service)
			v.Set("query.durationMin", q.minDur)
			v.Set("query.searchDepth", strconv.Itoa(*limit))
			v.Set("query.startTimeMin", time.Unix(0, load.StartUnixNano).UTC().Format(time.RFC3339Nano))
			v.Set("query.startTimeMax", time.Unix(0, load.EndUnixNano).UTC().Format(time.RFC3339Nano))
		} else {
			v.Set("start", strconv.FormatInt(load.StartUnixNano/1e9, 10))
			v.Set("end", strconv.FormatInt(load.EndUnixNano/1e9, 10))
		}
		t := time.Now()
		status, body, err := get(ctx, client, *base+path+v.Encode())
		d := time.Since(t)
		if err != nil || status != http.StatusOK {
			errs++
			fmt.Fprintf(os.Stderr, "spanquery: search %v: status %d, %v: %.200s\n", q, status, err, body)
			continue
		}
		lat = append(lat, d)
		got, err := traceCount(*dialect, body)
		if err != nil {
			errs++
			fmt.Fprintf(os.Stderr, "spanquery: search %v: %v\n", q, err)
			continue
		}
		res.SearchTraces += got
		if got == 0 {
			res.SearchEmpty++
		}
		counts[q] = got
	}
	res.Search = summarize(lat, errs)
	for _, q := range distinct {
		if c, ok := counts[q]; ok {
			res.Queries = append(res.Queries, SearchFigures{Query: "service=" + q.service + " minDuration=" + q.minDur, Traces: c})
		}
	}

	fmt.Fprintf(stdout, "%s: trace by id: %d lookups, p50 %.2f ms, p99 %.2f ms, max %.1f ms; %d not found, %d wrong span count, %d errors\n",
		res.Target, res.ByID.N, res.ByID.P50, res.ByID.P99, res.ByID.Max, res.ByIDMissing, res.ByIDWrong, res.ByID.Errors)
	if res.ByIDFirstDiff != "" {
		fmt.Fprintf(stdout, "%s: first wrong count: %s\n", res.Target, res.ByIDFirstDiff)
	}
	fmt.Fprintf(stdout, "%s: search service+minDuration: %d queries, p50 %.2f ms, p99 %.2f ms, max %.1f ms; %d traces returned, %d empty answers, %d errors\n",
		res.Target, res.Search.N, res.Search.P50, res.Search.P99, res.Search.Max, res.SearchTraces, res.SearchEmpty, res.Search.Errors)
	if *jsonFile != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(*jsonFile, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("cannot write %s: %w", *jsonFile, err)
		}
	}
	return nil
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

func spanCount(dialect string, body []byte) (int, error) {
	if dialect == "jaeger" {
		var r struct {
			Data []struct {
				Spans []json.RawMessage `json:"spans"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return 0, err
		}
		n := 0
		for _, t := range r.Data {
			n += len(t.Spans)
		}
		return n, nil
	}
	var r struct {
		Spans []json.RawMessage `json:"spans"`
	}
	err := json.Unmarshal(body, &r)
	return len(r.Spans), err
}

func traceCount(dialect string, body []byte) (int, error) {
	var r struct {
		Result struct {
			Summaries []json.RawMessage `json:"summaries"`
		} `json:"result"`
		Summaries []json.RawMessage `json:"summaries"`
		Traces    []json.RawMessage `json:"traces"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return 0, err
	}
	if dialect == "jaeger" {
		return len(r.Summaries) + len(r.Result.Summaries), nil
	}
	return len(r.Traces), nil
}

func readIDs(path string) ([]sampled, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read -ids: %w", err)
	}
	defer f.Close()
	var out []sampled
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		id, n, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		c, err := strconv.Atoi(n)
		if err != nil {
			return nil, fmt.Errorf("cannot parse %s: %q", path, sc.Text())
		}
		out = append(out, sampled{id, c})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no trace ids in %s", path)
	}
	return out, sc.Err()
}
