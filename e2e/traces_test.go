package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// newTraceExporter is the Go SDK's OTLP trace exporter over transport
// ("grpc" or "http") to v.
func newTraceExporter(t *testing.T, v *vigil, transport string) sdktrace.SpanExporter {
	t.Helper()
	ctx := context.Background()
	var exp sdktrace.SpanExporter
	var err error
	if transport == "grpc" {
		exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(v.GRPC), otlptracegrpc.WithInsecure(), otlptracegrpc.WithCompressor("gzip"))
	} else {
		exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(v.OTLPHTTP), otlptracehttp.WithInsecure(), otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	}
	if err != nil {
		t.Fatal(err)
	}
	return exp
}

// otelAttrs is the text form of SDK attributes (attribute.Value.Emit,
// which agrees with OTLP's AnyValue.AsString for these types).
func otelAttrs(kvs []attribute.KeyValue) map[string]string {
	out := map[string]string{}
	for _, kv := range kvs {
		out[string(kv.Key)] = kv.Value.Emit()
	}
	return out
}

func otelStatusName(c codes.Code) string {
	switch c {
	case codes.Error:
		return "error"
	case codes.Ok:
		return "ok"
	}
	return "unset"
}

// diffSpan describes how a span read back differs from the one the SDK
// exported, or is "".
func diffSpan(got apiSpan, want sdktrace.ReadOnlySpan) string {
	var d []string
	f := func(field string, g, w any) {
		if fmt.Sprint(g) != fmt.Sprint(w) {
			d = append(d, fmt.Sprintf("%s = %q, want %q", field, fmt.Sprint(g), fmt.Sprint(w)))
		}
	}
	sc := want.SpanContext()
	f("traceID", got.TraceID, sc.TraceID().String())
	f("spanID", got.SpanID, sc.SpanID().String())
	parent := ""
	if want.Parent().IsValid() {
		parent = want.Parent().SpanID().String()
	}
	f("parentSpanID", got.ParentSpanID, parent)
	f("traceState", got.TraceState, sc.TraceState().String())
	svc, _ := want.Resource().Set().Value("service.name")
	f("service", got.Service, svc.AsString())
	f("name", got.Name, want.Name())
	f("kind", got.Kind, want.SpanKind().String())
	f("startTimeUnixNano", got.StartTimeUnixNano, strconv.FormatInt(want.StartTime().UnixNano(), 10))
	f("durationNanos", got.DurationNanos, want.EndTime().Sub(want.StartTime()).Nanoseconds())
	f("statusCode", got.StatusCode, otelStatusName(want.Status().Code))
	f("statusMessage", got.StatusMessage, want.Status().Description)
	f("scope.name", got.Scope.Name, want.InstrumentationScope().Name)
	f("scope.version", got.Scope.Version, want.InstrumentationScope().Version)
	if s := diffAttrs(got.Resource, otelAttrs(want.Resource().Attributes())); s != "" {
		d = append(d, "resource: "+s)
	}
	if s := diffAttrs(got.Attributes, otelAttrs(want.Attributes())); s != "" {
		d = append(d, "attributes: "+s)
	}
	if len(got.Events) != len(want.Events()) {
		d = append(d, fmt.Sprintf("%d events, want %d: %+v", len(got.Events), len(want.Events()), got.Events))
	} else {
		for i, we := range want.Events() {
			ge := got.Events[i]
			f(fmt.Sprintf("events[%d].name", i), ge.Name, we.Name)
			f(fmt.Sprintf("events[%d].timeUnixNano", i), ge.TimeUnixNano, strconv.FormatInt(we.Time.UnixNano(), 10))
			if s := diffAttrs(ge.Attributes, otelAttrs(we.Attributes)); s != "" {
				d = append(d, fmt.Sprintf("events[%d].attributes: %s", i, s))
			}
		}
	}
	if len(got.Links) != len(want.Links()) {
		d = append(d, fmt.Sprintf("%d links, want %d: %+v", len(got.Links), len(want.Links()), got.Links))
	} else {
		for i, wl := range want.Links() {
			gl := got.Links[i]
			f(fmt.Sprintf("links[%d].traceID", i), gl.TraceID, wl.SpanContext.TraceID().String())
			f(fmt.Sprintf("links[%d].spanID", i), gl.SpanID, wl.SpanContext.SpanID().String())
			f(fmt.Sprintf("links[%d].traceState", i), gl.TraceState, wl.SpanContext.TraceState().String())
			if s := diffAttrs(gl.Attributes, otelAttrs(wl.Attributes)); s != "" {
				d = append(d, fmt.Sprintf("links[%d].attributes: %s", i, s))
			}
		}
	}
	return strings.Join(d, "; ")
}

