// Package promapi serves the Prometheus HTTP API (/api/v1/...) over Vigil's
// metrics store, answered by Prometheus' own API code and PromQL engine so
// that JSON shapes, status codes and error bodies are those of Prometheus.
//
// Prometheus' API constructor takes some forty positional parameters; this
// package keeps that call in one place behind Options.
package promapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/grafana/regexp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/route"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/util/notifications"
	v1 "github.com/prometheus/prometheus/web/api/v1"

	"github.com/vigilhq/vigil/storage/metricstore"
)

// Targets is what the API needs of the scrape manager; nil means no
// scraping is configured.
type Targets interface {
	v1.TargetRetriever
	v1.ScrapePoolsRetriever
}

// Options configure the API.
type Options struct {
	Store *metricstore.Store
	// Targets reports scrape targets for /api/v1/targets; may be nil.
	Targets func() Targets
	// Config returns the Prometheus-format configuration in force (scrape
	// jobs), for /api/v1/status/config.
	Config func() promconfig.Config
	// Flags are shown by /api/v1/status/flags.
	Flags map[string]string
	// Version, Revision describe this build for /api/v1/status/buildinfo.
	Version, Revision, BuildDate string
	// LookbackDelta is PromQL's staleness window (default 5m).
	LookbackDelta time.Duration
	// QueryTimeout bounds one query (default 2m).
	QueryTimeout time.Duration
	// MaxSamples bounds the samples one query may hold in memory (default
	// 50 million, as Prometheus).
	MaxSamples int
	// CORSOrigin matches the origins allowed to call the API from a
	// browser on another site; nil allows none.
	CORSOrigin *regexp.Regexp
	// Rules, if set, gives the rule manager for /api/v1/rules and
	// /api/v1/alerts; without it both answer empty.
	Rules func() v1.RulesRetriever
	// Alertmanagers, if set, lists where alerts are sent for
	// /api/v1/alertmanagers.
	Alertmanagers func() v1.AlertmanagerRetriever
	// Ready tells whether the server is ready to answer.
	Ready      func() bool
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
}

// API is the mounted Prometheus API and the engine behind it.
type API struct {
	Engine  *promql.Engine
	handler http.Handler
	store   *metricstore.Store
	start   time.Time
}

// New builds the engine and the API.
func New(o Options) *API {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.LookbackDelta <= 0 {
		o.LookbackDelta = 5 * time.Minute
	}
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = 2 * time.Minute
	}
	if o.MaxSamples <= 0 {
		o.MaxSamples = 50_000_000
	}
	if o.Ready == nil {
		o.Ready = func() bool { return true }
	}
	engine := promql.NewEngine(promql.EngineOpts{
		Logger:               o.Logger.With("component", "promql"),
		Reg:                  o.Registerer,
		MaxSamples:           o.MaxSamples,
		Timeout:              o.QueryTimeout,
		LookbackDelta:        o.LookbackDelta,
		EnableAtModifier:     true,
		EnableNegativeOffset: true,
		EnablePerStepStats:   true,
		NoStepSubqueryIntervalFn: func(int64) int64 {
			return (time.Minute).Milliseconds()
		},
	})
	a := &API{Engine: engine, store: o.Store, start: time.Now()}

	targets := func(context.Context) v1.TargetRetriever {
		if o.Targets != nil {
			if t := o.Targets(); t != nil {
				return t
			}
		}
		return noTargets{}
	}
	pools := func(context.Context) v1.ScrapePoolsRetriever {
		if o.Targets != nil {
			if t := o.Targets(); t != nil {
				return t
			}
		}
		return noTargets{}
	}
	if o.Config == nil {
		o.Config = func() promconfig.Config { return promconfig.DefaultConfig }
	}
	ready := func(f http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if !o.Ready() {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintln(w, "Service Unavailable")
				return
			}
			f(w, r)
		}
	}
	build := &v1.PrometheusVersion{
		Version:   o.Version,
		Revision:  o.Revision,
		Branch:    "",
		BuildUser: "",
		BuildDate: o.BuildDate,
		GoVersion: runtime.Version(),
	}
	// Prometheus's API dereferences the CORS pattern whenever a request
	// carries an Origin header (every browser POST), so it is never nil.
	cors := o.CORSOrigin
	if cors == nil {
		cors = regexp.MustCompile(`^$`)
	}
	api := v1.NewAPI(
		engine,
		o.Store,
		nil, nil, // remote write is served by ingest/remotewrite
		o.Store,
		pools,
		targets,
		func(context.Context) v1.AlertmanagerRetriever {
			if o.Alertmanagers != nil {
				if r := o.Alertmanagers(); r != nil {
					return r
				}
			}
			return noAlertmanagers{}
		},
		o.Config,
		o.Flags,
		v1.GlobalURLOptions{},
		ready,
		adminStats{o.Store},
		o.Store.Dir(),
		true, // admin API: snapshots and deletes, behind the read token like the rest
		o.Logger.With("component", "api"),
		func(context.Context) v1.RulesRetriever {
			if o.Rules != nil {
				if r := o.Rules(); r != nil {
					return r
				}
			}
			return noRules{}
		},
		0, 0, 0, // remote read is not served
		false,
		cors,
		a.runtimeInfo,
		build,
		func() []notifications.Notification { return nil },
		func() (<-chan notifications.Notification, func(), bool) { return nil, func() {}, false },
		o.Gatherer,
		o.Registerer,
		nil,
		false, nil,
		false, false, false,
		false,
		o.LookbackDelta,
		false,
		false,
		nil,
		nil,
		v1.OpenAPIOptions{Version: o.Version},
	)
	router := route.New()
	api.Register(router.WithPrefix("/api/v1"))

	mux := http.NewServeMux()
	mux.Handle("/api/v1/", router)
	mux.HandleFunc("/api/v1/metadata", ready(a.metadata))
	a.handler = mux
	return a
}

