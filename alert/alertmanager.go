// Package alert is Vigil's embedded Alertmanager: Alertmanager's own
// packages (routing, grouping, inhibition, silences, time intervals, the
// notification log, every receiver integration and the API v2) wired as
// libraries, the way Mimir embeds them, so an alertmanager.yml and amtool
// work unchanged. Around them it records the alert history (silenced,
// inhibited, notified, notification failed) and hands every alert to a
// callback (remediation actions) without waiting on it.
package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/alertmanager/api"
	"github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/config/receiver"
	"github.com/prometheus/alertmanager/dispatch"
	"github.com/prometheus/alertmanager/featurecontrol"
	"github.com/prometheus/alertmanager/inhibit"
	"github.com/prometheus/alertmanager/nflog"
	"github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/alertmanager/provider/mem"
	"github.com/prometheus/alertmanager/silence"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/alertmanager/timeinterval"
	"github.com/prometheus/alertmanager/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/route"
	"github.com/prometheus/common/version"

	"github.com/vigilhq/vigil/alert/history"
)

// Options configure an Alertmanager.
type Options struct {
	// DataDir holds the silences and notification log snapshots.
	DataDir string
	// ConfigFile is an alertmanager.yml; empty uses DefaultConfig.
	ConfigFile string
	// ExternalURL is this server's address as receivers should link to
	// it ({{ .ExternalURL }} in templates).
	ExternalURL *url.URL
	// Retention keeps expired silences and notification log entries this
	// long (Alertmanager's --data.retention, default 120h).
	Retention time.Duration
	// LocalGeneratorPrefix marks alerts from Vigil's own rules (their
	// generator URL starts with it); their pending, firing and resolved
	// changes are recorded by the ruler, so only other senders' are
	// recorded here.
	LocalGeneratorPrefix string
	// History, if set, receives every state change seen here.
	History Recorder
	// OnAlert, if set, is called with every alert stored (from rules and
	// from POST /api/v2/alerts). It must not block.
	OnAlert func(*types.Alert)
	// MaintenanceInterval is how often silences and the notification log
	// are garbage collected and snapshotted (default 15m, as
	// Alertmanager); they are also snapshotted at shutdown.
	MaintenanceInterval time.Duration
	Logger              *slog.Logger
	Registerer          prometheus.Registerer
}

// Recorder receives alert history events.
type Recorder interface {
	Record(events ...history.Event)
}

// Alertmanager is an embedded Alertmanager. Create it with New, then Run
// it; Reload swaps the configuration.
type Alertmanager struct {
	o        Options
	log      *slog.Logger
	marker   *types.MemMarker
	alerts   *mem.Alerts
	silences *silence.Silences
	nflog    *nflog.Log
	api      *api.API
	handler  http.Handler
	pipeline *notify.PipelineBuilder
	dmetrics *dispatch.DispatcherMetrics
	status   *statusTracker

	mu        sync.RWMutex // guards the configuration-dependent parts below
	conf      *config.Config
	file      string
	disp      *dispatch.Dispatcher
	inhibitor *inhibit.Inhibitor
	silencer  *silence.Silencer
	closed    bool
}