// The OpenTelemetry Go SDK, over gRPC and over HTTP: nested spans with
// typed attributes, events, an exception, a link, every kind and status;
// each span read back by trace id exactly as exported, and each trace
// found by every search condition.
func TestTracesGoSDK(t *testing.T) {
	v := startVigil(t, withArgs("--host-metrics=false"))
	for _, transport := range []string{"grpc", "http"} {
		t.Run(transport, func(t *testing.T) {
			ctx := context.Background()
			service := "gosdk-" + transport
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(
				sdktrace.WithResource(resource.NewSchemaless(
					attribute.String("service.name", service),
					attribute.String("deployment.environment", "e2e-"+transport),
				)),
				sdktrace.WithBatcher(newTraceExporter(t, v, transport)),
				sdktrace.WithSpanProcessor(rec),
			)
			tr := tp.Tracer("e2e/checkout", trace.WithInstrumentationVersion("1.2.3"))

			// Explicit times, a few seconds apart, so durations and the
			// newest-first order are known.
			base := time.Now().Add(-2 * time.Minute)
			at := func(d time.Duration) time.Time { return base.Add(d) }

			// A producer/consumer trace, which the checkout trace links to.
			_, prod := tr.Start(ctx, "publish order", trace.WithSpanKind(trace.SpanKindProducer), trace.WithTimestamp(at(0)))
			pctx := trace.ContextWithSpan(ctx, prod)
			_, cons := tr.Start(pctx, "consume order", trace.WithSpanKind(trace.SpanKindConsumer), trace.WithTimestamp(at(5*time.Millisecond)))
			cons.SetStatus(codes.Ok, "")
			cons.End(trace.WithTimestamp(at(15 * time.Millisecond)))
			prod.End(trace.WithTimestamp(at(20 * time.Millisecond)))
			linked := prod.SpanContext()

			// The checkout trace: server → internal → client, with the
			// error at the bottom.
			rctx, root := tr.Start(ctx, "checkout",
				trace.WithSpanKind(trace.SpanKindServer),
				trace.WithTimestamp(at(10*time.Second)),
				trace.WithLinks(trace.Link{SpanContext: linked, Attributes: []attribute.KeyValue{attribute.String("link.reason", "order")}}),
				trace.WithAttributes(
					attribute.String("customer.tier", "gold"),
					attribute.Int64("cart.items", 42),
					attribute.Float64("cart.total", 3.5),
					attribute.Bool("cart.gift", true),
					attribute.StringSlice("cart.skus", []string{"a-1", "b-2"}),
					attribute.Int64Slice("cart.qty", []int64{1, 2}),
				))
			cctx, child := tr.Start(rctx, "load cart", trace.WithTimestamp(at(10*time.Second+100*time.Millisecond)))
			child.AddEvent("cache miss", trace.WithTimestamp(at(10*time.Second+110*time.Millisecond)),
				trace.WithAttributes(attribute.String("cache.key", "cart:7"), attribute.Int("cache.shard", 3)))
			_, grand := tr.Start(cctx, "SELECT cart", trace.WithSpanKind(trace.SpanKindClient),
				trace.WithTimestamp(at(10*time.Second+200*time.Millisecond)),
				trace.WithAttributes(attribute.String("db.system", "postgresql")))
			grand.RecordError(errors.New("db timeout"), trace.WithTimestamp(at(10*time.Second+450*time.Millisecond)))
			grand.SetStatus(codes.Error, "db timeout")
			grand.End(trace.WithTimestamp(at(10*time.Second + 500*time.Millisecond)))
			child.SetStatus(codes.Ok, "")
			child.End(trace.WithTimestamp(at(10*time.Second + 900*time.Millisecond)))
			root.End(trace.WithTimestamp(at(11*time.Second + 500*time.Millisecond)))
			checkout := root.SpanContext().TraceID().String()

			// Small traces for paging.
			var ticks []string
			for i := range 3 {
				_, s := tr.Start(ctx, "tick", trace.WithTimestamp(at(time.Duration(20+i)*time.Second)))
				s.End(trace.WithTimestamp(at(time.Duration(20+i)*time.Second + time.Millisecond)))
				ticks = append(ticks, s.SpanContext().TraceID().String())
			}

			if err := tp.ForceFlush(ctx); err != nil {
				t.Fatal(err)
			}
			if err := tp.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}

			// Every exported span, by trace id, as it was exported.
			byTrace := map[string][]sdktrace.ReadOnlySpan{}
			for _, s := range rec.Ended() {
				id := s.SpanContext().TraceID().String()
				byTrace[id] = append(byTrace[id], s)
			}
			if len(byTrace) != 5 || len(byTrace[checkout]) != 3 {
				t.Fatalf("BUG: recorded %d traces, checkout with %d spans", len(byTrace), len(byTrace[checkout]))
			}
			for id, want := range byTrace {
				got := waitTrace(t, v.URL, id, len(want))
				if len(got.Spans) != len(want) {
					t.Errorf("trace %s: %d spans, want %d", id, len(got.Spans), len(want))
				}
				if !slices.IsSortedFunc(got.Spans, func(a, b apiSpan) int {
					x, _ := strconv.ParseInt(a.StartTimeUnixNano, 10, 64)
					y, _ := strconv.ParseInt(b.StartTimeUnixNano, 10, 64)
					return int(x - y)
				}) {
					t.Errorf("trace %s: spans not sorted by start time", id)
				}
				for _, w := range want {
					i := slices.IndexFunc(got.Spans, func(s apiSpan) bool { return s.SpanID == w.SpanContext().SpanID().String() })
					if i < 0 {
						t.Errorf("trace %s: span %s (%s) missing", id, w.SpanContext().SpanID(), w.Name())
						continue
					}
					if d := diffSpan(got.Spans[i], w); d != "" {
						t.Errorf("trace %s span %q: %s", id, w.Name(), d)
					}
				}
			}
			t.Logf("%d traces, %d spans read back and compared field by field", len(byTrace), len(rec.Ended()))
			// The exception event is there as the SDK's RecordError writes it.
			g := waitTrace(t, v.URL, checkout, 3)
			if i := slices.IndexFunc(g.Spans, func(s apiSpan) bool { return s.Name == "SELECT cart" }); i < 0 ||
				len(g.Spans[i].Events) != 1 || g.Spans[i].Events[0].Name != "exception" ||
				jsonAttrString(g.Spans[i].Events[0].Attributes["exception.message"]) != "db timeout" {
				t.Errorf("no exception event with exception.message=db timeout on SELECT cart: %+v", g.Spans)
			}

			all := append([]string{checkout, linked.TraceID().String()}, ticks...)
			svc := func(kv ...string) url.Values {
				p := url.Values{"service": {service}}
				for i := 0; i < len(kv); i += 2 {
					p.Add(kv[i], kv[i+1])
				}
				return p
			}
			waitSearch(t, v.URL, svc(), all)
			for _, tc := range []struct {
				p    url.Values
				want []string
			}{
				{svc("operation", "SELECT cart"), []string{checkout}},
				{svc("operation", "consume order"), []string{linked.TraceID().String()}},
				{svc("operation", "tick"), ticks},
				{svc("status", "error"), []string{checkout}},
				{svc("kind", "consumer"), []string{linked.TraceID().String()}},
				{svc("minDuration", "1s"), []string{checkout}},
				{svc("minDuration", "300ms", "maxDuration", "300ms"), []string{checkout}},
				{svc("attr", "customer.tier=gold"), []string{checkout}},
				{svc("attr", "cart.items=42"), []string{checkout}},
				{svc("attr", "customer.tier=gold", "attr", "cart.gift=true"), []string{checkout}},
				{svc("attr", "customer.tier=silver"), nil},
				{svc("attr", "deployment.environment=e2e-"+transport), all},
				{url.Values{"operation": {"load cart"}, "attr": {"deployment.environment=e2e-" + transport}}, []string{checkout}},
			} {
				waitSearch(t, v.URL, tc.p, tc.want)
			}

			// The summary of the checkout trace.
			page := searchTraces(t, v.URL, svc("operation", "checkout"))
			if len(page.Traces) != 1 {
				t.Fatalf("operation=checkout: %+v", page)
			}
			s := page.Traces[0]
			wantSum := traceSummary{TraceID: checkout, RootService: service, RootName: "checkout",
				StartTimeUnixNano: strconv.FormatInt(at(10*time.Second).UnixNano(), 10), DurationNanos: (1500 * time.Millisecond).Nanoseconds(),
				SpanCount: 3, ErrorCount: 1, Services: []string{service}}
			if fmt.Sprintf("%+v", s) != fmt.Sprintf("%+v", wantSum) {
				t.Errorf("summary:\n got %+v\nwant %+v", s, wantSum)
			}

			// limit=1 walks every trace once, newest start first.
			var walked []string
			var lastStart int64 = 1<<63 - 1
			p := svc("limit", "1")
			for pages := 0; ; pages++ {
				if pages > len(all) {
					t.Fatalf("more than %d pages with limit=1: %v", len(all), walked)
				}
				page := searchTraces(t, v.URL, p)
				if len(page.Traces) != 1 {
					t.Fatalf("page %d with limit=1 has %d traces (cursor %q)", pages, len(page.Traces), p.Get("cursor"))
				}
				id := page.Traces[0].TraceID
				if slices.Contains(walked, id) {
					t.Fatalf("trace %s repeated on page %d: %v", id, pages, walked)
				}
				walked = append(walked, id)
				st, _ := strconv.ParseInt(page.Traces[0].StartTimeUnixNano, 10, 64)
				if st > lastStart {
					t.Errorf("page %d: trace starting at %d after one starting at %d: not newest first", pages, st, lastStart)
				}
				lastStart = st
				if page.NextCursor == "" {
					break
				}
				p.Set("cursor", page.NextCursor)
			}
			if !slices.Equal(slices.Sorted(slices.Values(walked)), slices.Sorted(slices.Values(all))) {
				t.Errorf("limit=1 pages walked %v, want %v", walked, all)
			}
			t.Logf("limit=1 walked %d pages", len(walked))
		})
	}
}

