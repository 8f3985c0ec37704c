package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	amclient "github.com/prometheus/alertmanager/api/v2/client"
	"github.com/prometheus/alertmanager/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/vigilhq/vigil/alert/history"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait: generous, because the machine is shared
// and a slow run must not fail; a broken feature still fails, just late.
const waitTimeout = 15 * time.Second

// waitFor polls cond until it holds or waitTimeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", waitTimeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// webhookMessage mirrors Alertmanager's webhook.Message (version 4)
// field by field, so that a strict decode fails on any field Alertmanager
// would not send.
type webhookMessage struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   uint64            `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []webhookAlert    `json:"alerts"`
}

type webhookAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// instances are the instance labels of the message's alerts, sorted.
func (m webhookMessage) instances() []string {
	var out []string
	for _, a := range m.Alerts {
		out = append(out, a.Labels["instance"])
	}
	slices.Sort(out)
	return out
}

type delivery struct {
	path string
	raw  []byte
	msg  webhookMessage
}

// webhookSink is a webhook receiver: one HTTP server for every receiver
// of a test, each receiver posting to its own path.
type webhookSink struct {
	srv    *httptest.Server
	status atomic.Int32 // the HTTP status it answers

	mu   sync.Mutex
	got  []delivery
	errs []string
}

func newWebhookSink(t *testing.T) *webhookSink {
	s := &webhookSink{}
	s.status.Store(http.StatusOK)
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *webhookSink) serve(w http.ResponseWriter, r *http.Request) {
	var (
		d   = delivery{path: r.URL.Path}
		err error
	)
	if d.raw, err = io.ReadAll(r.Body); err == nil {
		dec := json.NewDecoder(bytes.NewReader(d.raw))
		dec.DisallowUnknownFields()
		err = dec.Decode(&d.msg)
	}
	s.mu.Lock()
	if err != nil {
		s.errs = append(s.errs, fmt.Sprintf("%s %s: %v", r.Method, r.URL.Path, err))
	} else if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		s.errs = append(s.errs, fmt.Sprintf("want POST application/json, got %s %q", r.Method, r.Header.Get("Content-Type")))
	} else {
		s.got = append(s.got, d)
	}
	s.mu.Unlock()
	w.WriteHeader(int(s.status.Load()))
}

// url is the address a receiver named path posts to.
func (s *webhookSink) url(path string) string { return s.srv.URL + "/" + path }

// deliveries returns what was received on path so far, failing the test
// on anything that was not a well-formed Alertmanager webhook message.
func (s *webhookSink) deliveries(t *testing.T, path string) []delivery {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errs) > 0 {
		t.Fatalf("the webhook received malformed requests: %s", strings.Join(s.errs, "; "))
	}
	var out []delivery
	for _, d := range s.got {
		if d.path == "/"+path {
			out = append(out, d)
		}
	}
	return out
}

func (s *webhookSink) messages(t *testing.T, path string) []webhookMessage {
	t.Helper()
	var out []webhookMessage
	for _, d := range s.deliveries(t, path) {
		out = append(out, d.msg)
	}
	return out
}

// wait returns the first n messages received on path.
func (s *webhookSink) wait(t *testing.T, path string, n int) []webhookMessage {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d webhook message(s) on /%s", n, path), func() bool {
		return len(s.messages(t, path)) >= n
	})
	return s.messages(t, path)[:n]
}

// testAM is an Alertmanager running as the server runs it: Run in a
// goroutine and the API v2 behind an HTTP server.
type testAM struct {
	*Alertmanager
	srv  *httptest.Server
	api  *amclient.AlertmanagerAPI
	stop func()
}

// startAM writes conf (if not empty) as alertmanager.yml in a new
// directory and starts an Alertmanager with it. Zero DataDir is a
// temporary directory; every instance gets its own registry.
func startAM(t *testing.T, o Options, conf string) *testAM {
	t.Helper()
	if conf != "" {
		o.ConfigFile = writeFile(t, t.TempDir(), "alertmanager.yml", conf)
	}
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	o.Registerer = prometheus.NewRegistry()
	am, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- am.Run(ctx) }()
	srv := httptest.NewServer(am.Handler())
	u, _ := url.Parse(srv.URL)
	transport := httptransport.NewWithClient(u.Host, amclient.DefaultBasePath, []string{"http"}, srv.Client())
	var once sync.Once
	stop := func() {
		once.Do(func() {
			srv.Close()
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &testAM{Alertmanager: am, srv: srv, api: amclient.New(transport, strfmt.Default), stop: stop}
}

func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// hookConfig is a configuration whose receivers are webhooks on sink,
// each receiver posting to a path of its own name: every WEBHOOK/x in
// yml becomes sink's address for x.
func hookConfig(sink *webhookSink, yml string) string {
	return strings.ReplaceAll(yml, "WEBHOOK/", sink.srv.URL+"/")
}

// firing is an alert that started now and ends in an hour, as Prometheus
// sends it; labels are name/value pairs.
func firing(labels ...string) *types.Alert {
	now := time.Now()
	ls := model.LabelSet{}
	for i := 0; i+1 < len(labels); i += 2 {
		ls[model.LabelName(labels[i])] = model.LabelValue(labels[i+1])
	}
	return &types.Alert{
		Alert: model.Alert{
			Labels:       ls,
			Annotations:  model.LabelSet{},
			StartsAt:     now,
			EndsAt:       now.Add(time.Hour),
			GeneratorURL: "http://prometheus.example/graph",
		},
		UpdatedAt: now,
	}
}

func put(t *testing.T, am *testAM, alerts ...*types.Alert) {
	t.Helper()
	if err := am.Put(context.Background(), alerts...); err != nil {
		t.Fatalf("Put: %v", err)
	}
}

// eventLog is a Recorder collecting the events.
type eventLog struct {
	mu     sync.Mutex
	events []history.Event
}

func (r *eventLog) Record(events ...history.Event) {
	r.mu.Lock()
	r.events = append(r.events, events...)
	r.mu.Unlock()
}

// find returns the events in state for the alert named alertname.
func (r *eventLog) find(alertname, state string) []history.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []history.Event
	for _, e := range r.events {
		if e.AlertName == alertname && e.State == state {
			out = append(out, e)
		}
	}
	return out
}
