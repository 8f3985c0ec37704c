// Package server assembles Vigil: it opens the store, builds every ingest
// path and API on it, binds the listeners, runs the background loops, and
// takes it all down again in reverse order.
//
// New constructs and binds (so a busy port or a bad data directory fails
// before anything runs); Run serves until its context ends, then shuts down
// and returns only once everything acknowledged is flushed to disk.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grafana/regexp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/rules"
	v1 "github.com/prometheus/prometheus/web/api/v1"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	_ "google.golang.org/grpc/encoding/gzip" // OTLP exporters may gzip their requests

	"github.com/vigilhq/vigil/api/jaegerapi"
	"github.com/vigilhq/vigil/api/promapi"
	"github.com/vigilhq/vigil/api/traceapi"
	"github.com/vigilhq/vigil/auth"
	"github.com/vigilhq/vigil/config"
	"github.com/vigilhq/vigil/hostmetrics"
	"github.com/vigilhq/vigil/ingest"
	"github.com/vigilhq/vigil/ingest/gather"
	"github.com/vigilhq/vigil/ingest/otlp"
	"github.com/vigilhq/vigil/ingest/push"
	"github.com/vigilhq/vigil/ingest/remotewrite"
	"github.com/vigilhq/vigil/ingest/scrape"
	"github.com/vigilhq/vigil/ingest/zipkin"
	"github.com/vigilhq/vigil/limits"
	"github.com/vigilhq/vigil/ruler"
	"github.com/vigilhq/vigil/storage/events"
	"github.com/vigilhq/vigil/storage/metricstore"
	"github.com/vigilhq/vigil/storage/spans"
	"github.com/vigilhq/vigil/traces/sampling"
	"github.com/vigilhq/vigil/traces/search"
	"github.com/vigilhq/vigil/traces/servicegraph"
	"github.com/vigilhq/vigil/traces/spanmetrics"
	"github.com/vigilhq/vigil/ui"
	"github.com/vigilhq/vigil/version"
	"github.com/vigilhq/vigil/watch"
)

// Server is one running Vigil. Create it with New, then call Run once.
type Server struct {
	cfg   config.Config
	log   *slog.Logger
	reg   *prometheus.Registry
	ready atomic.Bool

	store   *metricstore.Store
	spans   *events.Store[spans.Span]
	logs    *logPipeline
	catalog *search.Catalog
	graph   *servicegraph.Graph
	sampler *sampling.Sampler // nil unless tail sampling is on
	ruler   *ruler.Ruler
	// anomalies evaluates anomaly rules (inside the rule groups) and
	// keeps their detectors.
	anomalies *watch.Watcher
	alerts    *alerting
	// reload reads the configuration again (SetReloader); nil: the
	// configuration cannot be reloaded.
	reloadMu sync.Mutex
	reload   func() (config.Config, error)
	derived  *gather.Gatherer
	limiter  *limits.Limiter
	scraper  *scrape.Scraper
	push     *push.Handler
	gather   *gather.Gatherer
	api      *promapi.API

	httpSrv     *http.Server
	httpLn      net.Listener
	otlpHTTPSrv *http.Server
	otlpHTTPLn  net.Listener
	grpcSrv     *grpc.Server
	grpcLn      net.Listener
}

