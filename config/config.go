// Package config is Vigil's configuration: one YAML file whose every setting
// has a default and, for the common ones, a command-line flag that wins over
// the file. Scrape jobs use Prometheus' own scrape_config format, so an
// existing prometheus.yml section can be pasted in unchanged.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	_ "github.com/prometheus/prometheus/discovery/file" // file_sd_configs, the one discovery Vigil builds in
	"gopkg.in/yaml.v3"

	"github.com/vigilhq/vigil/limits"
)

// Config is the whole of Vigil's configuration.
type Config struct {
	DataDir     string            `yaml:"data_dir"`
	HTTP        HTTPConfig        `yaml:"http"`
	OTLP        OTLPConfig        `yaml:"otlp"`
	Auth        AuthConfig        `yaml:"auth"`
	Storage     StorageConfig     `yaml:"storage"`
	Limits      limits.Config     `yaml:"limits"`
	Scrape      ScrapeConfig      `yaml:"scrape"`
	HostMetrics HostMetricsConfig `yaml:"host_metrics"`
	Push        PushConfig        `yaml:"push"`
	Traces      TracesConfig      `yaml:"traces"`
	Logs        LogsConfig        `yaml:"logs"`
	Rules       RulesConfig       `yaml:"rules"`
	Alerting    AlertingConfig    `yaml:"alerting"`
	SLO         SLOConfig         `yaml:"slo"`
	Actions     ActionsConfig     `yaml:"actions"`
	Anomaly     AnomalyConfig     `yaml:"anomaly"`
	Log         LogConfig         `yaml:"log"`

	// ScrapeConfigs are Prometheus scrape_configs, verbatim, parsed and
	// validated by Prometheus' own loader (see Prometheus). Only static and
	// file-based discovery are built in.
	ScrapeConfigs []yaml.Node `yaml:"scrape_configs"`
}

// HTTPConfig is the main listener: UI, query API, remote write, push.
type HTTPConfig struct {
	Addr string    `yaml:"addr"`
	TLS  TLSConfig `yaml:"tls"`
	// CORSOrigin is a regular expression (anchored) of the browser origins
	// allowed to call the API from other sites, as Prometheus's
	// --web.cors.origin. Empty allows none: a page on another site cannot
	// read a Vigil on this machine's loopback unless told so.
	CORSOrigin string `yaml:"cors_origin"`
}

// OTLPConfig are the OpenTelemetry listeners. An empty address disables one.
type OTLPConfig struct {
	GRPCAddr string    `yaml:"grpc_addr"`
	HTTPAddr string    `yaml:"http_addr"`
	TLS      TLSConfig `yaml:"tls"`
}

// TLSConfig enables TLS on a listener when both files are set.
type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Enabled reports whether TLS is configured.
func (t TLSConfig) Enabled() bool { return t.CertFile != "" }

// AuthConfig holds the optional bearer tokens. Writing (ingest) and reading
// (queries, UI data) are separate so a service's token cannot read others'
// data. Tokens come from files or environment variables, never flags, so
// they do not show up in process listings.
type AuthConfig struct {
	WriteTokenFile string `yaml:"write_token_file"`
	ReadTokenFile  string `yaml:"read_token_file"`

	// WriteToken and ReadToken are resolved from the files or from
	// VIGIL_WRITE_TOKEN / VIGIL_READ_TOKEN by Resolve; not read from YAML.
	WriteToken string `yaml:"-"`
	ReadToken  string `yaml:"-"`
}

// StorageConfig configures the embedded metrics store.
type StorageConfig struct {
	RetentionTime    model.Duration `yaml:"retention_time"`
	RetentionSize    ByteSize       `yaml:"retention_size"`
	OutOfOrderWindow model.Duration `yaml:"out_of_order_window"`
	MaxExemplars     int64          `yaml:"max_exemplars"`
}

// ScrapeConfig is the shorthand for scraping without writing Prometheus
// scrape_configs: static targets and file discovery in one job.
type ScrapeConfig struct {
	Interval model.Duration `yaml:"interval"`
	Timeout  model.Duration `yaml:"timeout"`
	Job      string         `yaml:"job"`
	Targets  []string       `yaml:"targets"`
	FileSD   []string       `yaml:"file_sd"`
}