// New opens the silences and notification log (restoring their
// snapshots), loads the configuration and starts dispatching. An invalid
// configuration is an error naming the file and line.
func New(o Options) (*Alertmanager, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Retention <= 0 {
		o.Retention = 120 * time.Hour
	}
	if o.MaintenanceInterval <= 0 {
		o.MaintenanceInterval = 15 * time.Minute
	}
	if o.ExternalURL == nil {
		o.ExternalURL = &url.URL{Scheme: "http", Host: "localhost"}
	}
	conf, err := loadOrDefault(o.ConfigFile)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		return nil, err
	}
	setVersion()
	am := &Alertmanager{o: o, log: o.Logger, marker: types.NewMarker(o.Registerer)}
	am.status = newStatusTracker(o.History)

	if am.nflog, err = nflog.New(nflog.Options{
		SnapshotFile: am.nflogFile(),
		Retention:    o.Retention,
		Logger:       o.Logger.With("component", "nflog"),
		Metrics:      o.Registerer,
	}); err != nil {
		return nil, fmt.Errorf("cannot open the notification log: %w", err)
	}
	if am.silences, err = silence.New(silence.Options{
		SnapshotFile: am.silencesFile(),
		Retention:    o.Retention,
		// Alertmanager's defaults are unlimited; a bound keeps one bad
		// script from filling memory through the API.
		Limits: silence.Limits{
			MaxSilences:         func() int { return 10000 },
			MaxSilenceSizeBytes: func() int { return 64 << 10 },
		},
		Logger:  o.Logger.With("component", "silences"),
		Metrics: o.Registerer,
	}); err != nil {
		return nil, fmt.Errorf("cannot open the silences: %w", err)
	}
	if am.alerts, err = mem.NewAlerts(context.Background(), am.marker, 30*time.Minute, 0,
		&storeCallback{am: am}, o.Logger.With("component", "alerts"), o.Registerer, featurecontrol.NoopFlags{}); err != nil {
		return nil, err
	}
	// Alertmanager's API instruments every request with this histogram
	// and panics on each one when it is missing.
	requestDuration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:                            "alertmanager_http_request_duration_seconds",
		Help:                            "Histogram of latencies for HTTP requests.",
		Buckets:                         prometheus.DefBuckets,
		NativeHistogramBucketFactor:     1.1,
		NativeHistogramMaxBucketNumber:  100,
		NativeHistogramMinResetDuration: time.Hour,
	}, []string{"handler", "method", "code"})
	if err := o.Registerer.Register(requestDuration); err != nil {
		am.alerts.Close()
		return nil, err
	}
	apiMu.Lock()
	am.api, err = api.New(api.Options{
		Alerts:          am.alerts,
		Silences:        am.silences,
		AlertStatusFunc: am.marker.Status,
		GroupMutedFunc:  am.marker.Muted,
		Timeout:         time.Minute,
		Logger:          o.Logger.With("component", "api"),
		Registry:        o.Registerer,
		RequestDuration: requestDuration,
		GroupFunc: func(ctx context.Context, rf func(*dispatch.Route) bool, af func(*types.Alert, time.Time) bool) (dispatch.AlertGroups, map[model.Fingerprint][]string, error) {
			am.mu.RLock()
			d := am.disp
			am.mu.RUnlock()
			return d.Groups(ctx, rf, af)
		},
	})
	apiMu.Unlock()
	if err != nil {
		am.alerts.Close()
		return nil, err
	}
	am.handler = am.api.Register(route.New(), "/")
	am.pipeline = notify.NewPipelineBuilder(o.Registerer, featurecontrol.NoopFlags{})
	am.dmetrics = dispatch.NewDispatcherMetrics(false, o.Registerer)
	if err := am.apply(conf, o.ConfigFile); err != nil {
		am.alerts.Close()
		return nil, err
	}
	return am, nil
}

// apiMu serialises the creation of Alertmanager's API: it expands the
// OpenAPI spec that every instance shares in place (a data race when two
// are created at once, as parallel tests do).
var apiMu sync.Mutex

func (am *Alertmanager) nflogFile() string    { return filepath.Join(am.o.DataDir, "nflog") }
func (am *Alertmanager) silencesFile() string { return filepath.Join(am.o.DataDir, "silences") }

func loadOrDefault(file string) (*config.Config, error) {
	if file == "" {
		return DefaultConfig(), nil
	}
	return LoadConfig(file)
}

// Reload reads the configuration file again (or another one); when it is
// invalid the running configuration stays and the error says why.
func (am *Alertmanager) Reload(file string) error {
	conf, err := loadOrDefault(file)
	if err != nil {
		return err
	}
	return am.apply(conf, file)
}

// apply builds everything that depends on the configuration before
// stopping the old dispatcher, so a configuration that fails to build
// (a template that does not parse, a receiver that cannot be created)
// leaves the running one in place.
func (am *Alertmanager) apply(conf *config.Config, file string) error {
	tmpl, err := loadTemplates(conf)
	if err != nil {
		return fmt.Errorf("%s: %w", nameOf(file), err)
	}
	tmpl.ExternalURL = am.o.ExternalURL

	routes := dispatch.NewRoute(conf.Route, nil)
	used := map[string]bool{}
	routes.Walk(func(r *dispatch.Route) { used[r.RouteOpts.Receiver] = true })
	receivers := make(map[string][]notify.Integration, len(used))
	for _, rcv := range conf.Receivers {
		if !used[rcv.Name] {
			continue
		}
		ints, err := receiver.BuildReceiverIntegrations(rcv, tmpl, am.log.With("receiver", rcv.Name))
		if err != nil {
			return fmt.Errorf("%s: receiver %q: %w", nameOf(file), rcv.Name, err)
		}
		receivers[rcv.Name] = am.recording(rcv.Name, ints)
	}
	intervals := make(map[string][]timeinterval.TimeInterval, len(conf.MuteTimeIntervals)+len(conf.TimeIntervals))
	for _, ti := range conf.MuteTimeIntervals {
		intervals[ti.Name] = ti.TimeIntervals
	}
	for _, ti := range conf.TimeIntervals {
		intervals[ti.Name] = ti.TimeIntervals
	}

	am.mu.Lock()
	defer am.mu.Unlock()
	if am.closed {
		return errors.New("alertmanager is closed")
	}
	am.stopLocked()
	inhibitor := inhibit.NewInhibitor(am.alerts, conf.InhibitRules, am.marker, am.log.With("component", "inhibitor"))
	silencer := silence.NewSilencer(am.silences, am.marker, am.log.With("component", "silencer"))
	pipeline := am.pipeline.New(receivers, func() time.Duration { return 0 }, inhibitor, silencer,
		timeinterval.NewIntervener(intervals), am.marker, am.nflog, nil)
	am.api.Update(conf, func(ctx context.Context, ls model.LabelSet) {
		inhibitor.Mutes(ctx, ls)
		silencer.Mutes(ctx, ls)
	})
	// Alertmanager's default dispatcher maintenance interval; group_wait
	// and group_interval are timers of their own, not bound to it.
	disp := dispatch.NewDispatcher(am.alerts, routes, pipeline, am.marker, notifyTimeout, 30*time.Second, nil,
		am.log.With("component", "dispatcher"), am.dmetrics)
	// As Alertmanager: the inhibitor loads the current alerts before the
	// dispatcher starts, so nothing inhibited is sent in between.
	go inhibitor.Run()
	inhibitor.WaitForLoading()
	go disp.Run(time.Now())
	disp.WaitForLoading()
	am.conf, am.file, am.disp, am.inhibitor, am.silencer = conf, file, disp, inhibitor, silencer
	return nil
}