// New builds a server from a resolved, validated configuration.
func New(cfg config.Config, log *slog.Logger) (_ *Server, err error) {
	s := &Server{cfg: cfg, log: log, reg: prometheus.NewRegistry()}
	// Whatever New opened before failing is closed again.
	defer func() {
		if err != nil {
			s.closeListeners()
			if s.store != nil {
				_ = s.store.Close()
			}
			if s.spans != nil {
				_ = s.spans.Close()
			}
			if s.logs != nil {
				_ = s.logs.events.Close()
			}
			if s.ruler != nil {
				s.ruler.Close()
			}
			if s.alerts != nil {
				s.alerts.close()
			}
		}
	}()
	s.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	)

	step := func(name string, f func() error) error {
		start := time.Now()
		if err := f(); err != nil {
			return err
		}
		log.Info("started "+name, "took", time.Since(start).Round(time.Millisecond))
		return nil
	}

	if err := step("metrics store", func() (err error) {
		s.store, err = metricstore.Open(metricstore.Options{
			Dir:              filepath.Join(cfg.DataDir, "metrics"),
			Retention:        time.Duration(cfg.Storage.RetentionTime),
			RetentionBytes:   int64(cfg.Storage.RetentionSize),
			OutOfOrderWindow: time.Duration(cfg.Storage.OutOfOrderWindow),
			MaxExemplars:     cfg.Storage.MaxExemplars,
			Logger:           log,
			Registerer:       s.reg,
		})
		return err
	}); err != nil {
		return nil, err
	}

	// Spans are accepted and stored durably; search and the trace views
	// come with the rest of the traces work.
	if err := step("span store", func() (err error) {
		s.spans, err = events.Open(events.Options[spans.Span]{
			Dir:     filepath.Join(cfg.DataDir, "spans"),
			Schema:  spans.Schema,
			Compare: spans.Compare,
			// Each part carries its trace summaries, so search and lookups
			// by id skip parts without reading spans.
			Extra: spans.SummaryExtra,
			Codec: &events.Codec[spans.Span]{Append: spans.AppendBatch, Decode: spans.DecodeBatch},
			// A merge holds its rows in memory (about 1 KB a span with its
			// maps); parts past this size gain nothing on disk, as the
			// row group (8192 rows) is the unit of compression.
			MaxPartRows:  500_000,
			MinFreeBytes: int64(cfg.Traces.MinFreeDisk),
			Logger:       log.With("component", "spans"),
		})
		return err
	}); err != nil {
		return nil, err
	}

	s.limiter = limits.New(cfg.Limits, nil)
	if series, err := s.store.HeadSeries(context.Background()); err != nil {
		return nil, err
	} else {
		s.limiter.Seed(series)
	}
	metrics := ingest.NewMetrics(s.reg)
	appendable := s.limiter.Wrap(s.store)

	promCfg, err := cfg.Prometheus()
	if err != nil {
		return nil, err
	}
	if s.scraper, err = scrape.New(scrape.Options{Appendable: appendable, Metrics: metrics, Registerer: s.reg, Logger: log}); err != nil {
		return nil, err
	}
	if err := s.scraper.ApplyConfig(promCfg); err != nil {
		return nil, err
	}

	if s.push, err = push.New(push.Options{
		Appendable:   appendable,
		Interval:     time.Duration(cfg.Push.Interval),
		StatePath:    filepath.Join(cfg.DataDir, "push", "groups.json"),
		MaxBodyBytes: cfg.Limits.MaxRequestBytes,
		MaxSamples:   cfg.Limits.MaxSamplesPerRequest,
		Metrics:      metrics,
		Logger:       log.With("component", "push"),
	}); err != nil {
		return nil, err
	}

	// Vigil's own metrics, and the host's, are stored without going
	// through HTTP, under job="vigil".
	host, _ := os.Hostname()
	gatherers := prometheus.Gatherers{s.reg}
	interval := 15 * time.Second
	if cfg.HostMetrics.Enabled {
		hostReg := prometheus.NewRegistry()
		hostReg.MustRegister(hostmetrics.New(hostmetrics.Options{Logger: log.With("component", "hostmetrics")}))
		gatherers = append(gatherers, hostReg)
		interval = time.Duration(cfg.HostMetrics.Interval)
	}
	s.gather = gather.New(gather.Options{
		Gatherer:   gatherers,
		Appendable: s.store,
		Interval:   interval,
		Labels:     labels.FromStrings("job", "vigil", "instance", host),
		Logger:     log.With("component", "gather"),
	})

	build := version.Get()
	s.api = promapi.New(promapi.Options{
		Store: s.store,
		Targets: func() promapi.Targets {
			return s.scraper.Manager()
		},
		Config:     func() promconfig.Config { return s.scraper.Config() },
		Flags:      flagsOf(cfg),
		Version:    build.Version,
		Revision:   build.Revision,
		BuildDate:  build.BuildDate,
		CORSOrigin: regexp.MustCompile("^(?:" + cfg.HTTP.CORSOrigin + ")$"),
		Ready:      s.ready.Load,
		Rules: func() v1.RulesRetriever {
			if s.ruler == nil {
				return nil
			}
			return s.ruler.Manager()
		},
		Alertmanagers: func() v1.AlertmanagerRetriever {
			if s.alerts == nil {
				return nil
			}
			return s.alerts.alertmanagers()
		},
		Logger:     log,
		Registerer: s.reg,
		Gatherer:   s.reg,
	})

	// Recording and alerting rules, by Prometheus's own rule manager; the
	// records and ALERTS series go straight to the store.
	// Alerts go to the embedded Alertmanager (and external ones), which
	// records their history and hands them to the actions.
	alertFiles := alertingFiles{}
	if s.alerts, alertFiles, err = newAlerting(cfg, s.reg, s.api.Engine, s.store, log); err != nil {
		return nil, err
	}
	ext := externalURL(cfg)
	s.anomalies = watch.New(watch.Options{
		Appendable:       s.store.DB(),
		Query:            rules.EngineQueryFunc(s.api.Engine, s.store),
		Range:            watch.EngineRange(s.api.Engine, s.store),
		Backfill:         time.Duration(cfg.Anomaly.Backfill),
		StateFile:        filepath.Join(cfg.DataDir, "anomaly", "detectors.state"),
		MaxSeriesPerRule: cfg.Anomaly.MaxSeriesPerRule,
		DefaultInterval:  time.Duration(cfg.Anomaly.DefaultRulesInterval),
		Logger:           log.With("component", "anomaly"),
		Registerer:       s.reg,
	})
	if s.ruler, err = ruler.New(ruler.Options{
		Files:       s.alerts.ruleFiles(alertFiles),
		Interval:    time.Duration(cfg.Rules.EvaluationInterval),
		Engine:      s.api.Engine,
		Appendable:  s.store.DB(),
		Queryable:   s.store,
		ExternalURL: ext,
		Notify:      rules.SendAlerts(s.alerts.sender(log), ext),
		History:     s.alerts.hist,
		Anomalies:   s.anomalies,
		// Built-in anomaly rules are a start-time choice: a reload
		// keeps what the server started with.
		DefaultAnomalyRules: cfg.Anomaly.DefaultRules,
		Logger:              log.With("component", "rules"),
		Registerer:          s.reg,
	}); err != nil {
		return nil, fmt.Errorf("rules.files: %w", err)
	}

	otlpMetrics := otlp.NewMetrics(otlp.Options{
		Appendable:      appendable,
		MaxRequestBytes: cfg.Limits.MaxRequestBytes,
		MaxSamples:      cfg.Limits.MaxSamplesPerRequest,
		MaxFutureSkew:   cfg.Limits.MaxFutureSkew,
		Metrics:         metrics,
		Logger:          log.With("component", "otlp"),
	})
	s.catalog = search.NewCatalog(0)
	s.seedCatalog()
	// RED metrics and the service graph see every accepted span, before
	// any sampling, and reach the metrics store through their own
	// gatherer (no job/instance labels, as Tempo's generator writes them).
	spanMetrics := spanmetrics.New(spanmetrics.Options{})
	s.graph = servicegraph.New(servicegraph.Options{})
	derivedReg := prometheus.NewRegistry()
	derivedReg.MustRegister(spanMetrics, s.graph)
	s.derived = gather.New(gather.Options{
		Gatherer:   derivedReg,
		Appendable: s.store,
		Interval:   time.Duration(cfg.Traces.DerivedMetricsInterval),
		Labels:     labels.EmptyLabels(),
		// Their counters start at zero in this process and come back
		// after going stale: SLA and SLO increases must count their
		// first errors.
		ZeroNewCounters: true,
		Logger:          log.With("component", "derived-metrics"),
	})
	var spanSink otlp.SpanAppender = s.spans
	if ts := cfg.Traces.TailSampling; ts.Enabled {
		if s.sampler, err = sampling.New(sampling.Options{
			DecisionWait:     time.Duration(ts.DecisionWait),
			Fraction:         ts.Fraction,
			LatencyThreshold: time.Duration(ts.LatencyThreshold),
			MaxTraces:        ts.MaxTraces,
			Next:             s.spans.Append,
			Registerer:       s.reg,
			Logger:           log.With("component", "tail-sampling"),
		}); err != nil {
			return nil, err
		}
		spanSink = offerer{s.sampler}
	}
	searcher := search.New(s.spans, s.catalog)
	traceAPI := traceapi.New(searcher, log.With("component", "traceapi"))
	jaeger := jaegerapi.New(jaegerapi.Options{Searcher: searcher, Metrics: s.store, Logger: log.With("component", "jaegerapi")})
	observeSpans := func(batch []spans.Span) {
		s.catalog.Observe(batch)
		spanMetrics.Observe(batch)
		s.graph.Observe(batch)
	}
	zipkinSpans := zipkin.New(zipkin.Options{
		Store:           spanSink,
		Observe:         observeSpans,
		MaxRequestBytes: cfg.Limits.MaxRequestBytes,
		MaxSpans:        cfg.Limits.MaxSamplesPerRequest,
		Metrics:         metrics,
		Logger:          log.With("component", "zipkin"),
	})
	otlpTraces := otlp.NewTraces(otlp.TracesOptions{
		Store:           spanSink,
		Observe:         observeSpans,
		MaxRequestBytes: cfg.Limits.MaxRequestBytes,
		MaxSpans:        cfg.Limits.MaxSamplesPerRequest,
		Metrics:         metrics,
		Logger:          log.With("component", "otlp"),
	})
	rw := remotewrite.NewHandler(remotewrite.Options{
		Appendable:      appendable,
		MaxRequestBytes: cfg.Limits.MaxRequestBytes,
		MaxSamples:      cfg.Limits.MaxSamplesPerRequest,
		SetMetadata:     s.store.SetMetadata,
		Metrics:         metrics,
		Logger:          log.With("component", "remotewrite"),
	})
	tokens := auth.Tokens{Write: cfg.Auth.WriteToken, Read: cfg.Auth.ReadToken}
	if err := step("log store", func() (err error) {
		s.logs, err = openLogs(cfg, s.reg, metrics, log)
		return err
	}); err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.Handle("/api/v1/write", tokens.RequireWrite(rw))
	mux.Handle("/api/v1/otlp/v1/metrics", tokens.RequireWrite(otlpMetrics))
	mux.Handle("/api/v2/spans", tokens.RequireWrite(zipkinSpans))
	mux.Handle("/metrics/job/", tokens.RequireWrite(s.push))
	mux.Handle("/metrics/job@base64/", tokens.RequireWrite(s.push))
	mux.Handle("/api/v1/", tokens.RequireRead(s.api))
	mux.Handle(traceapi.Prefix, tokens.RequireRead(traceAPI))
	for _, p := range jaegerapi.Patterns {
		mux.Handle(p, tokens.RequireRead(jaeger))
	}
	s.logs.mount(mux, tokens.RequireWrite, tokens.RequireRead)
	s.alerts.mount(mux, tokens.RequireRead)
	mux.Handle("/api/v1/anomalies", tokens.RequireRead(http.HandlerFunc(s.serveAnomalies)))
	mux.Handle("/metrics", tokens.RequireRead(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})))
	mux.Handle("/-/reload", tokens.RequireRead(http.HandlerFunc(s.serveReload)))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Vigil is Healthy.")
	})
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "Service Unavailable")
			return
		}
		fmt.Fprintln(w, "Vigil is Ready.")
	})
	mux.Handle("/", ui.Handler())

	if s.httpLn, err = listen(cfg.HTTP.Addr, cfg.HTTP.TLS); err != nil {
		return nil, fmt.Errorf("cannot listen on http.addr (--http-addr): %w", err)
	}
	s.httpSrv = newHTTPServer(mux, log)

	if cfg.OTLP.HTTPAddr != "" {
		omux := http.NewServeMux()
		omux.Handle("/v1/metrics", tokens.RequireWrite(otlpMetrics))
		omux.Handle("/v1/traces", tokens.RequireWrite(otlpTraces))
		omux.Handle("/v1/logs", tokens.RequireWrite(withTenant(s.logs.otlp)))
		if s.otlpHTTPLn, err = listen(cfg.OTLP.HTTPAddr, cfg.OTLP.TLS); err != nil {
			return nil, fmt.Errorf("cannot listen on otlp.http_addr (--otlp-http-addr): %w", err)
		}
		s.otlpHTTPSrv = newHTTPServer(omux, log)
	}
	if cfg.OTLP.GRPCAddr != "" {
		opts := append(tokens.GRPCWrite(), grpc.MaxRecvMsgSize(int(cfg.Limits.MaxRequestBytes)))
		if cfg.OTLP.TLS.Enabled() {
			cert, err := tls.LoadX509KeyPair(cfg.OTLP.TLS.CertFile, cfg.OTLP.TLS.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("cannot load otlp.tls certificate: %w", err)
			}
			opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})))
		}
		s.grpcSrv = grpc.NewServer(opts...)
		pmetricotlp.RegisterGRPCServer(s.grpcSrv, otlpMetrics)
		ptraceotlp.RegisterGRPCServer(s.grpcSrv, otlpTraces)
		plogotlp.RegisterGRPCServer(s.grpcSrv, s.logs.otlp)
		// gRPC does its own TLS, so its listener is plain TCP.
		if s.grpcLn, err = net.Listen("tcp", cfg.OTLP.GRPCAddr); err != nil {
			return nil, fmt.Errorf("cannot listen on otlp.grpc_addr (--otlp-grpc-addr): %w", err)
		}
	}
	return s, nil
}

