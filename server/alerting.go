package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/alertmanager/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"

	"github.com/vigilhq/vigil/action"
	"github.com/vigilhq/vigil/alert"
	"github.com/vigilhq/vigil/alert/history"
	"github.com/vigilhq/vigil/config"
	"github.com/vigilhq/vigil/report"
	"github.com/vigilhq/vigil/ruler"
	"github.com/vigilhq/vigil/slo"
)

// alerting is everything after a rule fires: the embedded Alertmanager,
// external Alertmanagers, the alert history, SLOs and remediation actions.
type alerting struct {
	log     *slog.Logger
	hist    *history.Store
	am      *alert.Alertmanager
	ext     *alert.External
	acts    *action.Dispatcher
	slos    atomic.Pointer[[]slo.SLO]
	sloFile string // the rules compiled from the SLO specs
	query   slo.QueryFunc
}

// alertingFiles is what the configuration's alerting files hold, loaded
// and checked, so that a reload either applies all of it or none.
type alertingFiles struct {
	rules    []string // rule files and globs, the SLO rules not included
	slos     []slo.SLO
	sloRules []byte
	actions  []action.Action
	prom     *promconfig.Config // external Alertmanagers
}

// loadAlertingFiles reads and checks every file the alerting
// configuration names, returning every problem found.
func loadAlertingFiles(cfg config.Config) (alertingFiles, error) {
	var f alertingFiles
	var errs []error
	f.rules = cfg.Rules.Files
	if files, err := ruler.Expand(cfg.Rules.Files); err != nil {
		errs = append(errs, fmt.Errorf("rules.files: %w", err))
	} else {
		for _, e := range ruler.Check(files...) {
			errs = append(errs, fmt.Errorf("rules.files: %w", e))
		}
	}
	if cfg.Alerting.AlertmanagerConfig != "" {
		if err := alert.CheckConfig(cfg.Alerting.AlertmanagerConfig); err != nil {
			errs = append(errs, fmt.Errorf("alerting.alertmanager_config: %w", err))
		}
	}
	if len(cfg.SLO.Files) > 0 {
		slos, err := slo.LoadFiles(cfg.SLO.Files)
		if err != nil {
			errs = append(errs, fmt.Errorf("slo.files: %w", err))
		} else {
			f.slos = slos
			if f.sloRules, err = slo.RuleFile(slos); err != nil {
				errs = append(errs, fmt.Errorf("slo.files: %w", err))
			}
		}
	}
	if len(cfg.Actions.Files) > 0 {
		acts, err := action.LoadFiles(cfg.Actions.Files)
		if err != nil {
			errs = append(errs, fmt.Errorf("actions.files: %w", err))
		}
		f.actions = acts
	}
	prom, err := cfg.Prometheus()
	if err != nil {
		errs = append(errs, err)
	}
	f.prom = prom
	return f, errors.Join(errs...)
}

// Check reads and checks every file a configuration names (rules,
// Alertmanager configuration, SLO specs, actions) as the server would at
// start, for `vigil check config`.
func Check(cfg config.Config) error {
	_, err := loadAlertingFiles(cfg)
	return err
}

func newAlerting(cfg config.Config, reg prometheus.Registerer, engine *promql.Engine, q storage.Queryable, log *slog.Logger) (*alerting, alertingFiles, error) {
	files, err := loadAlertingFiles(cfg)
	if err != nil {
		return nil, files, err
	}
	a := &alerting{log: log, sloFile: filepath.Join(cfg.DataDir, "slo", "slo-rules.yml"), query: instantQuery(engine, q)}
	a.slos.Store(&files.slos)
	if err := a.writeSLORules(files.sloRules); err != nil {
		return nil, files, err
	}
	if a.hist, err = history.Open(history.Options{
		Dir:        filepath.Join(cfg.DataDir, "alerts", "history"),
		Retention:  time.Duration(cfg.Alerting.HistoryRetention),
		Logger:     log.With("component", "alert-history"),
		Registerer: reg,
	}); err != nil {
		return nil, files, fmt.Errorf("cannot open the alert history: %w", err)
	}
	if a.acts, err = action.New(action.Options{
		Actions:    files.actions,
		AuditDir:   filepath.Join(cfg.DataDir, "actions"),
		Retention:  time.Duration(cfg.Actions.AuditRetention),
		Logger:     log.With("component", "actions"),
		Registerer: reg,
		Muted: func(ls map[string]string) bool {
			if a.am == nil {
				return false
			}
			m := make(model.LabelSet, len(ls))
			for k, v := range ls {
				m[model.LabelName(k)] = model.LabelValue(v)
			}
			return a.am.Muted(m)
		},
	}); err != nil {
		return nil, files, fmt.Errorf("cannot start actions: %w", err)
	}
	ext := externalURL(cfg)
	u, err := url.Parse(ext)
	if err != nil {
		return nil, files, fmt.Errorf("alerting.external_url: %w", err)
	}
	if a.am, err = alert.New(alert.Options{
		DataDir:              filepath.Join(cfg.DataDir, "alertmanager"),
		ConfigFile:           cfg.Alerting.AlertmanagerConfig,
		ExternalURL:          u,
		Retention:            time.Duration(cfg.Alerting.Retention),
		LocalGeneratorPrefix: ext,
		History:              a.hist,
		OnAlert:              a.observe,
		Logger:               log.With("component", "alertmanager"),
		Registerer:           reg,
	}); err != nil {
		return nil, files, fmt.Errorf("alerting.alertmanager_config: %w", err)
	}
	if a.ext, err = alert.NewExternal(reg, log); err != nil {
		return nil, files, err
	}
	if err := a.ext.ApplyConfig(files.prom); err != nil {
		return nil, files, err
	}
	return a, files, nil
}