// telemetrygen over gRPC and HTTP: each run's traces found by service,
// each with its two spans linked child to parent.
func TestTracesTelemetrygen(t *testing.T) {
	tg := tool(t, "telemetrygen", goBin("telemetrygen"))
	v := startVigil(t, withArgs("--host-metrics=false"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, tc := range []struct {
		name, endpoint string
		extra          []string
	}{
		{"grpc", v.GRPC, nil},
		{"http", v.OTLPHTTP, []string{"--otlp-http"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			service := "tg-traces-" + tc.name
			args := append([]string{"traces", "--otlp-endpoint", tc.endpoint, "--otlp-insecure", "--traces", "20", "--child-spans", "1", "--rate", "200", "--service", service}, tc.extra...)
			run(t, ctx, nil, tg, args...)

			var page searchPage
			eventually(t, 20*time.Second, func() string {
				page = searchTraces(t, v.URL, url.Values{"service": {service}, "limit": {"100"}})
				if len(page.Traces) != 20 {
					return fmt.Sprintf("service=%s: %d traces, want 20", service, len(page.Traces))
				}
				return ""
			})
			seen := map[string]bool{}
			for _, s := range page.Traces {
				if seen[s.TraceID] {
					t.Errorf("trace %s listed twice", s.TraceID)
				}
				seen[s.TraceID] = true
				if s.SpanCount != 2 || s.RootService != service {
					t.Errorf("summary %+v: want spanCount 2 and rootService %s", s, service)
				}
				tr := waitTrace(t, v.URL, s.TraceID, 2)
				if len(tr.Spans) != 2 {
					t.Errorf("trace %s: %d spans, want 2", s.TraceID, len(tr.Spans))
					continue
				}
				var parent, child *apiSpan
				for i := range tr.Spans {
					if tr.Spans[i].ParentSpanID == "" {
						parent = &tr.Spans[i]
					} else {
						child = &tr.Spans[i]
					}
				}
				if parent == nil || child == nil || child.ParentSpanID != parent.SpanID {
					t.Errorf("trace %s: want a root and its child: %+v", s.TraceID, tr.Spans)
					continue
				}
				for _, sp := range tr.Spans {
					if sp.Service != service || sp.TraceID != s.TraceID {
						t.Errorf("trace %s: span %s has service %q traceID %q", s.TraceID, sp.SpanID, sp.Service, sp.TraceID)
					}
				}
			}
		})
	}
}

// Three services in this process (frontend → api → db-service), each with
// its own TracerProvider, calling each other over loopback HTTP with
// otelhttp and W3C trace context; a third of the requests fail in
// db-service. The derived metrics count the calls and failures per edge
// and per service, their exemplars point at the sent traces, and each
// request is one trace across all three services.
func TestMultiServiceTrace(t *testing.T) {
	v := startVigil(t, withArgs("--host-metrics=false"))
	ctx := context.Background()
	prop := propagation.TraceContext{}
	newTP := func(service string) *sdktrace.TracerProvider {
		return sdktrace.NewTracerProvider(
			sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))),
			sdktrace.WithBatcher(newTraceExporter(t, v, "grpc")),
		)
	}
	frontendTP, apiTP, dbTP := newTP("frontend"), newTP("api"), newTP("db-service")

	db := httptest.NewServer(otelhttp.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("fail") == "1" {
			http.Error(w, "deadlock", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "row")
	}), "query", otelhttp.WithTracerProvider(dbTP), otelhttp.WithPropagators(prop)))
	defer db.Close()

	apiClient := &http.Client{Transport: otelhttp.NewTransport(http.DefaultTransport, otelhttp.WithTracerProvider(apiTP), otelhttp.WithPropagators(prop))}
	api := httptest.NewServer(otelhttp.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, db.URL+"/query?"+r.URL.RawQuery, nil)
		resp, err := apiClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			http.Error(w, "db failed", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "ok")
	}), "cart", otelhttp.WithTracerProvider(apiTP), otelhttp.WithPropagators(prop)))
	defer api.Close()

	frontendClient := &http.Client{Transport: otelhttp.NewTransport(http.DefaultTransport, otelhttp.WithTracerProvider(frontendTP), otelhttp.WithPropagators(prop))}
	const requests, failures = 9, 3
	var traceIDs []string
	sent := map[string]bool{}
	for i := range requests {
		fail := i%3 == 0
		rctx, root := frontendTP.Tracer("e2e/frontend").Start(ctx, "render cart")
		u := api.URL + "/cart"
		if fail {
			u += "?fail=1"
		}
		req, _ := http.NewRequestWithContext(rctx, http.MethodGet, u, nil)
		resp, err := frontendClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{false: 200, true: 500}[fail]; resp.StatusCode != want {
			t.Fatalf("request %d: status %d, want %d", i, resp.StatusCode, want)
		}
		if fail {
			root.SetStatus(codes.Error, "api failed")
		}
		root.End()
		id := root.SpanContext().TraceID().String()
		traceIDs = append(traceIDs, id)
		sent[id] = true
	}
	for _, tp := range []*sdktrace.TracerProvider{frontendTP, apiTP, dbTP} {
		if err := tp.ForceFlush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := tp.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// One trace per request, across the three services: render cart and
	// the frontend's client span, api's server and client spans, and
	// db-service's server span.
	for _, id := range traceIDs {
		tr := waitTrace(t, v.URL, id, 5)
		services := map[string]bool{}
		for _, s := range tr.Spans {
			services[s.Service] = true
		}
		if len(tr.Spans) != 5 || !maps.Equal(services, map[string]bool{"frontend": true, "api": true, "db-service": true}) {
			t.Errorf("trace %s: %d spans from %v, want 5 from frontend, api and db-service", id, len(tr.Spans), slices.Sorted(maps.Keys(services)))
		}
		if d := checkParents(tr); d != "" {
			t.Errorf("trace %s: %s", id, d)
		}
	}

	// The derived series, once flushed.
	waitSum := func(q string, want float64) {
		t.Helper()
		eventually(t, 30*time.Second, func() string {
			if d := query(t, v.URL, q, time.Time{}); len(d.Result) == 0 {
				return fmt.Sprintf("%s: no series", q)
			}
			d := query(t, v.URL, "sum("+q+")", time.Time{})
			if len(d.Result) != 1 || value(d.Result[0]) != want {
				return fmt.Sprintf("sum(%s) = %+v, want %v", q, d.Result, want)
			}
			return ""
		})
	}
	waitSum(`traces_service_graph_request_total{client="frontend",server="api"}`, requests)
	waitSum(`traces_service_graph_request_total{client="api",server="db-service"}`, requests)
	waitSum(`traces_service_graph_request_failed_total{client="frontend",server="api"}`, failures)
	waitSum(`traces_service_graph_request_failed_total{client="api",server="db-service"}`, failures)
	waitSum(`traces_service_graph_request_server_seconds_count{client="frontend",server="api"}`, requests)
	waitSum(`traces_service_graph_request_client_seconds_count{client="api",server="db-service"}`, requests)
	waitSum(`traces_spanmetrics_calls_total{service="api",span_kind="SPAN_KIND_SERVER"}`, requests)
	waitSum(`traces_spanmetrics_calls_total{service="api",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_ERROR"}`, failures)
	waitSum(`traces_spanmetrics_calls_total{service="db-service",span_kind="SPAN_KIND_SERVER"}`, requests)
	waitSum(`traces_spanmetrics_latency_count{service="api",span_kind="SPAN_KIND_SERVER"}`, requests)
	waitSum(`traces_spanmetrics_latency_bucket{service="api",span_kind="SPAN_KIND_SERVER",le="+Inf"}`, requests)
	if d := query(t, v.URL, `count(traces_service_graph_request_total{client="frontend",server="db-service"})`, time.Time{}); len(d.Result) != 0 {
		t.Errorf("an edge frontend → db-service that no request took: %+v", d.Result)
	}

	// Exemplars on the latency histogram carry the sent trace ids.
	type exemplar struct {
		Labels map[string]string `json:"labels"`
	}
	type exemplarSeries struct {
		SeriesLabels map[string]string `json:"seriesLabels"`
		Exemplars    []exemplar        `json:"exemplars"`
	}
	eventually(t, 30*time.Second, func() string {
		var res []exemplarSeries
		apiGet(t, v.URL, "/api/v1/query_exemplars", url.Values{
			"query": {`traces_spanmetrics_latency_bucket{service=~"frontend|api|db-service"}`},
			"start": {strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)},
			"end":   {strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10)},
		}, &res)
		n := 0
		for _, s := range res {
			for _, e := range s.Exemplars {
				id := strings.ToLower(e.Labels["trace_id"])
				if !sent[id] {
					t.Fatalf("exemplar of %v has trace_id %q, not one of the sent traces %v", s.SeriesLabels, e.Labels["trace_id"], traceIDs)
				}
				n++
			}
		}
		if n == 0 {
			return fmt.Sprintf("no exemplars on traces_spanmetrics_latency_bucket: %+v", res)
		}
		return ""
	})
}

