package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilhq/vigil/api/lokiapi"
	"github.com/vigilhq/vigil/config"
	"github.com/vigilhq/vigil/ingest"
	"github.com/vigilhq/vigil/ingest/bulk"
	"github.com/vigilhq/vigil/ingest/jsonlines"
	"github.com/vigilhq/vigil/ingest/logline"
	"github.com/vigilhq/vigil/ingest/loki"
	"github.com/vigilhq/vigil/ingest/otlp"
	"github.com/vigilhq/vigil/ingest/syslog"
	"github.com/vigilhq/vigil/logs/logql"
	"github.com/vigilhq/vigil/logs/redact"
	"github.com/vigilhq/vigil/logs/store"
	"github.com/vigilhq/vigil/logs/tail"
	"github.com/vigilhq/vigil/logs/writer"
	"github.com/vigilhq/vigil/storage/events"
	"github.com/vigilhq/vigil/storage/logs"
)

// logPipeline is everything logs pass through: receivers → writer
// (truncation, redaction, limits) → event store, with live tails fed
// after the store took a batch, and the LogQL engine and Loki API on
// the read side.
type logPipeline struct {
	events *events.Store[logs.Record]
	store  *store.Store
	broker *tail.Broker
	writer *writer.Writer
	api    *lokiapi.Handler
	lines  *prometheus.CounterVec

	loki   *loki.Handler
	jsonl  *jsonlines.Handler
	bulk   *bulk.Handler
	otlp   *otlp.LogsReceiver
	syslog *syslog.Server // nil unless a syslog address is set
}

// BulkPrefix is where the Elasticsearch bulk API is mounted (as
// VictoriaLogs mounts it), so shippers' ES outputs point at
// http://host:port/insert/elasticsearch.
const BulkPrefix = "/insert/elasticsearch"

func openLogs(cfg config.Config, reg prometheus.Registerer, metrics *ingest.Metrics, log *slog.Logger) (_ *logPipeline, err error) {
	lp := &logPipeline{}
	lp.events, err = events.Open(events.Options[logs.Record]{
		Dir:          filepath.Join(cfg.DataDir, "logs"),
		Schema:       logs.Schema,
		Compare:      logs.Compare,
		RowGroupRows: logs.RowGroupRows,
		Extra:        logs.Extra,
		Codec:        &events.Codec[logs.Record]{Append: logs.AppendBatch, Decode: logs.DecodeBatch},
		RowBytes:     func(r *logs.Record) int { return r.Bytes() },
		// A merge holds its rows in memory (about 300 B a line with
		// its maps, and the request bodies they point into until a
		// part is written): 500k lines keeps a merge near 150 MB.
		MaxPartRows:  500_000,
		MinFreeBytes: int64(cfg.Logs.MinFreeDisk),
		Logger:       log.With("component", "logs"),
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = lp.events.Close()
		}
	}()
	rc := cfg.Logs.Redaction
	rules := make([]redact.Rule, 0, len(rc.Rules))
	for _, r := range rc.Rules {
		rules = append(rules, redact.Rule{Name: r.Name, Pattern: r.Regex, Replacement: r.Replacement})
	}
	red, err := redact.New(redact.Options{CreditCards: rc.CreditCards, Emails: rc.Emails, Secrets: rc.Secrets, IPAddresses: rc.IPAddresses, Rules: rules, Registerer: reg})
	if err != nil {
		return nil, fmt.Errorf("logs.redaction: %w", err)
	}
	var redactor writer.Redactor
	if red.Enabled() {
		redactor = red
	}
	lp.broker = tail.New(0, reg)
	// Lines stored per service and level: a metric to chart and alert on
	// without a log query (bounded by the stream limits).
	lp.lines = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_log_lines_total",
		Help: "Log lines stored, by service and level.",
	}, []string{"service", "level"})
	reg.MustRegister(lp.lines)
	ll := cfg.Logs.Limits
	lp.writer = writer.New(writer.Options{
		Store:    lp.events,
		Redactor: redactor,
		Limits: writer.Limits{
			MaxLineBytes:  int(ll.MaxLineBytes),
			IngestionRate: int(ll.IngestionRate), IngestionBurst: int(ll.IngestionBurst),
			StreamRate: int(ll.StreamRate), StreamBurst: int(ll.StreamBurst),
			MaxStreams: ll.MaxStreams, MaxLabelsPerStream: ll.MaxLabelsPerStream,
			MaxLabelNameLength: ll.MaxLabelNameLength, MaxLabelValueLength: ll.MaxLabelValueLength,
		},
		Observe:    lp.observe,
		Registerer: reg,
		Logger:     log.With("component", "logs"),
	})
	lp.store = store.New(lp.events)
	engine := logql.NewEngine(lp.store, logql.Options{})
	lp.api = lokiapi.New(lokiapi.Options{Engine: engine, Streams: lp.store, Tail: lp.broker, Logger: log.With("component", "lokiapi")})

	sink := logline.Sink(lp.writer)
	lp.loki = loki.New(loki.Options{Sink: sink, MaxRequestBytes: cfg.Limits.MaxRequestBytes, Metrics: metrics, Logger: log.With("component", "loki")})
	lp.jsonl = jsonlines.New(jsonlines.Options{Sink: sink, MaxRequestBytes: cfg.Limits.MaxRequestBytes, Metrics: metrics, Logger: log.With("component", "jsonline")})
	lp.bulk = bulk.New(bulk.Options{Sink: sink, Prefix: BulkPrefix, MaxRequestBytes: cfg.Limits.MaxRequestBytes, Metrics: metrics, Logger: log.With("component", "bulk")})
	lp.otlp = otlp.NewLogs(otlp.LogsOptions{Sink: sink, MaxRequestBytes: cfg.Limits.MaxRequestBytes, MaxRecords: cfg.Limits.MaxSamplesPerRequest, Metrics: metrics, Logger: log.With("component", "otlp")})
	if cfg.Logs.SyslogUDPAddr != "" || cfg.Logs.SyslogTCPAddr != "" {
		lp.syslog, err = syslog.New(syslog.Options{Sink: sink, UDPAddr: cfg.Logs.SyslogUDPAddr, TCPAddr: cfg.Logs.SyslogTCPAddr, Metrics: metrics, Logger: log.With("component", "syslog")})
		if err != nil {
			return nil, fmt.Errorf("cannot listen for syslog (logs.syslog_udp_addr, logs.syslog_tcp_addr): %w", err)
		}
	}
	return lp, nil
}