// externalURL is the base of generator URLs and receivers' links.
func externalURL(cfg config.Config) string {
	if cfg.Alerting.ExternalURL != "" {
		return strings.TrimRight(cfg.Alerting.ExternalURL, "/")
	}
	scheme := "http"
	if cfg.HTTP.TLS.Enabled() {
		scheme = "https"
	}
	return scheme + "://" + cfg.HTTP.Addr
}

// ruleFiles are the rule files the ruler loads: the user's and the
// compiled SLOs'.
func (a *alerting) ruleFiles(f alertingFiles) []string {
	files := append([]string(nil), f.rules...)
	if len(f.sloRules) > 0 {
		files = append(files, a.sloFile)
	}
	return files
}

// writeSLORules replaces the compiled SLO rule file atomically; its path
// stays the same so the rule groups keep their state across reloads.
func (a *alerting) writeSLORules(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(a.sloFile), 0o755); err != nil {
		return err
	}
	tmp := a.sloFile + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, a.sloFile)
}

// observe hands an alert the Alertmanager stored to the actions.
func (a *alerting) observe(al *types.Alert) {
	if a.acts == nil {
		return
	}
	ls := make(map[string]string, len(al.Labels))
	for k, v := range al.Labels {
		ls[string(k)] = string(v)
	}
	an := make(map[string]string, len(al.Annotations))
	for k, v := range al.Annotations {
		an[string(k)] = string(v)
	}
	a.acts.Observe(action.Alert{
		Fingerprint:  uint64(al.Fingerprint()),
		Labels:       ls,
		Annotations:  an,
		StartsAt:     al.StartsAt,
		EndsAt:       al.EndsAt,
		GeneratorURL: al.GeneratorURL,
	})
}

// alertmanagers lists where alerts go, for /api/v1/alertmanagers: the
// embedded Alertmanager's API and the external ones discovered.
func (a *alerting) alertmanagers() amList {
	return amList{a}
}

type amList struct{ a *alerting }

func (l amList) Alertmanagers() []*url.URL {
	out := []*url.URL{l.a.am.AlertsURL()}
	for _, s := range l.a.ext.Alertmanagers() {
		if u, err := url.Parse(s); err == nil {
			out = append(out, u)
		}
	}
	return out
}

func (l amList) DroppedAlertmanagers() []*url.URL { return nil }

// sender is where the rules' alerts go.
func (a *alerting) sender(log *slog.Logger) *alert.Sender {
	return &alert.Sender{Embedded: a.am, External: a.ext, Logger: log}
}

func (a *alerting) run(ctx context.Context, goLoop func(string, func() error)) {
	goLoop("alert history", func() error { a.hist.Run(ctx); return nil })
	goLoop("alertmanager", func() error { return a.am.Run(ctx) })
	goLoop("external alertmanagers", func() error { return a.ext.Run(ctx) })
	goLoop("actions", func() error { return a.acts.Run(ctx) })
}

// close is for a server that never ran.
func (a *alerting) close() {
	if a.am != nil {
		a.am.Close()
	}
	if a.hist != nil {
		_ = a.hist.Close()
	}
}

// reload applies new alerting files; the caller has checked them with
// loadAlertingFiles. rulesReload reloads the ruler with the given files.
func (a *alerting) reload(cfg config.Config, f alertingFiles, rulesReload func([]string) error) error {
	old, _ := os.ReadFile(a.sloFile)
	if err := a.writeSLORules(f.sloRules); err != nil {
		return err
	}
	if err := rulesReload(a.ruleFiles(f)); err != nil {
		if len(old) > 0 {
			_ = a.writeSLORules(old)
		}
		return fmt.Errorf("rules (the previous rules stay): %w", err)
	}
	a.slos.Store(&f.slos)
	if err := a.am.Reload(cfg.Alerting.AlertmanagerConfig); err != nil {
		return fmt.Errorf("alerting.alertmanager_config (the previous configuration stays): %w", err)
	}
	if err := a.ext.ApplyConfig(f.prom); err != nil {
		return err
	}
	if err := a.acts.Update(f.actions); err != nil {
		return fmt.Errorf("actions.files (the previous actions stay): %w", err)
	}
	return nil
}