// HostMetricsConfig controls the built-in host metrics.
type HostMetricsConfig struct {
	Enabled  bool           `yaml:"enabled"`
	Interval model.Duration `yaml:"interval"`
}

// PushConfig controls the Pushgateway-compatible endpoint.
type PushConfig struct {
	// Interval is how often pushed groups are written again, keeping them
	// visible to queries as a scraped Pushgateway would.
	Interval model.Duration `yaml:"interval"`
}

// TracesConfig controls the trace pipeline.
type TracesConfig struct {
	// RetentionSize bounds the span store on disk; the oldest parts go
	// first. 0 means no size limit (storage.retention_time still applies).
	RetentionSize ByteSize `yaml:"retention_size"`
	// MinFreeDisk is the free space below which span ingest is refused
	// (503, retryable) rather than risking a half-written part.
	MinFreeDisk  ByteSize           `yaml:"min_free_disk"`
	TailSampling TailSamplingConfig `yaml:"tail_sampling"`
	// DerivedMetricsInterval is how often the span and service-graph
	// metrics are written to the metrics store.
	DerivedMetricsInterval model.Duration `yaml:"derived_metrics_interval"`
}

// TailSamplingConfig keeps every trace with an error or a slow span and a
// fraction of the rest, deciding once a trace's spans have arrived. Off by
// default: spans waiting for a decision are only in memory.
type TailSamplingConfig struct {
	Enabled      bool           `yaml:"enabled"`
	DecisionWait model.Duration `yaml:"decision_wait"`
	// Fraction of ordinary traces kept, 0..1.
	Fraction float64 `yaml:"fraction"`
	// LatencyThreshold keeps traces with a span at least this long; 0 is off.
	LatencyThreshold model.Duration `yaml:"latency_threshold"`
	MaxTraces        int            `yaml:"max_traces"`
}

// RulesConfig lists Prometheus recording and alerting rule files, in
// Prometheus's format (promtool check rules accepts them).
type RulesConfig struct {
	// Files are paths or globs; a pattern matching nothing is an error.
	Files []string `yaml:"files"`
	// EvaluationInterval is the interval of groups that set none.
	EvaluationInterval model.Duration `yaml:"evaluation_interval"`
}

// AlertingConfig is where alerts go: the embedded Alertmanager (its own
// alertmanager.yml, unchanged) and, optionally, external Alertmanagers.
type AlertingConfig struct {
	// AlertmanagerConfig is an Alertmanager configuration file for the
	// embedded Alertmanager. Empty: alerts are routed to a receiver with
	// no integrations (listed, silenced, recorded, acted on; sent nowhere).
	AlertmanagerConfig string `yaml:"alertmanager_config"`
	// Alertmanagers are external Alertmanagers, in the format of the
	// alertmanagers list of prometheus.yml's alerting section.
	Alertmanagers []yaml.Node `yaml:"alertmanagers"`
	// ExternalURL is how receivers link back to Vigil; default
	// http://<http.addr>.
	ExternalURL string `yaml:"external_url"`
	// Retention keeps expired silences and notification log entries
	// (Alertmanager's --data.retention).
	Retention model.Duration `yaml:"retention"`
	// HistoryRetention keeps the alert history (every state change).
	HistoryRetention model.Duration `yaml:"history_retention"`
}

// SLOConfig lists SLO spec files (see docs/alerting.md); each compiles
// into recording rules and burn-rate alerts evaluated with the rules.
type SLOConfig struct {
	Files []string `yaml:"files"`
}

// ActionsConfig lists remediation action files (see docs/actions.md).
type ActionsConfig struct {
	Files []string `yaml:"files"`
	// AuditRetention keeps the audit records of action runs.
	AuditRetention model.Duration `yaml:"audit_retention"`
}