// HTTPAddr returns the bound address of the main listener.
func (s *Server) HTTPAddr() string { return s.httpLn.Addr().String() }

// OTLPGRPCAddr and OTLPHTTPAddr return the bound OTLP addresses, or "".
func (s *Server) OTLPGRPCAddr() string {
	if s.grpcLn == nil {
		return ""
	}
	return s.grpcLn.Addr().String()
}

func (s *Server) OTLPHTTPAddr() string {
	if s.otlpHTTPLn == nil {
		return ""
	}
	return s.otlpHTTPLn.Addr().String()
}

// Run serves until ctx is done or a component fails, then shuts down:
// listeners first (no new data), then the loops, then the store, whose
// Close flushes the write-ahead log. It returns the first failure, if any.
func (s *Server) Run(ctx context.Context) error {
	loopCtx, stopLoops := context.WithCancel(context.Background())
	defer stopLoops()
	failed := make(chan error, 8)
	var loops, servers sync.WaitGroup
	goLoop := func(wg *sync.WaitGroup, name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				failed <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	goLoop(&loops, "scrape", func() error { return s.scraper.Run(loopCtx) })
	goLoop(&loops, "push", func() error { return s.push.Run(loopCtx) })
	goLoop(&loops, "gather", func() error { return s.gather.Run(loopCtx) })
	goLoop(&loops, "rules", func() error { return s.ruler.Run(loopCtx) })
	saveEvery := time.Duration(s.cfg.Anomaly.SaveInterval)
	goLoop(&loops, "anomaly state", func() error { return s.anomalies.Run(loopCtx, saveEvery) })
	s.alerts.run(loopCtx, func(name string, f func() error) { goLoop(&loops, name, f) })
	goLoop(&loops, "span store", func() error { return s.spans.Run(loopCtx) })
	s.logs.run(loopCtx, func(name string, f func() error) { goLoop(&loops, name, f) })
	goLoop(&loops, "derived metrics", func() error { return s.derived.Run(loopCtx) })
	goLoop(&loops, "service graph", func() error { return s.graph.Run(loopCtx) })
	if s.sampler != nil {
		// Stopping it decides and stores every trace still waiting; the
		// span store closes after the loops.
		goLoop(&loops, "tail sampling", func() error { return s.sampler.Run(loopCtx) })
	}
	goLoop(&loops, "limits sweep", func() error { s.sweep(loopCtx); return nil })

	serveHTTP := func(srv *http.Server, ln net.Listener) func() error {
		return func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		}
	}
	goLoop(&servers, "http", serveHTTP(s.httpSrv, s.httpLn))
	if s.otlpHTTPSrv != nil {
		goLoop(&servers, "otlp http", serveHTTP(s.otlpHTTPSrv, s.otlpHTTPLn))
	}
	if s.grpcSrv != nil {
		goLoop(&servers, "otlp grpc", func() error { return s.grpcSrv.Serve(s.grpcLn) })
	}
	s.ready.Store(true)
	s.log.Info("Vigil is ready", "http", s.HTTPAddr(), "otlp_grpc", s.OTLPGRPCAddr(), "otlp_http", s.OTLPHTTPAddr(), "data_dir", s.cfg.DataDir)

	var runErr error
	select {
	case <-ctx.Done():
		s.log.Info("shutting down")
	case runErr = <-failed:
		s.log.Error("shutting down after a failure", "err", runErr)
	}
	s.ready.Store(false)
	s.shutdown(stopLoops, &loops, &servers)
	return runErr
}