// ServeHTTP serves /api/v1/.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }

func (a *API) runtimeInfo() (v1.RuntimeInfo, error) {
	cwd, _ := os.Getwd()
	host, _ := os.Hostname()
	return v1.RuntimeInfo{
		StartTime:           a.start,
		CWD:                 cwd,
		Hostname:            host,
		ServerTime:          time.Now().UTC(),
		ReloadConfigSuccess: true,
		LastConfigTime:      a.start,
		GoroutineCount:      runtime.NumGoroutine(),
		GOMAXPROCS:          runtime.GOMAXPROCS(0),
		GOMEMLIMIT:          debug.SetMemoryLimit(-1),
		GOGC:                os.Getenv("GOGC"),
		GODEBUG:             os.Getenv("GODEBUG"),
		StorageRetention:    "",
	}, nil
}

// metadata serves /api/v1/metadata from the store's metadata, which every
// ingest path feeds (Prometheus' own handler only sees scrape targets).
func (a *API) metadata(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit")
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	perMetric, err := intParam(r, "limit_per_metric")
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	type entry struct {
		Type string `json:"type"`
		Help string `json:"help"`
		Unit string `json:"unit"`
	}
	out := map[string][]entry{}
	for name, ms := range a.store.Metadata(r.FormValue("metric"), limit) {
		for i, m := range ms {
			if perMetric > 0 && i >= perMetric {
				break
			}
			out[name] = append(out[name], entry{Type: string(m.Type), Help: m.Help, Unit: m.Unit})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "data": out})
}

func intParam(r *http.Request, name string) (int, error) {
	s := r.FormValue(name)
	if s == "" {
		return -1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("invalid parameter %q: %w", name, err)
	}
	return n, nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, typ, msg string) {
	writeJSON(w, code, map[string]any{"status": "error", "errorType": typ, "error": msg})
}

// adminStats adapts the store to the API's TSDB status and admin needs.
type adminStats struct{ s *metricstore.Store }

func (a adminStats) CleanTombstones() error { return a.s.DB().CleanTombstones() }
func (a adminStats) Delete(ctx context.Context, mint, maxt int64, ms ...*labels.Matcher) error {
	return a.s.DB().Delete(ctx, mint, maxt, ms...)
}
func (a adminStats) Snapshot(dir string, withHead bool) error {
	return a.s.DB().Snapshot(dir, withHead)
}
func (a adminStats) Stats(statsByLabelName string, limit int) (*tsdb.Stats, error) {
	return a.s.DB().Head().Stats(statsByLabelName, limit), nil
}
func (a adminStats) WALReplayStatus() (tsdb.WALReplayStatus, error) {
	return a.s.WALReplayStatus(), nil
}
func (a adminStats) BlockMetas() ([]tsdb.BlockMeta, error) { return a.s.DB().BlockMetas(), nil }

type noTargets struct{}

func (noTargets) TargetsActive() map[string][]*scrape.Target  { return nil }
func (noTargets) TargetsDropped() map[string][]*scrape.Target { return nil }
func (noTargets) TargetsDroppedCounts() map[string]int        { return nil }
func (noTargets) ScrapePoolConfig(string) (*promconfig.ScrapeConfig, error) {
	return nil, fmt.Errorf("no scrape pools are configured")
}
func (noTargets) ScrapePools() []string { return nil }

type noAlertmanagers struct{}

func (noAlertmanagers) Alertmanagers() []*url.URL        { return nil }
func (noAlertmanagers) DroppedAlertmanagers() []*url.URL { return nil }

type noRules struct{}

func (noRules) RuleGroups() []*rules.Group           { return nil }
func (noRules) AlertingRules() []*rules.AlertingRule { return nil }