func (a *alerting) mount(mux *http.ServeMux, read func(http.Handler) http.Handler) {
	// The whole Alertmanager API needs the read token, POST /api/v2/alerts
	// included: silences are an operator's act, and a Prometheus that
	// sends alerts here is given the token as it would be for any
	// Alertmanager behind auth.
	mux.Handle("/api/v2/", read(a.am.Handler()))
	mux.Handle("/api/v1/alerts/history", read(a.hist.Handler()))
	mux.Handle("/api/v1/slos", read(http.HandlerFunc(a.serveSLOs)))
	mux.Handle("/api/v1/slos/", read(http.HandlerFunc(a.serveSLOs)))
	mux.Handle("/api/v1/sla", read(report.Handler(report.QueryFunc(a.query), a.lookupSLO)))
	mux.Handle("/api/v1/actions", read(http.HandlerFunc(a.serveActions)))
	mux.Handle("/api/v1/actions/audit", read(http.HandlerFunc(a.serveAudit)))
}

// lookupSLO finds the availability objective (and latency objective, for
// a latency SLO) of a service for SLA reports.
func (a *alerting) lookupSLO(service string) (float64, *report.LatencyObjective, bool) {
	for _, s := range *a.slos.Load() {
		if s.Service != service {
			continue
		}
		if s.SLI.Latency != nil {
			return 0, nil, false
		}
		return s.Objective, nil, true
	}
	return 0, nil, false
}

func (a *alerting) serveSLOs(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/api/v1/slos"), "/")
	t := time.Now()
	if v := r.FormValue("time"); v != "" {
		ts, err := report.ParseTime(v)
		if err != nil {
			writeAPIError(w, http.StatusBadRequest, "bad_data", fmt.Sprintf("invalid parameter \"time\": %v", err))
			return
		}
		t = ts
	}
	var out []slo.SLOStatus
	for _, s := range *a.slos.Load() {
		if name != "" && s.Name != name {
			continue
		}
		st, err := slo.Status(r.Context(), a.query, s, t)
		if err != nil {
			writeAPIError(w, http.StatusUnprocessableEntity, "execution", fmt.Sprintf("slo %s: %v", s.Name, err))
			return
		}
		out = append(out, st)
	}
	if name != "" {
		if len(out) == 0 {
			writeAPIError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no SLO named %q", name))
			return
		}
		writeAPIData(w, out[0])
		return
	}
	if out == nil {
		out = []slo.SLOStatus{}
	}
	writeAPIData(w, out)
}

func (a *alerting) serveActions(w http.ResponseWriter, _ *http.Request) {
	writeAPIData(w, a.acts.Actions())
}

func (a *alerting) serveAudit(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q := action.AuditQuery{
		Action:    v.Get("action"),
		AlertName: v.Get("alertname"),
		Outcome:   action.Outcome(v.Get("outcome")),
		Phase:     action.Phase(v.Get("phase")),
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"start", &q.Since}, {"end", &q.Until}} {
		if s := v.Get(p.name); s != "" {
			t, err := report.ParseTime(s)
			if err != nil {
				writeAPIError(w, http.StatusBadRequest, "bad_data", fmt.Sprintf("invalid parameter %q: %v", p.name, err))
				return
			}
			*p.dst = t
		}
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 || n > 10000 {
			writeAPIError(w, http.StatusBadRequest, "bad_data", fmt.Sprintf("invalid parameter \"limit\": %q is not a number from 1 to 10000", s))
			return
		}
		q.Limit = n
	}
	recs := a.acts.Audit(q)
	if recs == nil {
		recs = []action.AuditRecord{}
	}
	writeAPIData(w, recs)
}

func writeAPIData(w http.ResponseWriter, data any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": data})
}

func writeAPIError(w http.ResponseWriter, code int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "error", "errorType": typ, "error": msg})
}

// instantQuery evaluates PromQL in process, for SLO status and SLA
// reports.
func instantQuery(engine *promql.Engine, q storage.Queryable) slo.QueryFunc {
	return func(ctx context.Context, expr string, t time.Time) (model.Vector, error) {
		qry, err := engine.NewInstantQuery(ctx, q, nil, expr, t)
		if err != nil {
			return nil, err
		}
		defer qry.Close()
		res := qry.Exec(ctx)
		if res.Err != nil {
			return nil, res.Err
		}
		switch v := res.Value.(type) {
		case promql.Vector:
			out := make(model.Vector, 0, len(v))
			for _, s := range v {
				if s.H != nil {
					continue
				}
				m := make(model.Metric, s.Metric.Len())
				s.Metric.Range(func(l labels.Label) { m[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
				out = append(out, &model.Sample{Metric: m, Value: model.SampleValue(s.F), Timestamp: model.Time(s.T)})
			}
			return out, nil
		case promql.Scalar:
			return model.Vector{{Metric: model.Metric{}, Value: model.SampleValue(v.V), Timestamp: model.Time(v.T)}}, nil
		default:
			return nil, fmt.Errorf("expression %q gives a %s, not a vector", expr, res.Value.Type())
		}
	}
}