// shutdown stops everything in reverse order of start, logging each step's
// duration. It uses its own deadline: the caller's context is already done.
func (s *Server) shutdown(stopLoops context.CancelFunc, loops, servers *sync.WaitGroup) {
	timed := func(name string, f func()) {
		start := time.Now()
		f()
		s.log.Info("stopped "+name, "took", time.Since(start).Round(time.Millisecond))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	timed("listeners", func() {
		var wg sync.WaitGroup
		for _, srv := range []*http.Server{s.httpSrv, s.otlpHTTPSrv} {
			if srv == nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = srv.Shutdown(ctx)
			}()
		}
		if s.grpcSrv != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				stopped := make(chan struct{})
				go func() { s.grpcSrv.GracefulStop(); close(stopped) }()
				select {
				case <-stopped:
				case <-ctx.Done():
					s.grpcSrv.Stop()
				}
			}()
		}
		wg.Wait()
		servers.Wait()
	})
	timed("background loops", func() {
		stopLoops()
		loops.Wait()
	})
	timed("push state", func() {
		if err := s.push.Close(); err != nil {
			s.log.Error("cannot save push state", "err", err)
		}
	})
	timed("span store", func() {
		if err := s.spans.Close(); err != nil {
			s.log.Error("cannot close span store", "err", err)
		}
	})
	timed("log store", func() {
		if err := s.logs.events.Close(); err != nil {
			s.log.Error("cannot close log store", "err", err)
		}
	})
	timed("metrics store", func() {
		if err := s.store.Close(); err != nil {
			s.log.Error("cannot close metrics store", "err", err)
		}
	})
}