// OTLP trace exports streamed by concurrent gRPC clients, the process
// killed with SIGKILL mid-stream and restarted on the same data
// directory: every span whose export was acknowledged is found by trace
// id. During the stream, searches and lookups never fail and never show a
// span twice, and the restart leaves no unfinished part behind.
func TestKill9SpansDurable(t *testing.T) {
	dir := t.TempDir()
	v := startVigil(t, withDataDir(dir), withArgs("--host-metrics=false"))
	const (
		workers        = 4
		spansPerExport = 500
		exportsPerTr   = 4 // a trace spans several exports, so heads and parts share traces
		wantAcked      = 300_000
	)
	start := time.Now().Add(-10 * time.Minute)

	traceIDOf := func(w, tr int) pcommon.TraceID {
		var id pcommon.TraceID
		copy(id[:], fmt.Sprintf("k9%02d%012d", w, tr))
		return id
	}
	spanIDOf := func(w, i, j int) pcommon.SpanID {
		var id pcommon.SpanID
		n := uint64(w)<<56 | uint64(i)<<20 | uint64(j) + 1
		for b := range 8 {
			id[7-b] = byte(n >> (8 * b))
		}
		return id
	}

	var mu sync.Mutex
	acked := map[pcommon.TraceID]map[pcommon.SpanID]bool{}
	ackedSpans := 0
	var stopExports atomic.Bool
	var wg sync.WaitGroup
	for w := range workers {
		cc, err := grpc.NewClient(v.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		client := ptraceotlp.NewGRPCClient(cc)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stopExports.Load(); i++ {
				trNum := i / exportsPerTr
				traceID := traceIDOf(w, trNum)
				rootID := spanIDOf(w, trNum*exportsPerTr, 0)
				td := ptrace.NewTraces()
				rs := td.ResourceSpans().AppendEmpty()
				rs.Resource().Attributes().PutStr("service.name", "durable")
				rs.Resource().Attributes().PutStr("worker", strconv.Itoa(w))
				ss := rs.ScopeSpans().AppendEmpty()
				var ids []pcommon.SpanID
				for j := range spansPerExport {
					s := ss.Spans().AppendEmpty()
					id := spanIDOf(w, i, j)
					s.SetTraceID(traceID)
					s.SetSpanID(id)
					if id != rootID {
						s.SetParentSpanID(rootID)
					}
					s.SetName(fmt.Sprintf("op-%d", j%10))
					s.SetKind(ptrace.SpanKindServer)
					st := start.Add(time.Duration(i*spansPerExport+j) * time.Microsecond)
					s.SetStartTimestamp(pcommon.NewTimestampFromTime(st))
					s.SetEndTimestamp(pcommon.NewTimestampFromTime(st.Add(time.Duration(j) * time.Microsecond)))
					s.Attributes().PutInt("seq", int64(j))
					ids = append(ids, id)
				}
				resp, err := client.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(td))
				if err != nil {
					if stopExports.Load() {
						return
					}
					continue // refused or the server is gone: not acknowledged
				}
				if resp.PartialSuccess().RejectedSpans() != 0 {
					continue
				}
				mu.Lock()
				if acked[traceID] == nil {
					acked[traceID] = map[pcommon.SpanID]bool{}
				}
				for _, id := range ids {
					acked[traceID][id] = true
				}
				ackedSpans += len(ids)
				mu.Unlock()
			}
		}()
	}

	// Readers during the stream: every answer is a success, and no trace
	// shows a span twice or more spans than were sent.
	var stopReads atomic.Bool
	var readErrs []string
	var readsMu sync.Mutex
	reads := 0
	var slowest time.Duration
	readErr := func(format string, a ...any) {
		readsMu.Lock()
		defer readsMu.Unlock()
		if len(readErrs) < 20 {
			readErrs = append(readErrs, fmt.Sprintf(format, a...))
		}
	}
	var rwg sync.WaitGroup
	for r := range 2 {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for !stopReads.Load() {
				var page searchPage
				p := url.Values{"service": {"durable"}, "limit": {"50"}, "start": {strconv.FormatInt(start.Add(-time.Minute).Unix(), 10)}}
				if r == 1 {
					p.Set("attr", "seq=7")
				}
				began := time.Now()
				_, err := traceAPIGet(v.URL, "/api/vigil/v1/traces", p, &page)
				took := time.Since(began)
				readsMu.Lock()
				slowest = max(slowest, took)
				readsMu.Unlock()
				if err != nil {
					readErr("search after %v: %v", took.Round(time.Millisecond), err)
					continue
				}
				for _, s := range page.Traces[:min(len(page.Traces), 3)] {
					tr, found, err := fetchTrace(v.URL, s.TraceID)
					if err != nil {
						readErr("trace %s: %v", s.TraceID, err)
						continue
					}
					if !found {
						readErr("trace %s: listed by search, then 404", s.TraceID)
						continue
					}
					seen := map[string]bool{}
					for _, sp := range tr.Spans {
						if seen[sp.SpanID] {
							readErr("trace %s: span %s twice during the stream", s.TraceID, sp.SpanID)
							break
						}
						seen[sp.SpanID] = true
					}
					if len(tr.Spans) > spansPerExport*exportsPerTr {
						readErr("trace %s: %d spans, more than the %d sent", s.TraceID, len(tr.Spans), spansPerExport*exportsPerTr)
					}
				}
				readsMu.Lock()
				reads++
				readsMu.Unlock()
			}
		}()
	}

	// More spans than one head holds before it is cut (200000), so parts
	// are written while the stream and the readers run.
	eventually(t, 120*time.Second, func() string {
		mu.Lock()
		defer mu.Unlock()
		if ackedSpans < wantAcked {
			return fmt.Sprintf("only %d spans acknowledged", ackedSpans)
		}
		return ""
	})
	stopReads.Store(true)
	rwg.Wait()
	if code := v.stop(syscall.SIGKILL); code == 0 {
		t.Fatalf("kill -9 gave exit code %d", code)
	}
	stopExports.Store(true)
	wg.Wait()
	readsMu.Lock()
	if len(readErrs) > 0 {
		t.Errorf("during the stream (%d reads): %s", reads, strings.Join(readErrs, "\n"))
	}
	t.Logf("%d reads during the stream; the slowest search took %v", reads, slowest.Round(time.Millisecond))
	readsMu.Unlock()

	v.restart()
	partsDir := filepath.Join(dir, "spans", "parts")
	entries, err := os.ReadDir(partsDir)
	if err != nil {
		t.Fatalf("cannot list %s: %v", partsDir, err)
	}
	nparts := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("unfinished part %s left in %s after restart", e.Name(), partsDir)
		} else if e.IsDir() {
			nparts++
		}
	}

	mu.Lock()
	defer mu.Unlock()
	missing, missingTraces := 0, 0
	for traceID, want := range acked {
		id := traceID.String()
		var tr apiTrace
		var found bool
		eventually(t, 20*time.Second, func() string {
			var err error
			tr, found, err = fetchTrace(v.URL, id)
			if err != nil {
				t.Fatal(err)
			}
			if !found {
				return "trace " + id + ": 404 after restart"
			}
			return ""
		})
		got := map[string]bool{}
		for _, s := range tr.Spans {
			got[s.SpanID] = true
		}
		m := 0
		for sid := range want {
			if !got[sid.String()] {
				m++
			}
		}
		if m > 0 {
			missing += m
			missingTraces++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged spans (in %d of %d traces) missing after kill -9 and restart", missing, ackedSpans, missingTraces, len(acked))
	}
	t.Logf("%d acknowledged spans in %d traces all found after kill -9 (%d parts on disk)", ackedSpans, len(acked), nparts)
}
