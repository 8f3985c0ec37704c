// Command spanload sends a deterministic workload of typical HTTP spans to
// an OTLP gRPC endpoint, in export requests of -batch spans from
// -concurrency senders, and prints the rate it achieved.
//
// The workload is a small shop (frontend, orders, users, payments,
// inventory; three pods each): traces of 6–10 spans (8 on average) of
// server, client and internal spans carrying http.method, http.route,
// http.status_code and http.url (or net.peer.name, net.host.name), about
// 1% failed traces (500s up the call chain, an exception event), a rare
// retry event, and log-normal durations around 40 ms. The same flags give
// byte-identical requests.
//
// Every request is generated and encoded (with ptraceotlp's marshaller)
// before the clock starts and sent on the OTLP TraceService/Export method
// as pre-encoded bytes, so the sender's own CPU stays out of the server's
// way. -cache keeps the encoded requests in a file for the next run.
//
// The first trace of every batch is written to -ids (hex id and span
// count, one a line) for the query phase, and the time range and figures
// to -json.
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "spanload:", err)
		os.Exit(1)
	}
}

// Result is what -json receives.
type Result struct {
	Target        string   `json:"target"`
	Spans         int      `json:"spans"`
	Requests      int      `json:"requests"`
	RequestBytes  int64    `json:"requestBytes"`
	Failed        int      `json:"failedRequests"`
	RejectedSpans int64    `json:"rejectedSpans"`
	WallSeconds   float64  `json:"wallSeconds"`
	SpansPerSec   float64  `json:"spansPerSecond"`
	LatencyP50Ms  float64  `json:"requestLatencyP50Ms"`
	LatencyP99Ms  float64  `json:"requestLatencyP99Ms"`
	StartUnixNano int64    `json:"startUnixNano"` // oldest possible span start
	EndUnixNano   int64    `json:"endUnixNano"`   // newest possible span end (+ the longest trace)
	Services      []string `json:"services"`
	FirstError    string   `json:"firstError,omitempty"`
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("spanload", flag.ContinueOnError)
	var (
		addr     = fs.String("addr", "127.0.0.1:4317", "OTLP gRPC address")
		nSpans   = fs.Int("spans", 1_000_000, "spans to send")
		batch    = fs.Int("batch", 512, "spans per export request")
		conc     = fs.Int("concurrency", 4, "concurrent senders (each with its own connection)")
		seed     = fs.Uint64("seed", 1, "workload seed")
		end      = fs.Int64("end", 0, "Unix seconds the newest trace starts before; 0: now (set it to reuse -cache)")
		window   = fs.Duration("window", 30*time.Minute, "span start times are spread over this much time before -end")
		cache    = fs.String("cache", "", "file keeping the encoded requests; reused when its workload matches")
		idsFile  = fs.String("ids", "", "write the sampled trace ids here (hex id and span count a line)")
		jsonFile = fs.String("json", "", "write the figures here as JSON")
		target   = fs.String("name", "target", "target name for the report")
		genOnly  = fs.Bool("generate-only", false, "only generate (and cache) the requests")
		timeout  = fs.Duration("timeout", 30*time.Second, "timeout of one export request")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *end == 0 {
		*end = time.Now().Unix()
	}
	w := Workload{Spans: *nSpans, BatchSize: *batch, Seed: *seed, End: time.Unix(*end, 0), Window: *window}

	t0 := time.Now()
	reqs, samples, fromCache, err := load(w, *cache)
	if err != nil {
		return err
	}
	var reqBytes int64
	for _, r := range reqs {
		reqBytes += int64(len(r))
	}
	how := "generated"
	if fromCache {
		how = "read from " + *cache
	}
	fmt.Fprintf(os.Stderr, "spanload: %d spans in %d requests (%.1f MB, %.0f bytes/span encoded) %s in %s\n",
		w.Spans, len(reqs), float64(reqBytes)/1e6, float64(reqBytes)/float64(w.Spans), how, time.Since(t0).Round(time.Millisecond))
	if *idsFile != "" {
		if err := writeIDs(*idsFile, samples); err != nil {
			return err
		}
	}
	if *genOnly {
		return nil
	}

	res, err := send(ctx, *addr, reqs, w.Spans, *conc, *timeout)
	if err != nil {
		return err
	}
	res.Target = *target
	res.Spans = w.Spans
	res.RequestBytes = reqBytes
	res.StartUnixNano = w.End.Add(-w.Window).UnixNano()
	res.EndUnixNano = w.End.Add(time.Hour).UnixNano()
	res.Services = services
	fmt.Fprintf(stdout, "%s: sent %d spans in %d requests in %.2f s: %.0f spans/s; request latency p50 %.1f ms, p99 %.1f ms; %d requests failed, %d spans rejected\n",
		res.Target, res.Spans, res.Requests, res.WallSeconds, res.SpansPerSec, res.LatencyP50Ms, res.LatencyP99Ms, res.Failed, res.RejectedSpans)
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

// rawCodec sends and receives already-encoded protobuf bytes.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

var _ encoding.Codec = rawCodec{}

const exportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

func send(ctx context.Context, addr string, reqs [][]byte, spans, conc int, timeout time.Duration) (Result, error) {
	conns := make([]*grpc.ClientConn, conc)
	for i := range conns {
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{}), grpc.MaxCallRecvMsgSize(64<<20)))
		if err != nil {
			return Result{}, fmt.Errorf("cannot dial %s: %w", addr, err)
		}
		defer c.Close()
		conns[i] = c
	}
	var (
		next     atomic.Int64
		failed   atomic.Int64
		rejected atomic.Int64
		errOnce  sync.Once
		firstErr string
		lat      = make([]time.Duration, len(reqs))
		wg       sync.WaitGroup
	)
	start := time.Now()
	for i := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				b := int(next.Add(1) - 1)
				if b >= len(reqs) || ctx.Err() != nil {
					return
				}
				var resp []byte
				rctx, cancel := context.WithTimeout(ctx, timeout)
				t := time.Now()
				err := conns[i].Invoke(rctx, exportMethod, &reqs[b], &resp)
				lat[b] = time.Since(t)
				cancel()
				if err != nil {
					failed.Add(1)
					errOnce.Do(func() { firstErr = err.Error() })
					continue
				}
				r := ptraceotlp.NewExportResponse()
				if err := r.UnmarshalProto(resp); err == nil {
					if n := r.PartialSuccess().RejectedSpans(); n > 0 {
						rejected.Add(n)
						errOnce.Do(func() { firstErr = "partial success: " + r.PartialSuccess().ErrorMessage() })
					}
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
		Requests:      len(reqs),
		Failed:        int(failed.Load()),
		RejectedSpans: rejected.Load(),
		WallSeconds:   wall.Seconds(),
		SpansPerSec:   float64(spans) / wall.Seconds(),
		LatencyP50Ms:  q(0.50),
		LatencyP99Ms:  q(0.99),
		FirstError:    firstErr,
	}, nil
}

