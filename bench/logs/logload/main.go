// Command logload sends a deterministic workload of structured log lines
// to a log store over HTTP, in requests of -batch lines from -concurrency
// senders, and prints the rate it achieved.
//
// The lines are structlog-style JSON objects from 20 services: an RFC 3339
// timestamp, a level (70% info, 15% debug, 10% warn, 5% error), the
// service, an event text from 200 templates filled with ids, numbers and
// words, order and user ids, an amount, a duration, a trace id on half
// the lines, and HTTP method, path and status; about 300 bytes a line.
// Line times are spread evenly over -window ending at -end. Line
// k*1,000,000+123,457 carries "rare-token-<k>" in its event text and no
// other line contains "rare-token", so a needle search has a known answer.
//
// By default every request is a JSON-lines body for
// /insert/jsonline?_stream_fields=service,level&_msg_field=event&_time_field=timestamp,
// the path and parameters both VictoriaLogs and Vigil take. With -otlp the
// same lines are sent as OTLP/HTTP protobuf logs requests (service.name
// and host.name resource attributes, the event as the body, the level as
// the severity) to -path, /v1/logs by default.
//
// Every request is generated and encoded before the clock starts and sent
// as pre-encoded bytes, so the sender's own CPU stays out of the server's
// way. -cache keeps the encoded requests in a file for the next run. The
// time range, the needle count and the lines per level go to -json with
// the figures, for logquery to check the answers against.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "logload:", err)
		os.Exit(1)
	}
}

// Result is what -json receives.
type Result struct {
	Target        string         `json:"target"`
	Format        string         `json:"format"` // jsonline or otlp
	Lines         int            `json:"lines"`
	Requests      int            `json:"requests"`
	RequestBytes  int64          `json:"requestBytes"` // as sent (gzipped with -gzip)
	RawBytes      int64          `json:"rawBytes"`     // JSON lines, newlines included, before gzip
	Failed        int            `json:"failedRequests"`
	WallSeconds   float64        `json:"wallSeconds"`
	LinesPerSec   float64        `json:"linesPerSecond"`
	LatencyP50Ms  float64        `json:"requestLatencyP50Ms"`
	LatencyP99Ms  float64        `json:"requestLatencyP99Ms"`
	StartUnixNano int64          `json:"startUnixNano"` // the first line's time is at or after this
	EndUnixNano   int64          `json:"endUnixNano"`   // every line's time is before this
	Needle        string         `json:"needle"`
	NeedleLines   int            `json:"needleLines"`
	PerLevel      map[string]int `json:"perLevel"`
	Focus         Focus          `json:"focus"`
	Services      []string       `json:"services"`
	FirstError    string         `json:"firstError,omitempty"`
}

// Focus is the typical UI query and its number of matching lines.
type Focus struct {
	Service string `json:"service"`
	Level   string `json:"level"`
	Word    string `json:"word"`
	Lines   int    `json:"lines"`
}