// AnomalyConfig controls anomaly rules (written in rule files beside
// recording and alerting rules, see docs/anomaly.md) and the built-in
// ones.
type AnomalyConfig struct {
	// DefaultRules watches every service's request rate, error ratio and
	// p99 latency (span metrics and common HTTP metric names) with
	// built-in anomaly rules. On by default; a rule whose metrics are
	// absent costs one empty query a minute.
	DefaultRules bool `yaml:"default_rules"`
	// DefaultRulesInterval is how often the built-in rules evaluate.
	DefaultRulesInterval model.Duration `yaml:"default_rules_interval"`
	// Backfill warms a rule that has no saved state from this much of its
	// expression's stored history at its first evaluation (0: start cold).
	Backfill model.Duration `yaml:"backfill"`
	// MaxSeriesPerRule bounds the series one rule watches (each holds
	// about 16 KiB of detector state).
	MaxSeriesPerRule int `yaml:"max_series_per_rule"`
	// SaveInterval is how often the detectors are saved to the data
	// directory (and at shutdown), so a restart resumes them.
	SaveInterval model.Duration `yaml:"save_interval"`
}

// LogsConfig controls the log pipeline (the logs Vigil stores, not its
// own log: see LogConfig).
type LogsConfig struct {
	// SyslogUDPAddr and SyslogTCPAddr are the syslog listeners (RFC 5424
	// and RFC 3164); empty disables one. Off by default: syslog has no
	// authentication.
	SyslogUDPAddr string `yaml:"syslog_udp_addr"`
	SyslogTCPAddr string `yaml:"syslog_tcp_addr"`
	// RetentionSize bounds the log store on disk; the oldest parts go
	// first. 0 means no size limit (storage.retention_time still applies).
	RetentionSize ByteSize `yaml:"retention_size"`
	// MinFreeDisk is the free space below which log ingest is refused.
	MinFreeDisk ByteSize        `yaml:"min_free_disk"`
	Limits      LogLimits       `yaml:"limits"`
	Redaction   RedactionConfig `yaml:"redaction"`
}

// LogLimits bound what log shippers can make Vigil store. Rates are
// token buckets in bytes of log lines per second with a burst; a refused
// batch is answered 429 with the limit's name, so shippers back off.
type LogLimits struct {
	// MaxLineBytes truncates longer lines (marked and counted).
	MaxLineBytes ByteSize `yaml:"max_line_bytes"`
	// IngestionRate and IngestionBurst are per tenant (the X-Scope-OrgID
	// header, as Loki; "default" without it).
	IngestionRate  ByteSize `yaml:"ingestion_rate"`
	IngestionBurst ByteSize `yaml:"ingestion_burst"`
	// StreamRate and StreamBurst are per stream.
	StreamRate  ByteSize `yaml:"stream_rate"`
	StreamBurst ByteSize `yaml:"stream_burst"`
	// MaxStreams bounds the streams active (written to within the last
	// hour); a new stream beyond it is refused.
	MaxStreams int `yaml:"max_streams"`
	// MaxLabelsPerStream, MaxLabelNameLength and MaxLabelValueLength
	// bound a stream's labels, as Loki's limits of the same names.
	MaxLabelsPerStream  int `yaml:"max_labels_per_stream"`
	MaxLabelNameLength  int `yaml:"max_label_name_length"`
	MaxLabelValueLength int `yaml:"max_label_value_length"`
}

// RedactionConfig masks secrets and personal data in log records before
// they are written. See logs/redact for what each detector masks.
type RedactionConfig struct {
	CreditCards bool            `yaml:"credit_cards"`
	Emails      bool            `yaml:"emails"`
	Secrets     bool            `yaml:"secrets"`
	IPAddresses bool            `yaml:"ip_addresses"`
	Rules       []RedactionRule `yaml:"rules"`
}

// RedactionRule is a user-defined mask: every match of Regex (RE2) is
// replaced by Replacement (default "[REDACTED:<name>]").
type RedactionRule struct {
	Name        string `yaml:"name"`
	Regex       string `yaml:"regex"`
	Replacement string `yaml:"replacement"`
}

// LogConfig controls Vigil's own log.
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"` // logfmt or json
}