// load generates the workload's requests on every core, or reads them
// from cache when it holds the same workload.
func load(w Workload, cache string) (reqs [][]byte, samples []SampledTrace, fromCache bool, err error) {
	header, _ := json.Marshal(struct {
		Version int
		Workload
	}{1, w})
	if cache != "" {
		if reqs, samples, err := readCache(cache, header, w.Batches()); err == nil {
			return reqs, samples, true, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(os.Stderr, "spanload: regenerating: %v\n", err)
		}
	}
	n := w.Batches()
	reqs = make([][]byte, n)
	samples = make([]SampledTrace, n)
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				b := int(next.Add(1) - 1)
				if b >= n {
					return
				}
				r, s, err := w.Batch(b)
				if err != nil {
					mu.Lock()
					firstErr = cmpOr(firstErr, err)
					mu.Unlock()
					return
				}
				reqs[b], samples[b] = r, s
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, nil, false, fmt.Errorf("cannot encode the workload: %w", firstErr)
	}
	if cache != "" {
		if err := writeCache(cache, header, reqs, samples); err != nil {
			return nil, nil, false, err
		}
	}
	return reqs, samples, false, nil
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// The cache file: a 4-byte length and the workload's JSON header, then per
// request the sampled trace id (16 bytes), its span count and the
// request's length (4 bytes each, big endian) and the request.
func writeCache(path string, header []byte, reqs [][]byte, samples []SampledTrace) error {
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return fmt.Errorf("cannot create the cache: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	var u [4]byte
	binary.BigEndian.PutUint32(u[:], uint32(len(header)))
	bw.Write(u[:])
	bw.Write(header)
	for i, r := range reqs {
		bw.Write(samples[i].ID[:])
		binary.BigEndian.PutUint32(u[:], uint32(samples[i].Spans))
		bw.Write(u[:])
		binary.BigEndian.PutUint32(u[:], uint32(len(r)))
		bw.Write(u[:])
		bw.Write(r)
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

func readCache(path string, header []byte, n int) ([][]byte, []SampledTrace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var u [4]byte
	if _, err := io.ReadFull(br, u[:]); err != nil {
		return nil, nil, fmt.Errorf("cannot read the cache %s: %w", path, err)
	}
	h := make([]byte, binary.BigEndian.Uint32(u[:]))
	if _, err := io.ReadFull(br, h); err != nil || string(h) != string(header) {
		return nil, nil, fmt.Errorf("the cache %s holds another workload", path)
	}
	reqs := make([][]byte, n)
	samples := make([]SampledTrace, n)
	for i := range n {
		if _, err := io.ReadFull(br, samples[i].ID[:]); err != nil {
			return nil, nil, fmt.Errorf("cannot read the cache %s: %w", path, err)
		}
		io.ReadFull(br, u[:])
		samples[i].Spans = int(binary.BigEndian.Uint32(u[:]))
		io.ReadFull(br, u[:])
		reqs[i] = make([]byte, binary.BigEndian.Uint32(u[:]))
		if _, err := io.ReadFull(br, reqs[i]); err != nil {
			return nil, nil, fmt.Errorf("cannot read the cache %s: %w", path, err)
		}
	}
	return reqs, samples, nil
}

func writeIDs(path string, samples []SampledTrace) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("cannot create %s: %w", path, err)
	}
	bw := bufio.NewWriter(f)
	for _, s := range samples {
		fmt.Fprintf(bw, "%s %d\n", hex.EncodeToString(s.ID[:]), s.Spans)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return f.Close()
}