func nameOf(file string) string {
	if file == "" {
		return "default alertmanager configuration"
	}
	return file
}

func notifyTimeout(d time.Duration) time.Duration {
	return max(d, notify.MinTimeout)
}

func loadTemplates(conf *config.Config) (*template.Template, error) {
	t, err := template.FromGlobs(conf.Templates)
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	return t, nil
}

func (am *Alertmanager) stopLocked() {
	if am.inhibitor != nil {
		am.inhibitor.Stop()
	}
	if am.disp != nil {
		am.disp.Stop()
	}
}

// Put adds or updates alerts, as POST /api/v2/alerts does.
func (am *Alertmanager) Put(ctx context.Context, alerts ...*types.Alert) error {
	return am.alerts.Put(ctx, alerts...)
}

// Muted reports whether a silence or an inhibition mutes the label set
// now (and marks the alert so, as Alertmanager's API does).
func (am *Alertmanager) Muted(ls model.LabelSet) bool {
	am.mu.RLock()
	inh, sil := am.inhibitor, am.silencer
	am.mu.RUnlock()
	if inh == nil {
		return false
	}
	ctx := context.Background()
	i := inh.Mutes(ctx, ls)
	s := sil.Mutes(ctx, ls)
	return i || s
}

// AlertsURL is where other senders post alerts to this Alertmanager.
func (am *Alertmanager) AlertsURL() *url.URL {
	return am.o.ExternalURL.JoinPath("/api/v2/alerts")
}

// Handler serves Alertmanager's API v2 under /api/v2/.
func (am *Alertmanager) Handler() http.Handler { return am.handler }

// Config is the running configuration.
func (am *Alertmanager) Config() *config.Config {
	am.mu.RLock()
	defer am.mu.RUnlock()
	return am.conf
}

// Run keeps the silences and notification log tidy and snapshotted, and
// records silenced/inhibited changes in the history, until ctx is done;
// then it stops dispatching and writes the final snapshots.
func (am *Alertmanager) Run(ctx context.Context) error {
	stopc := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		am.nflog.Maintenance(am.o.MaintenanceInterval, am.nflogFile(), stopc, nil)
	}()
	go func() {
		defer wg.Done()
		am.silences.Maintenance(am.o.MaintenanceInterval, am.silencesFile(), stopc, nil)
	}()
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopc:
				return
			case <-t.C:
				am.trackStatus()
			}
		}
	}()
	<-ctx.Done()
	am.Close()
	close(stopc)
	wg.Wait()
	return nil
}

// Close stops dispatching. Run calls it; call it directly only for an
// Alertmanager that never ran.
func (am *Alertmanager) Close() {
	am.mu.Lock()
	defer am.mu.Unlock()
	if am.closed {
		return
	}
	am.closed = true
	am.stopLocked()
	am.alerts.Close()
}

// trackStatus refreshes every alert's silenced and inhibited status (as a
// GET of the API does) and records the changes.
func (am *Alertmanager) trackStatus() {
	if am.o.History == nil {
		return
	}
	am.mu.RLock()
	inh, sil := am.inhibitor, am.silencer
	am.mu.RUnlock()
	if inh == nil {
		return
	}
	it := am.alerts.GetPending()
	defer it.Close()
	ctx := context.Background()
	now := time.Now()
	seen := make(map[model.Fingerprint]bool)
	for a := range it.Next() {
		al := a.Data
		if al.Resolved() {
			continue
		}
		inh.Mutes(ctx, al.Labels)
		sil.Mutes(ctx, al.Labels)
		fp := al.Fingerprint()
		seen[fp] = true
		am.status.observe(now, al, am.marker.Status(fp))
	}
	am.status.forget(seen)
}

var versionOnce sync.Once

// setVersion makes /api/v2/status report the Alertmanager release
// embedded (amtool compares it with its own), unless the build set the
// version of prometheus/common already.
func setVersion() {
	versionOnce.Do(func() {
		if version.Version != "" {
			return
		}
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, m := range bi.Deps {
				if m.Path == "github.com/prometheus/alertmanager" {
					version.Version = strings.TrimPrefix(m.Version, "v")
				}
			}
			version.GoVersion = bi.GoVersion
		}
	})
}