// sweep forgets inactive series in the cardinality limiter, and drops span
// and log parts older than the retention, every minute.
func (s *Server) sweep(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.limiter.Sweep()
			// Spans are kept as long as metrics.
			cutoff := time.Now().Add(-time.Duration(s.cfg.Storage.RetentionTime)).UnixNano()
			if n, err := s.spans.DropBefore(cutoff); err != nil {
				s.log.Warn("cannot apply span retention", "err", err)
			} else if n > 0 {
				s.log.Info("dropped expired span parts", "parts", n)
			}
			s.logs.applyRetention(s.cfg, s.log)
			if max := int64(s.cfg.Traces.RetentionSize); max > 0 {
				if n, err := s.spans.DropToSize(max); err != nil {
					s.log.Warn("cannot apply span size retention", "err", err)
				} else if n > 0 {
					s.log.Info("dropped span parts over traces.retention_size", "parts", n)
				}
			}
		}
	}
}

func (s *Server) closeListeners() {
	for _, ln := range []net.Listener{s.httpLn, s.otlpHTTPLn, s.grpcLn} {
		if ln != nil {
			_ = ln.Close()
		}
	}
}

func listen(addr string, t config.TLSConfig) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if !t.Enabled() {
		return ln, nil
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("cannot load TLS certificate: %w", err)
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}), nil
}