const defaultJSONPath = "/insert/jsonline?_stream_fields=service,level&_msg_field=event&_time_field=timestamp"

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("logload", flag.ContinueOnError)
	var (
		base     = fs.String("url", "http://127.0.0.1:9090", "target's base URL")
		path     = fs.String("path", "", "request path and query; default "+defaultJSONPath+", with -otlp /v1/logs")
		otlp     = fs.Bool("otlp", false, "send OTLP/HTTP protobuf logs requests instead of JSON lines")
		gz       = fs.Bool("gzip", true, "gzip request bodies (Content-Encoding: gzip)")
		nLines   = fs.Int("lines", 1_000_000, "lines to send")
		batch    = fs.Int("batch", 1000, "lines per request")
		conc     = fs.Int("concurrency", 4, "concurrent senders")
		seed     = fs.Uint64("seed", 1, "workload seed")
		end      = fs.Int64("end", 0, "Unix seconds every line is before; 0: now (set it to reuse -cache)")
		window   = fs.Duration("window", 6*time.Hour, "line times are spread over this much time before -end")
		cache    = fs.String("cache", "", "file keeping the encoded requests; reused when its workload matches")
		jsonFile = fs.String("json", "", "write the figures here as JSON")
		target   = fs.String("name", "target", "target name for the report")
		genOnly  = fs.Bool("generate-only", false, "only generate (and cache) the requests")
		timeout  = fs.Duration("timeout", 60*time.Second, "timeout of one request")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *nLines <= 0 || *batch <= 0 || *conc <= 0 || *window <= 0 {
		return fmt.Errorf("cannot run: -lines, -batch, -concurrency and -window must be positive")
	}
	if *end == 0 {
		*end = time.Now().Unix()
	}
	if *path == "" {
		*path = defaultJSONPath
		if *otlp {
			*path = "/v1/logs"
		}
	}
	w := Workload{Lines: *nLines, BatchSize: *batch, Seed: *seed, End: time.Unix(*end, 0), Window: *window, OTLP: *otlp, Gzip: *gz}

	t0 := time.Now()
	reqs, counts, fromCache, err := load(w, *cache)
	if err != nil {
		return err
	}
	var reqBytes int64
	for _, r := range reqs {
		reqBytes += int64(len(r.body))
	}
	how := "generated"
	if fromCache {
		how = "read from " + *cache
	}
	fmt.Fprintf(os.Stderr, "logload: %d lines in %d requests (%.1f MB, %.0f bytes/line as sent) %s in %s\n",
		w.Lines, len(reqs), float64(reqBytes)/1e6, float64(reqBytes)/float64(w.Lines), how, time.Since(t0).Round(time.Millisecond))
	if *genOnly {
		return nil
	}

	contentType := "application/x-ndjson"
	if w.OTLP {
		contentType = "application/x-protobuf"
	}
	res, err := send(ctx, *base+*path, contentType, w.Gzip, reqs, *conc, *timeout)
	if err != nil {
		return err
	}
	res.Target = *target
	res.Format = "jsonline"
	if w.OTLP {
		res.Format = "otlp"
	}
	res.Lines = w.Lines
	res.LinesPerSec = float64(w.Lines) / res.WallSeconds
	res.RequestBytes = reqBytes
	for _, r := range reqs {
		res.RawBytes += r.raw
	}
	res.StartUnixNano = w.Start().UnixNano()
	res.EndUnixNano = w.End.UnixNano()
	res.Needle = Needle
	res.NeedleLines = Needles(w.Lines)
	res.PerLevel = map[string]int{}
	for i, name := range Levels() {
		res.PerLevel[name] = counts.PerLevel[i]
	}
	res.Focus = Focus{FocusService, FocusLevel, FocusWord, counts.Focus}
	res.Services = services
	fmt.Fprintf(stdout, "%s: sent %d lines (%s) in %d requests in %.2f s: %.0f lines/s; request latency p50 %.1f ms, p99 %.1f ms; %d requests failed\n",
		res.Target, res.Lines, res.Format, res.Requests, res.WallSeconds, res.LinesPerSec, res.LatencyP50Ms, res.LatencyP99Ms, res.Failed)
	if res.FirstError != "" {
		fmt.Fprintf(stdout, "%s: first error: %s\n", res.Target, res.FirstError)
	}
	if *jsonFile != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(*jsonFile, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("cannot write %s: %w", *jsonFile, err)
		}
	}
	if res.Failed > 0 {
		return fmt.Errorf("%d of %d requests failed", res.Failed, res.Requests)
	}
	return nil
}

// request is one encoded request body and the size of its lines before
// compression.
type request struct {
	body []byte
	raw  int64
}

func send(ctx context.Context, url, contentType string, gz bool, reqs []request, conc int, timeout time.Duration) (Result, error) {
	client := &http.Client{
		Timeout:   timeout,
		Transport: &http.Transport{MaxIdleConnsPerHost: conc, DisableCompression: true},
	}
	defer client.CloseIdleConnections()
	var (
		next     atomic.Int64
		failed   atomic.Int64
		errOnce  sync.Once
		firstErr string
		lat      = make([]time.Duration, len(reqs))
		wg       sync.WaitGroup
	)
	fail := func(msg string) {
		failed.Add(1)
		errOnce.Do(func() { firstErr = msg })
	}
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				b := int(next.Add(1) - 1)
				if b >= len(reqs) || ctx.Err() != nil {
					return
				}
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(reqs[b].body))
				if err != nil {
					fail(err.Error())
					continue
				}
				req.Header.Set("Content-Type", contentType)
				if gz {
					req.Header.Set("Content-Encoding", "gzip")
				}
				t := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					lat[b] = time.Since(t)
					fail(err.Error())
					continue
				}
				body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
				resp.Body.Close()
				lat[b] = time.Since(t)
				if resp.StatusCode/100 != 2 {
					fail(fmt.Sprintf("status %d: %.300s", resp.StatusCode, body))
				}
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	if ctx.Err() != nil {
		return Result{}, ctx.Err()
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / 1e6
	}
	return Result{
		Requests:     len(reqs),
		Failed:       int(failed.Load()),
		WallSeconds:  wall.Seconds(),
		LatencyP50Ms: q(0.50),
		LatencyP99Ms: q(0.99),
		FirstError:   firstErr,
	}, nil
}

