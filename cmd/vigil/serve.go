package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vigilhq/vigil/config"
	"github.com/vigilhq/vigil/server"
)

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := serveConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil // the flag set has printed the flags
	}
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	start := time.Now()
	srv, err := server.New(cfg, log)
	if err != nil {
		return err
	}
	log.Info("constructed", "took", time.Since(start).Round(time.Millisecond))
	// SIGHUP and POST /-/reload read the file and flags again.
	srv.SetReloader(func() (config.Config, error) { return serveConfig(args, getenv, io.Discard) })
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reloads := make(chan struct{})
	// The reload loop ends with Run, whether ctx ended it or a failure.
	rctx, stopReloads := context.WithCancel(ctx)
	go func() {
		defer close(reloads)
		for {
			select {
			case <-rctx.Done():
				return
			case <-hup:
				if err := srv.Reload(); err != nil {
					log.Error("reload on SIGHUP failed", "err", err)
				}
			}
		}
	}()
	err = srv.Run(ctx)
	stopReloads()
	<-reloads
	return err
}

// serveConfig builds the configuration: defaults, then the file given by
// --config, then every flag that was set on the command line.
func serveConfig(args []string, getenv func(string) string, stderr io.Writer) (config.Config, error) {
	def := config.Default()
	fs := flag.NewFlagSet("vigil serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfgFile      = fs.String("config", "", "YAML configuration file; flags set on the command line override it")
		dataDir      = fs.String("data-dir", def.DataDir, "directory for all stored data")
		httpAddr     = fs.String("http-addr", def.HTTP.Addr, "address for the UI, the Prometheus API, remote write and push")
		grpcAddr     = fs.String("otlp-grpc-addr", def.OTLP.GRPCAddr, "address for OTLP over gRPC; empty disables it")
		otlpHTTPAddr = fs.String("otlp-http-addr", def.OTLP.HTTPAddr, "address for OTLP over HTTP; empty disables it")
		retTime      = fs.String("retention-time", def.Storage.RetentionTime.String(), "how long to keep metrics, e.g. 15d, 90d, 1y")
		retSize      = fs.String("retention-size", "0", "maximum size of stored metrics, e.g. 10GB; 0 means no limit")
		scrapeInt    = fs.String("scrape-interval", def.Scrape.Interval.String(), "interval for --scrape-target and --scrape-file-sd targets")
		hostMetrics  = fs.Bool("host-metrics", def.HostMetrics.Enabled, "collect this machine's CPU, memory, disk and network metrics")
		hostInt      = fs.String("host-metrics-interval", def.HostMetrics.Interval.String(), "how often to collect host metrics")
		tlsCert      = fs.String("tls-cert-file", "", "TLS certificate for every listener (PEM)")
		tlsKey       = fs.String("tls-key-file", "", "TLS private key for every listener (PEM)")
		writeTokFile = fs.String("write-token-file", "", "file holding the bearer token required to write (or set VIGIL_WRITE_TOKEN)")
		readTokFile  = fs.String("read-token-file", "", "file holding the bearer token required to read (or set VIGIL_READ_TOKEN)")
		logLevel     = fs.String("log-level", def.Log.Level, "log level: debug, info, warn, error")
		logFormat    = fs.String("log-format", def.Log.Format, "log format: logfmt or json")
		targets      stringList
		fileSD       stringList
	)
	fs.Var(&targets, "scrape-target", "host:port of a /metrics endpoint to scrape (repeatable)")
	fs.Var(&fileSD, "scrape-file-sd", "Prometheus file_sd file (glob) listing targets to scrape (repeatable)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return config.Config{}, flag.ErrHelp
		}
		return config.Config{}, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return config.Config{}, usageError{fmt.Sprintf("unexpected arguments: %s", strings.Join(fs.Args(), " "))}
	}

	cfg := def
	if *cfgFile != "" {
		var err error
		if cfg, err = config.Load(*cfgFile); err != nil {
			return cfg, err
		}
	}
	var errs []error
	duration := func(name, v string, dst *model.Duration) {
		d, err := model.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", name, err))
			return
		}
		*dst = d
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "data-dir":
			cfg.DataDir = *dataDir
		case "http-addr":
			cfg.HTTP.Addr = *httpAddr
		case "otlp-grpc-addr":
			cfg.OTLP.GRPCAddr = *grpcAddr
		case "otlp-http-addr":
			cfg.OTLP.HTTPAddr = *otlpHTTPAddr
		case "retention-time":
			duration(f.Name, *retTime, &cfg.Storage.RetentionTime)
		case "retention-size":
			n, err := config.ParseByteSize(*retSize)
			if err != nil {
				errs = append(errs, fmt.Errorf("--retention-size: %w", err))
			}
			cfg.Storage.RetentionSize = n
		case "scrape-interval":
			duration(f.Name, *scrapeInt, &cfg.Scrape.Interval)
		case "host-metrics":
			cfg.HostMetrics.Enabled = *hostMetrics
		case "host-metrics-interval":
			duration(f.Name, *hostInt, &cfg.HostMetrics.Interval)
		case "tls-cert-file":
			cfg.HTTP.TLS.CertFile, cfg.OTLP.TLS.CertFile = *tlsCert, *tlsCert
		case "tls-key-file":
			cfg.HTTP.TLS.KeyFile, cfg.OTLP.TLS.KeyFile = *tlsKey, *tlsKey
		case "write-token-file":
			cfg.Auth.WriteTokenFile = *writeTokFile
		case "read-token-file":
			cfg.Auth.ReadTokenFile = *readTokFile
		case "log-level":
			cfg.Log.Level = *logLevel
		case "log-format":
			cfg.Log.Format = *logFormat
		case "scrape-target":
			cfg.Scrape.Targets = append(cfg.Scrape.Targets, targets...)
		case "scrape-file-sd":
			cfg.Scrape.FileSD = append(cfg.Scrape.FileSD, fileSD...)
		}
	})
	if err := errors.Join(errs...); err != nil {
		return cfg, usageError{err.Error()}
	}
	if err := cfg.Resolve(getenv); err != nil {
		return cfg, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("invalid configuration: %w", err)
	}
	return cfg, nil
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func newLogger(c config.LogConfig, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