func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// flagsOf shows the effective settings on /api/v1/status/flags, without
// secrets: token files are named, tokens never.
func flagsOf(c config.Config) map[string]string {
	return map[string]string{
		"data-dir":              c.DataDir,
		"http-addr":             c.HTTP.Addr,
		"otlp-grpc-addr":        c.OTLP.GRPCAddr,
		"otlp-http-addr":        c.OTLP.HTTPAddr,
		"retention-time":        c.Storage.RetentionTime.String(),
		"retention-size":        fmt.Sprint(int64(c.Storage.RetentionSize)),
		"scrape-interval":       c.Scrape.Interval.String(),
		"host-metrics":          fmt.Sprint(c.HostMetrics.Enabled),
		"host-metrics-interval": c.HostMetrics.Interval.String(),
		"write-token-file":      c.Auth.WriteTokenFile,
		"read-token-file":       c.Auth.ReadTokenFile,
		"log-level":             c.Log.Level,
	}
}

// seedCatalog fills the service catalog from the span metrics already in
// the metrics store, so services and operations seen before a restart
// are still offered without reading every stored span.
func (s *Server) seedCatalog() {
	q, err := s.store.Querier(math.MinInt64, math.MaxInt64)
	if err != nil {
		s.log.Warn("cannot seed the service catalog", "err", err)
		return
	}
	defer q.Close()
	set := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, "traces_spanmetrics_calls_total"))
	for set.Next() {
		ls := set.At().Labels()
		kind := strings.ToLower(strings.TrimPrefix(ls.Get("span_kind"), "SPAN_KIND_"))
		s.catalog.Add(ls.Get("service"), search.Operation{Name: ls.Get("span_name"), Kind: kind})
	}
	if err := set.Err(); err != nil {
		s.log.Warn("cannot seed the service catalog", "err", err)
	}
}