// Default returns the configuration used when nothing is set: loopback
// listeners, data in ./data, host metrics on.
func Default() Config {
	return Config{
		DataDir: "data",
		HTTP:    HTTPConfig{Addr: "127.0.0.1:9090"},
		OTLP:    OTLPConfig{GRPCAddr: "127.0.0.1:4317", HTTPAddr: "127.0.0.1:4318"},
		Storage: StorageConfig{
			RetentionTime:    model.Duration(15 * 24 * time.Hour),
			OutOfOrderWindow: model.Duration(30 * time.Minute),
			MaxExemplars:     100_000,
		},
		Limits: limits.DefaultConfig(),
		Scrape: ScrapeConfig{
			Interval: model.Duration(15 * time.Second),
			Timeout:  model.Duration(10 * time.Second),
			Job:      "vigil-scrape",
		},
		HostMetrics: HostMetricsConfig{Enabled: true, Interval: model.Duration(5 * time.Second)},
		Push:        PushConfig{Interval: model.Duration(15 * time.Second)},
		Traces: TracesConfig{
			MinFreeDisk: 256 << 20,
			TailSampling: TailSamplingConfig{
				DecisionWait:     model.Duration(5 * time.Second),
				Fraction:         0.1,
				LatencyThreshold: model.Duration(time.Second),
				MaxTraces:        50_000,
			},
			DerivedMetricsInterval: model.Duration(5 * time.Second),
		},
		Rules: RulesConfig{EvaluationInterval: model.Duration(15 * time.Second)},
		Alerting: AlertingConfig{
			Retention:        model.Duration(120 * time.Hour),
			HistoryRetention: model.Duration(30 * 24 * time.Hour),
		},
		Actions: ActionsConfig{AuditRetention: model.Duration(30 * 24 * time.Hour)},
		Anomaly: AnomalyConfig{
			DefaultRules:         true,
			DefaultRulesInterval: model.Duration(time.Minute),
			Backfill:             model.Duration(7 * 24 * time.Hour),
			MaxSeriesPerRule:     1000,
			SaveInterval:         model.Duration(5 * time.Minute),
		},
		Logs: LogsConfig{
			MinFreeDisk: 256 << 20,
			Limits: LogLimits{
				MaxLineBytes:        256 << 10,
				IngestionRate:       64 << 20,
				IngestionBurst:      128 << 20,
				StreamRate:          16 << 20,
				StreamBurst:         32 << 20,
				MaxStreams:          100_000,
				MaxLabelsPerStream:  15,
				MaxLabelNameLength:  1024,
				MaxLabelValueLength: 2048,
			},
			Redaction: RedactionConfig{CreditCards: true, Emails: true, Secrets: true},
		},
		Log: LogConfig{Level: "info", Format: "logfmt"},
	}
}

