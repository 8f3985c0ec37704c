package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A Flask app under zero-code instrumentation (opentelemetry-instrument
// with the Flask and requests instrumentations) and the SDK's default OTLP
// settings: server spans with the HTTP attributes the instrumentation
// version emits, a requests client span as the parent of the server span
// it called (context propagated over HTTP), and an exception event with
// error status on a route that raises. Read back with Vigil's trace API.
func TestPythonFlaskTraces(t *testing.T) {
	py := python(t)
	instrument := otelInstrument(t, py)
	// The SDK's defaults point at localhost:4317/4318; the tests of this
	// package run one at a time, but a go test in another checkout may
	// hold the ports for a while.
	waitPortsFree(t, "127.0.0.1:4317", "127.0.0.1:4318")
	v := startVigil(t, withArgs("--host-metrics=false"), withOTLP("127.0.0.1:4317", "127.0.0.1:4318"))

	const service = "flask-shop"
	appAddr := freePort(t)
	port := appAddr[strings.LastIndex(appAddr, ":")+1:]
	app := startApp(t, []string{"OTEL_SERVICE_NAME=" + service}, instrument, py, "testdata/flask_app.py", port)
	waitHTTP(t, "http://"+appAddr+"/inventory/warmup")

	resp, body := httpGet(t, "http://"+appAddr+"/checkout")
	if resp.StatusCode != 200 || !strings.Contains(body, `"stock":7`) {
		t.Fatalf("GET /checkout: %d %s", resp.StatusCode, body)
	}
	if resp, body := httpGet(t, "http://"+appAddr+"/fail"); resp.StatusCode != 500 {
		t.Fatalf("GET /fail: %d, want 500: %s", resp.StatusCode, body)
	}
	// SIGTERM makes the app exit through sys.exit, so the SDK's exit hook
	// flushes the batch span processor: every span is exported by now.
	app.stop(t)

	// The /checkout trace: server -> requests client -> server.
	var checkout vigilTrace
	eventually(t, 60*time.Second, func() string {
		found, msg := searchOne(t, v.URL, url.Values{"service": {service}, "operation": {"GET /checkout"}})
		if msg != "" {
			return msg
		}
		if found.SpanCount != 3 {
			return fmt.Sprintf("checkout trace has %d spans, want 3: %+v", found.SpanCount, found)
		}
		checkout = getVigilTrace(t, v.URL, found.TraceID)
		if len(checkout.Spans) != 3 {
			return fmt.Sprintf("GET trace %s: %d spans, want 3", found.TraceID, len(checkout.Spans))
		}
		if found.RootService != service || found.RootName != "GET /checkout" || found.ErrorCount != 0 ||
			!slices.Equal(found.Services, []string{service}) {
			t.Errorf("checkout trace summary: %+v", found)
		}
		return ""
	})
	root, client, inner := checkout.Spans[0], checkout.Spans[1], checkout.Spans[2]
	for _, s := range checkout.Spans {
		if s.TraceID != checkout.TraceID || len(s.SpanID) != 16 {
			t.Errorf("span %q: traceID %q spanID %q, want trace %s and 16 hex digits", s.Name, s.TraceID, s.SpanID, checkout.TraceID)
		}
		if s.Service != service || s.Resource["service.name"] != service || s.Resource["telemetry.sdk.language"] != "python" {
			t.Errorf("span %q: service %q resource %v", s.Name, s.Service, s.Resource)
		}
		if s.StatusCode != "unset" || s.DurationNanos <= 0 {
			t.Errorf("span %q: status %q duration %d, want unset and > 0", s.Name, s.StatusCode, s.DurationNanos)
		}
		if s.Scope.Version == "" {
			t.Errorf("span %q: no scope version: %+v", s.Name, s.Scope)
		}
	}
	// opentelemetry-instrumentation-flask/-requests 0.66b1 emit the old
	// HTTP semantic conventions (http.method, http.target, http.status_code)
	// unless OTEL_SEMCONV_STABILITY_OPT_IN says otherwise; Vigil stores
	// attribute values as strings.
	wantSpan(t, root, "GET /checkout", "server", "", "opentelemetry.instrumentation.flask", map[string]string{
		"http.method": "GET", "http.route": "/checkout", "http.target": "/checkout", "http.status_code": "200", "http.scheme": "http",
	})
	wantSpan(t, client, "GET", "client", root.SpanID, "opentelemetry.instrumentation.requests", map[string]string{
		"http.method": "GET", "http.url": "http://127.0.0.1:" + port + "/inventory/sku-42", "http.status_code": "200",
	})
	wantSpan(t, inner, "GET /inventory/<sku>", "server", client.SpanID, "opentelemetry.instrumentation.flask", map[string]string{
		"http.method": "GET", "http.route": "/inventory/<sku>", "http.target": "/inventory/sku-42", "http.status_code": "200",
		"http.user_agent": "python-requests/" + pipVersion(t, py, "requests"),
	})
	// Each child runs inside its parent (one process, one clock).
	if !(within(client, root) && within(inner, client)) {
		t.Errorf("spans not nested in time: root %s+%d, client %s+%d, inner %s+%d",
			root.Start, root.DurationNanos, client.Start, client.DurationNanos, inner.Start, inner.DurationNanos)
	}

	// The failing route: error status and the exception event.
	var failed vigilTrace
	eventually(t, 60*time.Second, func() string {
		found, msg := searchOne(t, v.URL, url.Values{"service": {service}, "status": {"error"}})
		if msg != "" {
			return msg
		}
		if found.RootName != "GET /fail" || found.ErrorCount != 1 || found.SpanCount != 1 {
			return fmt.Sprintf("error trace summary: %+v, want root GET /fail with 1 span, 1 error", found)
		}
		failed = getVigilTrace(t, v.URL, found.TraceID)
		return ""
	})
	if len(failed.Spans) != 1 {
		t.Fatalf("GET /fail trace: %d spans, want 1: %+v", len(failed.Spans), failed.Spans)
	}
	f := failed.Spans[0]
	wantSpan(t, f, "GET /fail", "server", "", "opentelemetry.instrumentation.flask", map[string]string{
		"http.method": "GET", "http.route": "/fail", "http.target": "/fail", "http.status_code": "500",
	})
	if f.StatusCode != "error" || f.StatusMessage != "ValueError: payment declined: card expired" {
		t.Errorf("GET /fail status %q %q, want error \"ValueError: payment declined: card expired\"", f.StatusCode, f.StatusMessage)
	}
	var exc *vigilEvent
	for i := range f.Events {
		if f.Events[i].Name == "exception" {
			exc = &f.Events[i]
		}
	}
	if exc == nil {
		t.Fatalf("GET /fail has no exception event: %+v", f.Events)
	}
	if exc.Attributes["exception.type"] != "ValueError" || exc.Attributes["exception.message"] != "payment declined: card expired" {
		t.Errorf("exception event attributes: %v", exc.Attributes)
	}
	if st := exc.Attributes["exception.stacktrace"]; !strings.HasPrefix(st, "Traceback (most recent call last):") ||
		!strings.Contains(st, "flask_app.py") || !strings.Contains(st, `raise ValueError("payment declined: card expired")`) {
		t.Errorf("exception.stacktrace is not the Python traceback of the raise:\n%s", st)
	}
	if et := nanos(t, exc.TimeUnixNano); et < nanos(t, f.Start) || et > nanos(t, f.Start)+f.DurationNanos {
		t.Errorf("exception event at %s outside its span %s+%d", exc.TimeUnixNano, f.Start, f.DurationNanos)
	}

	// Attribute search finds the inner server span's trace.
	var sr vigilSearch
	vigilGet(t, v.URL, "/api/vigil/v1/traces", url.Values{"service": {service}, "attr": {"http.target=/inventory/sku-42"}}, 200, &sr)
	if len(sr.Traces) != 1 || sr.Traces[0].TraceID != checkout.TraceID {
		t.Errorf("search attr=http.target=/inventory/sku-42: %+v, want only trace %s", sr.Traces, checkout.TraceID)
	}

	var svcs struct {
		Services []string `json:"services"`
	}
	vigilGet(t, v.URL, "/api/vigil/v1/services", nil, 200, &svcs)
	if !slices.Contains(svcs.Services, service) || !slices.IsSorted(svcs.Services) {
		t.Errorf("services: %v, want %q among them, sorted", svcs.Services, service)
	}
	var ops struct {
		Operations []struct {
			Name string `json:"name"`
			Kind string `json:"kind"`
		} `json:"operations"`
	}
	vigilGet(t, v.URL, "/api/vigil/v1/operations", url.Values{"service": {service}}, 200, &ops)
	got := fmt.Sprint(ops.Operations)
	if want := "[{GET client} {GET /checkout server} {GET /fail server} {GET /inventory/<sku> server}]"; got != want {
		t.Errorf("operations of %s: %s, want %s", service, got, want)
	}
}

// The shapes of Vigil's trace API (docs/traces-api.md).
type vigilTrace struct {
	TraceID string      `json:"traceID"`
	Spans   []vigilSpan `json:"spans"`
}

type vigilSpan struct {
	TraceID       string `json:"traceID"`
	SpanID        string `json:"spanID"`
	ParentSpanID  string `json:"parentSpanID"`
	TraceState    string `json:"traceState"`
	Service       string `json:"service"`
	Name          string `json:"name"`
	Kind          string `json:"kind"`
	Start         string `json:"startTimeUnixNano"`
	DurationNanos int64  `json:"durationNanos"`
	StatusCode    string `json:"statusCode"`
	StatusMessage string `json:"statusMessage"`
	Scope         struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"scope"`
	Resource   map[string]string `json:"resource"`
	Attributes map[string]string `json:"attributes"`
	Events     []vigilEvent      `json:"events"`
	Links      []struct {
		TraceID    string            `json:"traceID"`
		SpanID     string            `json:"spanID"`
		TraceState string            `json:"traceState"`
		Attributes map[string]string `json:"attributes"`
	} `json:"links"`
}

type vigilEvent struct {
	TimeUnixNano string            `json:"timeUnixNano"`
	Name         string            `json:"name"`
	Attributes   map[string]string `json:"attributes"`
}

type vigilSearch struct {
	Traces     []vigilSummary `json:"traces"`
	NextCursor string         `json:"nextCursor"`
}

type vigilSummary struct {
	TraceID       string   `json:"traceID"`
	RootService   string   `json:"rootService"`
	RootName      string   `json:"rootName"`
	Start         string   `json:"startTimeUnixNano"`
	DurationNanos int64    `json:"durationNanos"`
	SpanCount     int      `json:"spanCount"`
	ErrorCount    int      `json:"errorCount"`
	Services      []string `json:"services"`
}

// vigilGet GETs a Vigil API path, requires the status and decodes the body.
func vigilGet(t *testing.T, base, path string, p url.Values, status int, into any) {
	t.Helper()
	u := base + path
	if len(p) > 0 {
		u += "?" + p.Encode()
	}
	resp, body := httpGet(t, u)
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d, want %d: %s", u, resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("GET %s: Content-Type %q, want application/json", u, ct)
	}
	if err := json.Unmarshal([]byte(body), into); err != nil {
		t.Fatalf("GET %s: cannot decode %s: %v", u, body, err)
	}
}

func httpGet(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	resp, err := insecureClient.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return resp, string(b)
}

// searchOne runs a Vigil trace search that must find exactly one trace.
func searchOne(t *testing.T, base string, p url.Values) (vigilSummary, string) {
	t.Helper()
	var sr vigilSearch
	vigilGet(t, base, "/api/vigil/v1/traces", p, 200, &sr)
	if len(sr.Traces) != 1 {
		return vigilSummary{}, fmt.Sprintf("search %s: %d traces, want 1: %+v", p.Encode(), len(sr.Traces), sr.Traces)
	}
	return sr.Traces[0], ""
}

func getVigilTrace(t *testing.T, base, id string) vigilTrace {
	t.Helper()
	var tr vigilTrace
	vigilGet(t, base, "/api/vigil/v1/traces/"+id, nil, 200, &tr)
	if tr.TraceID != id {
		t.Errorf("GET trace %s answered traceID %q", id, tr.TraceID)
	}
	return tr
}

func wantSpan(t *testing.T, s vigilSpan, name, kind, parent, scope string, attrs map[string]string) {
	t.Helper()
	if s.Name != name || s.Kind != kind || s.ParentSpanID != parent || s.Scope.Name != scope {
		t.Errorf("span %s: name %q kind %q parent %q scope %q, want %q %q %q %q",
			s.SpanID, s.Name, s.Kind, s.ParentSpanID, s.Scope.Name, name, kind, parent, scope)
	}
	for k, want := range attrs {
		if got, ok := s.Attributes[k]; !ok || got != want {
			t.Errorf("span %q: attribute %s = %q (present %v), want %q; all: %v", s.Name, k, got, ok, want, s.Attributes)
		}
	}
}

func nanos(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("time %q is not decimal nanoseconds: %v", s, err)
	}
	return n
}

// within reports whether child starts and ends inside parent. Times are
// decimal strings of nanoseconds.
func within(child, parent vigilSpan) bool {
	cs, _ := strconv.ParseInt(child.Start, 10, 64)
	ps, _ := strconv.ParseInt(parent.Start, 10, 64)
	return cs >= ps && cs+child.DurationNanos <= ps+parent.DurationNanos
}

// otelInstrument finds opentelemetry-instrument (opentelemetry-distro),
// which pip installs beside the interpreter.
func otelInstrument(t *testing.T, py string) string {
	t.Helper()
	out, err := exec.Command(py, "-c", "import sys; print(sys.executable)").Output()
	var also []string
	if err == nil {
		also = append(also, filepath.Join(filepath.Dir(strings.TrimSpace(string(out))), "opentelemetry-instrument"))
	}
	return tool(t, "opentelemetry-instrument", also...)
}

func pipVersion(t *testing.T, py, pkg string) string {
	t.Helper()
	out, err := exec.Command(py, "-c", "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))", pkg).Output()
	if err != nil {
		t.Fatalf("python package %s not installed: run scripts/install-test-deps.sh: %v", pkg, err)
	}
	return strings.TrimSpace(string(out))
}

// waitPortsFree waits until nothing listens on the addresses.
func waitPortsFree(t *testing.T, addrs ...string) {
	t.Helper()
	eventually(t, 2*time.Minute, func() string {
		for _, a := range addrs {
			ln, err := net.Listen("tcp", a)
			if err != nil {
				return fmt.Sprintf("%s is in use (Vigil must listen there): %v", a, err)
			}
			ln.Close()
		}
		return ""
	})
}

// app is a client program the test stops itself, to see it exit cleanly.
type app struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

// startApp runs a program with the environment of the test less every
// OTEL_ variable (so the SDK's defaults apply), plus env.
func startApp(t *testing.T, env []string, name string, args ...string) *app {
	t.Helper()
	a := &app{cmd: exec.Command(name, args...), out: &syncBuffer{}, done: make(chan struct{})}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OTEL_") {
			a.cmd.Env = append(a.cmd.Env, kv)
		}
	}
	a.cmd.Env = append(a.cmd.Env, env...)
	a.cmd.Stdout, a.cmd.Stderr = a.out, a.out
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("cannot start %s: %v", name, err)
	}
	go func() { _ = a.cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		select {
		case <-a.done:
		default:
			_ = a.cmd.Process.Kill()
			<-a.done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(name), tail(a.out.String(), 60))
		}
	})
	return a
}

// stop sends SIGTERM and requires a clean exit.
func (a *app) stop(t *testing.T) {
	t.Helper()
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("app did not exit within 60s of SIGTERM:\n%s", tail(a.out.String(), 40))
	}
	if code := a.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("app exited with %d after SIGTERM, want 0:\n%s", code, tail(a.out.String(), 40))
	}
}