// load generates the workload's requests on every core, or reads them
// from cache when it holds the same workload; it also returns the
// workload's counts.
func load(w Workload, cache string) (reqs []request, counts Counts, fromCache bool, err error) {
	header, _ := json.Marshal(struct {
		Version int
		Workload
	}{1, w})
	if cache != "" {
		if reqs, counts, err := readCache(cache, header, w.Batches()); err == nil {
			return reqs, counts, true, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(os.Stderr, "logload: regenerating: %v\n", err)
		}
	}
	n := w.Batches()
	reqs = make([]request, n)
	countsOf := make([]Counts, n)
	var (
		next     atomic.Int64
		firstErr error
		mu       sync.Mutex
		wg       sync.WaitGroup
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				b := int(next.Add(1) - 1)
				if b >= n {
					return
				}
				body, raw, c, err := w.Batch(b)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				reqs[b], countsOf[b] = request{body, raw}, c
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, counts, false, fmt.Errorf("cannot encode the workload: %w", firstErr)
	}
	for _, c := range countsOf {
		counts.add(c)
	}
	if cache != "" {
		if err := writeCache(cache, header, reqs, counts); err != nil {
			return nil, counts, false, err
		}
	}
	return reqs, counts, false, nil
}

// The cache file: a 4-byte length and the workload's JSON header, the
// counts (lines per level and focus lines, 5 × 8 bytes), then per request its raw size (8 bytes),
// its length (4 bytes) and the body; integers big endian.
func writeCache(path string, header []byte, reqs []request, counts Counts) error {
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return fmt.Errorf("cannot create the cache: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	bw.Write(binary.BigEndian.AppendUint32(nil, uint32(len(header))))
	bw.Write(header)
	for _, n := range append(counts.PerLevel[:], counts.Focus) {
		bw.Write(binary.BigEndian.AppendUint64(nil, uint64(n)))
	}
	for _, r := range reqs {
		bw.Write(binary.BigEndian.AppendUint64(nil, uint64(r.raw)))
		bw.Write(binary.BigEndian.AppendUint32(nil, uint32(len(r.body))))
		bw.Write(r.body)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("cannot write the cache: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cannot write the cache: %w", err)
	}
	return os.Rename(path+".tmp", path)
}

func readCache(path string, header []byte, n int) ([]request, Counts, error) {
	var counts Counts
	f, err := os.Open(path)
	if err != nil {
		return nil, counts, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var u [8]byte
	bad := func(err error) ([]request, Counts, error) {
		return nil, counts, fmt.Errorf("cannot read the cache %s: %w", path, err)
	}
	if _, err := io.ReadFull(br, u[:4]); err != nil {
		return bad(err)
	}
	h := make([]byte, binary.BigEndian.Uint32(u[:4]))
	if _, err := io.ReadFull(br, h); err != nil || !bytes.Equal(h, header) {
		return nil, counts, fmt.Errorf("the cache %s holds another workload", path)
	}
	for i := range 5 {
		if _, err := io.ReadFull(br, u[:]); err != nil {
			return bad(err)
		}
		if i < 4 {
			counts.PerLevel[i] = int(binary.BigEndian.Uint64(u[:]))
		} else {
			counts.Focus = int(binary.BigEndian.Uint64(u[:]))
		}
	}
	reqs := make([]request, n)
	for i := range reqs {
		if _, err := io.ReadFull(br, u[:]); err != nil {
			return bad(err)
		}
		reqs[i].raw = int64(binary.BigEndian.Uint64(u[:]))
		if _, err := io.ReadFull(br, u[:4]); err != nil {
			return bad(err)
		}
		reqs[i].body = make([]byte, binary.BigEndian.Uint32(u[:4]))
		if _, err := io.ReadFull(br, reqs[i].body); err != nil {
			return bad(err)
		}
	}
	return reqs, counts, nil
}