// offerer hands spans to the tail sampler. The export is acknowledged once
// the sampler holds them: with sampling on, spans awaiting a decision are
// in memory only (README, "Limits today").
type offerer struct{ s *sampling.Sampler }

func (o offerer) Append(_ context.Context, rows []spans.Span) error {
	o.s.Offer(rows)
	return nil
}

// SetReloader sets how Reload reads the configuration again (the serve
// command reads its file and flags). Call it before Run.
func (s *Server) SetReloader(f func() (config.Config, error)) {
	s.reloadMu.Lock()
	s.reload = f
	s.reloadMu.Unlock()
}

// Reload reads the configuration again and applies what can change
// while running: the rule files. When the new configuration or a rule
// file is invalid, nothing changes and the error says why.
func (s *Server) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if s.reload == nil {
		return errors.New("this server was not given a way to read its configuration again")
	}
	cfg, err := s.reload()
	if err != nil {
		return fmt.Errorf("cannot reload the configuration: %w", err)
	}
	files, err := loadAlertingFiles(cfg)
	if err != nil {
		return fmt.Errorf("cannot reload (the previous configuration stays): %w", err)
	}
	if err := s.alerts.reload(cfg, files, s.ruler.Reload); err != nil {
		return fmt.Errorf("cannot reload: %w", err)
	}
	s.log.Info("reloaded the configuration", "rule_groups", len(s.ruler.Manager().RuleGroups()), "slos", len(files.slos), "actions", len(files.actions))
	return nil
}

// serveReload is POST /-/reload, as Prometheus's: 200 when reloaded, 500
// with the reason when not (the old configuration stays).
func (s *Server) serveReload(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		http.Error(w, "This endpoint requires a POST or PUT request.", http.StatusMethodNotAllowed)
		return
	}
	if err := s.Reload(); err != nil {
		s.log.Error("reload failed", "err", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}