// Load reads a YAML file over the defaults. Unknown keys are errors, so a
// typo does not silently leave a setting at its default.
func Load(path string) (Config, error) {
	cfg := Default()
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("cannot read config file: %w", err)
	}
	if err := Parse(b, &cfg); err != nil {
		return cfg, fmt.Errorf("cannot load config file %s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes YAML into cfg, keeping cfg's values for keys not present.
func Parse(b []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	// An empty file decodes to io.EOF: nothing set, defaults stand.
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// Prometheus returns the scrape jobs as a Prometheus configuration: the
// scrape_configs from the file, plus one job built from the scrape
// shorthand (flags --scrape-target and --scrape-file-sd) when it has targets.
// Prometheus' loader applies its defaults and validation, so the same YAML
// is accepted or refused exactly as prometheus.yml would be.
func (c *Config) Prometheus() (*promconfig.Config, error) {
	jobs := append([]yaml.Node(nil), c.ScrapeConfigs...)
	if len(c.Scrape.Targets) > 0 || len(c.Scrape.FileSD) > 0 {
		job := map[string]any{"job_name": c.Scrape.Job}
		if len(c.Scrape.Targets) > 0 {
			job["static_configs"] = []map[string]any{{"targets": c.Scrape.Targets}}
		}
		if len(c.Scrape.FileSD) > 0 {
			job["file_sd_configs"] = []map[string]any{{"files": c.Scrape.FileSD}}
		}
		var n yaml.Node
		if err := n.Encode(job); err != nil {
			return nil, fmt.Errorf("cannot encode scrape shorthand: %w", err)
		}
		jobs = append(jobs, n)
	}
	doc := map[string]any{
		"global": map[string]any{
			"scrape_interval": c.Scrape.Interval.String(),
			"scrape_timeout":  minDuration(c.Scrape.Timeout, c.Scrape.Interval).String(),
		},
		"scrape_configs": jobs,
	}
	if len(c.Alerting.Alertmanagers) > 0 {
		doc["alerting"] = map[string]any{"alertmanagers": c.Alerting.Alertmanagers}
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("cannot encode scrape_configs: %w", err)
	}
	pc, err := promconfig.Load(string(b), nil)
	if err != nil {
		return nil, fmt.Errorf("invalid scrape_configs or alerting.alertmanagers: %w", err)
	}
	return pc, nil
}

func minDuration(a, b model.Duration) model.Duration {
	if a < b {
		return a
	}
	return b
}

// Resolve reads token files and environment variables and fills defaults
// that depend on other settings. getenv is os.Getenv in production.
func (c *Config) Resolve(getenv func(string) string) error {
	read := func(file, env string) (string, error) {
		if file != "" {
			b, err := os.ReadFile(file)
			if err != nil {
				return "", fmt.Errorf("cannot read token file: %w", err)
			}
			tok := strings.TrimSpace(string(b))
			if tok == "" {
				return "", fmt.Errorf("token file %s is empty", file)
			}
			return tok, nil
		}
		return strings.TrimSpace(getenv(env)), nil
	}
	var err error
	if c.Auth.WriteToken, err = read(c.Auth.WriteTokenFile, "VIGIL_WRITE_TOKEN"); err != nil {
		return err
	}
	if c.Auth.ReadToken, err = read(c.Auth.ReadTokenFile, "VIGIL_READ_TOKEN"); err != nil {
		return err
	}
	return nil
}

// Validate reports the first setting that cannot work, naming it.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("data_dir (--data-dir) must not be empty")
	}
	if c.HTTP.Addr == "" {
		return errors.New("http.addr (--http-addr) must not be empty")
	}
	for name, addr := range map[string]string{"http.addr (--http-addr)": c.HTTP.Addr, "otlp.grpc_addr (--otlp-grpc-addr)": c.OTLP.GRPCAddr, "otlp.http_addr (--otlp-http-addr)": c.OTLP.HTTPAddr} {
		if addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("%s: %q is not host:port: %w", name, addr, err)
		}
	}
	for name, t := range map[string]TLSConfig{"http.tls": c.HTTP.TLS, "otlp.tls": c.OTLP.TLS} {
		if (t.CertFile == "") != (t.KeyFile == "") {
			return fmt.Errorf("%s: cert_file and key_file must be set together", name)
		}
	}
	if _, err := regexp.Compile("^(?:" + c.HTTP.CORSOrigin + ")$"); err != nil {
		return fmt.Errorf("http.cors_origin: %w", err)
	}
	if c.Storage.RetentionTime <= 0 {
		return errors.New("storage.retention_time (--retention-time) must be positive")
	}
	if c.Scrape.Interval <= 0 {
		return errors.New("scrape.interval (--scrape-interval) must be positive")
	}
	if c.HostMetrics.Enabled && c.HostMetrics.Interval <= 0 {
		return errors.New("host_metrics.interval (--host-metrics-interval) must be positive")
	}
	if c.Push.Interval <= 0 {
		return errors.New("push.interval must be positive")
	}
	if ts := c.Traces.TailSampling; ts.Enabled {
		if ts.Fraction < 0 || ts.Fraction > 1 {
			return fmt.Errorf("traces.tail_sampling.fraction must be between 0 and 1, not %v", ts.Fraction)
		}
		if ts.DecisionWait <= 0 {
			return errors.New("traces.tail_sampling.decision_wait must be positive")
		}
	}
	if c.Traces.DerivedMetricsInterval <= 0 {
		return errors.New("traces.derived_metrics_interval must be positive")
	}
	for name, addr := range map[string]string{"logs.syslog_udp_addr": c.Logs.SyslogUDPAddr, "logs.syslog_tcp_addr": c.Logs.SyslogTCPAddr} {
		if addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("%s: %q is not host:port: %w", name, addr, err)
		}
	}
	if c.Rules.EvaluationInterval <= 0 {
		return errors.New("rules.evaluation_interval must be positive")
	}
	if c.Alerting.Retention <= 0 || c.Alerting.HistoryRetention <= 0 || c.Actions.AuditRetention <= 0 {
		return errors.New("alerting.retention, alerting.history_retention and actions.audit_retention must be positive")
	}
	if c.Anomaly.Backfill < 0 || c.Anomaly.MaxSeriesPerRule <= 0 || c.Anomaly.SaveInterval <= 0 || c.Anomaly.DefaultRulesInterval <= 0 {
		return errors.New("anomaly.backfill must not be negative; anomaly.max_series_per_rule, save_interval and default_rules_interval must be positive")
	}
	if u := c.Alerting.ExternalURL; u != "" {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("alerting.external_url %q is not an http(s) URL", u)
		}
	}
	ll := c.Logs.Limits
	for name, v := range map[string]int64{"logs.limits.max_line_bytes": int64(ll.MaxLineBytes), "logs.limits.ingestion_rate": int64(ll.IngestionRate), "logs.limits.ingestion_burst": int64(ll.IngestionBurst), "logs.limits.stream_rate": int64(ll.StreamRate), "logs.limits.stream_burst": int64(ll.StreamBurst), "logs.limits.max_streams": int64(ll.MaxStreams), "logs.limits.max_labels_per_stream": int64(ll.MaxLabelsPerStream), "logs.limits.max_label_name_length": int64(ll.MaxLabelNameLength), "logs.limits.max_label_value_length": int64(ll.MaxLabelValueLength)} {
		if v <= 0 {
			return fmt.Errorf("%s must be positive", name)
		}
	}
	if ll.IngestionBurst < ll.MaxLineBytes || ll.StreamBurst < ll.MaxLineBytes {
		return errors.New("logs.limits.ingestion_burst and stream_burst must be at least logs.limits.max_line_bytes, or a single line could never pass")
	}
	for i, r := range c.Logs.Redaction.Rules {
		if r.Name == "" {
			return fmt.Errorf("logs.redaction.rules[%d]: name is required", i)
		}
		if _, err := regexp.Compile(r.Regex); err != nil || r.Regex == "" {
			return fmt.Errorf("logs.redaction.rules[%d] (%s): regex %q is not a valid RE2 expression: %v", i, r.Name, r.Regex, err)
		}
	}
	if _, err := c.Prometheus(); err != nil {
		return err
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level (--log-level) %q must be one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "logfmt", "json":
	default:
		return fmt.Errorf("log.format %q must be logfmt or json", c.Log.Format)
	}
	return nil
}

// ByteSize is a size in bytes written as a number or with a unit (KB, MB,
// GB, TB; powers of 1024 as Prometheus' --storage.tsdb.retention.size).
type ByteSize int64

// ParseByteSize parses "512MB", "10GB", "1.5TB" or a plain number of bytes.
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, nil
	}
	mult := int64(1)
	upper := strings.ToUpper(s)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"TIB", 1 << 40}, {"GIB", 1 << 30}, {"MIB", 1 << 20}, {"KIB", 1 << 10}, {"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(upper, u.suffix) {
			mult = u.mult
			s = strings.TrimSpace(s[:len(s)-len(u.suffix)])
			break
		}
	}
	var f float64
	if _, err := fmt.Sscanf(s, "%g", &f); err != nil || f < 0 {
		return 0, fmt.Errorf("invalid size %q: want a number with an optional unit such as 512MB or 10GB", s)
	}
	return ByteSize(f * float64(mult)), nil
}

// UnmarshalYAML accepts a number or a string with a unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return err
	}
	*b = v
	return nil
}