// observe sees every stored batch: live tails and the line counters.
func (lp *logPipeline) observe(recs []logs.Record) {
	lp.broker.Publish(recs)
	var last *logs.Record
	var n float64
	flush := func() {
		if last != nil {
			lp.lines.WithLabelValues(last.Service, last.Level()).Add(n)
		}
	}
	for i := range recs {
		r := &recs[i]
		if last != nil && r.Service == last.Service && r.SeverityNumber == last.SeverityNumber {
			n++
			continue
		}
		flush()
		last, n = r, 1
	}
	flush()
}

// mount adds the log endpoints to the main mux.
func (lp *logPipeline) mount(mux *http.ServeMux, write, read func(http.Handler) http.Handler) {
	mux.Handle("/loki/api/v1/push", write(withTenant(lp.loki)))
	mux.Handle("/api/prom/push", write(withTenant(lp.loki)))
	mux.Handle("/insert/jsonline", write(withTenant(lp.jsonl)))
	mux.Handle(BulkPrefix+"/", write(withTenant(lp.bulk)))
	mux.Handle(BulkPrefix, write(withTenant(lp.bulk)))
	for _, p := range lokiapi.Patterns {
		mux.Handle(p, read(lp.api))
	}
}

// withTenant takes the tenant from X-Scope-OrgID, as Loki does; limits
// are kept per tenant.
func withTenant(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t := r.Header.Get("X-Scope-OrgID"); t != "" {
			if len(t) > 150 {
				http.Error(w, "X-Scope-OrgID is longer than 150 characters", http.StatusBadRequest)
				return
			}
			r = r.WithContext(logline.WithTenant(r.Context(), t))
		}
		h.ServeHTTP(w, r)
	})
}

// applyRetention drops log parts older than the retention time or over
// logs.retention_size.
func (lp *logPipeline) applyRetention(cfg config.Config, log *slog.Logger) {
	cutoff := time.Now().Add(-time.Duration(cfg.Storage.RetentionTime)).UnixNano()
	if n, err := lp.events.DropBefore(cutoff); err != nil {
		log.Warn("cannot apply log retention", "err", err)
	} else if n > 0 {
		log.Info("dropped expired log parts", "parts", n)
	}
	if max := int64(cfg.Logs.RetentionSize); max > 0 {
		if n, err := lp.events.DropToSize(max); err != nil {
			log.Warn("cannot apply log size retention", "err", err)
		} else if n > 0 {
			log.Info("dropped log parts over logs.retention_size", "parts", n)
		}
	}
}

// run runs the log store's background work and the syslog listeners
// until ctx is done.
func (lp *logPipeline) run(ctx context.Context, goLoop func(name string, f func() error)) {
	goLoop("log store", func() error { return lp.events.Run(ctx) })
	if lp.syslog != nil {
		goLoop("syslog", func() error { return lp.syslog.Run(ctx) })
	}
}
