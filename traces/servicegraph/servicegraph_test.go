package servicegraph

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/vigilhq/vigil/storage/spans"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)

// span is a span of trace tr with id id and parent parent (0: root); the
// other fields come from the options.
func span(tr, id, parent byte, service, kind string, opts ...func(*spans.Span)) spans.Span {
	s := spans.Span{Service: service, Name: "op", Kind: kind, StatusCode: "unset", Start: t0, DurationNanos: int64(time.Millisecond)}
	s.TraceID[0], s.TraceID[15] = 0xee, tr
	s.SpanID[7] = id
	s.ParentSpanID[7] = parent
	for _, o := range opts {
		o(&s)
	}
	return s
}

func failed(s *spans.Span) { s.StatusCode = "error" }

func took(d time.Duration) func(*spans.Span) {
	return func(s *spans.Span) { s.DurationNanos = int64(d) }
}

func attrs(kv ...string) func(*spans.Span) {
	return func(s *spans.Span) {
		s.Attributes = map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			s.Attributes[kv[i]] = kv[i+1]
		}
	}
}

// gather runs c through a pedantic registry, which checks Collect against
// Describe, and returns the metrics by "name{label=value,...}".
func gather(t *testing.T, c prometheus.Collector) map[string]*dto.Metric {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.Metric{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var lv []string
			for _, l := range m.GetLabel() {
				lv = append(lv, l.GetName()+"="+l.GetValue())
			}
			out[mf.GetName()+"{"+strings.Join(lv, ",")+"}"] = m
		}
	}
	return out
}

func edgeID(client, server, conn string) string {
	return fmt.Sprintf("{client=%s,connection_type=%s,server=%s}", client, conn, server)
}

// edges returns request and failed counts by edgeID, leaving out the
// bookkeeping counters.
func edges(got map[string]*dto.Metric) map[string][2]float64 {
	out := map[string][2]float64{}
	for k, m := range got {
		if id, ok := strings.CutPrefix(k, "traces_service_graph_request_total"); ok {
			e := out[id]
			e[0] = m.GetCounter().GetValue()
			out[id] = e
		}
		if id, ok := strings.CutPrefix(k, "traces_service_graph_request_failed_total"); ok {
			e := out[id]
			e[1] = m.GetCounter().GetValue()
			out[id] = e
		}
	}
	return out
}

func counter(got map[string]*dto.Metric, name string) float64 {
	m, ok := got[name]
	if !ok {
		panic("BUG: no series " + name)
	}
	return m.GetCounter().GetValue()
}

func TestPairing(t *testing.T) {
	for _, c := range []struct {
		name    string
		batches [][]spans.Span
		want    map[string][2]float64 // edgeID: total, failed
	}{
		{
			name:    "same batch",
			batches: [][]spans.Span{{span(1, 1, 9, "web", "client"), span(1, 2, 1, "api", "server")}},
			want:    map[string][2]float64{edgeID("web", "api", ""): {1, 0}},
		},
		{
			name:    "client first, separate calls",
			batches: [][]spans.Span{{span(1, 1, 9, "web", "client")}, {span(1, 2, 1, "api", "server")}},
			want:    map[string][2]float64{edgeID("web", "api", ""): {1, 0}},
		},
		{
			name:    "server first, separate calls",
			batches: [][]spans.Span{{span(1, 2, 1, "api", "server")}, {span(1, 1, 9, "web", "client")}},
			want:    map[string][2]float64{edgeID("web", "api", ""): {1, 0}},
		},
		{
			name: "server error counts as failed",
			batches: [][]spans.Span{
				{span(1, 1, 9, "web", "client"), span(2, 1, 9, "web", "client")},
				{span(1, 2, 1, "api", "server", failed), span(2, 2, 1, "api", "server")},
			},
			want: map[string][2]float64{edgeID("web", "api", ""): {2, 1}},
		},
		{
			name:    "client error counts as failed",
			batches: [][]spans.Span{{span(1, 2, 1, "api", "server")}, {span(1, 1, 9, "web", "client", failed)}},
			want:    map[string][2]float64{edgeID("web", "api", ""): {1, 1}},
		},
		{
			name:    "producer and consumer",
			batches: [][]spans.Span{{span(1, 3, 1, "billing", "consumer")}, {span(1, 1, 9, "orders", "producer")}},
			want:    map[string][2]float64{edgeID("orders", "billing", "messaging_system"): {1, 0}},
		},
		{
			name: "same span ids in another trace do not pair",
			batches: [][]spans.Span{
				{span(1, 1, 9, "web", "client")},
				{span(2, 2, 1, "api", "server")},
			},
			want: map[string][2]float64{},
		},
		{
			name:    "internal spans are no edge",
			batches: [][]spans.Span{{span(1, 1, 9, "web", "internal"), span(1, 2, 1, "api", "internal")}},
			want:    map[string][2]float64{},
		},
		{
			name:    "root server span is called by the user",
			batches: [][]spans.Span{{span(1, 1, 0, "web", "server", failed)}},
			want:    map[string][2]float64{edgeID("user", "web", "virtual_node"): {1, 1}},
		},
		{
			name: "database client is an edge at once",
			batches: [][]spans.Span{{
				span(1, 1, 9, "api", "client", attrs("db.system", "postgresql")),
				span(1, 2, 9, "api", "client", attrs("db.system", "postgresql", "db.name", "orders")),
				span(1, 3, 9, "api", "client", attrs("db.system", "redis", "peer.service", "cache"), failed),
			}},
			want: map[string][2]float64{
				edgeID("api", "postgresql", "database"): {1, 0},
				edgeID("api", "orders", "database"):     {1, 0},
				edgeID("api", "cache", "database"):      {1, 1},
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := New(Options{Now: func() time.Time { return t0 }})
			for _, b := range c.batches {
				g.Observe(b)
			}
			got := edges(gather(t, g))
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("edges = %v, want %v", got, c.want)
			}
		})
	}
}

func TestLatencyAndExemplars(t *testing.T) {
	g := New(Options{Now: func() time.Time { return t0 }})
	client := span(7, 1, 9, "web", "client", took(300*time.Millisecond))
	server := span(7, 2, 1, "api", "server", took(100*time.Millisecond))
	server.Start = t0.Add(50 * time.Millisecond)
	g.Observe([]spans.Span{server})
	g.Observe([]spans.Span{client})
	got := gather(t, g)
	for _, c := range []struct {
		metric string
		sp     spans.Span
		le     float64 // the bucket the sample falls in
	}{
		{"traces_service_graph_request_client_seconds", client, 0.512},
		{"traces_service_graph_request_server_seconds", server, 0.128},
	} {
		h := got[c.metric+edgeID("web", "api", "")].GetHistogram()
		if h.GetSampleCount() != 1 || h.GetSampleSum() != float64(c.sp.DurationNanos)/1e9 {
			t.Errorf("%s count/sum = %d/%v, want 1/%v", c.metric, h.GetSampleCount(), h.GetSampleSum(), float64(c.sp.DurationNanos)/1e9)
		}
		for _, b := range h.GetBucket() {
			want := uint64(0)
			if b.GetUpperBound() >= c.le {
				want = 1
			}
			if b.GetCumulativeCount() != want {
				t.Errorf("%s bucket le=%v = %d, want %d", c.metric, b.GetUpperBound(), b.GetCumulativeCount(), want)
			}
			e := b.GetExemplar()
			if (e != nil) != (b.GetUpperBound() == c.le) {
				t.Errorf("%s bucket le=%v exemplar = %v, want one only in le=%v", c.metric, b.GetUpperBound(), e, c.le)
				continue
			}
			if e == nil {
				continue
			}
			if l := e.GetLabel(); len(l) != 1 || l[0].GetName() != "trace_id" || l[0].GetValue() != hex.EncodeToString(c.sp.TraceID[:]) {
				t.Errorf("%s exemplar labels = %v, want trace_id=%x", c.metric, l, c.sp.TraceID)
			}
			if !e.GetTimestamp().AsTime().Equal(c.sp.End()) {
				t.Errorf("%s exemplar time = %v, want the span end %v", c.metric, e.GetTimestamp().AsTime(), c.sp.End())
			}
		}
	}
}

// The user has no client measurement; its edge has only a server
// tracehist.Histogram, so quantiles are not dragged to zero.
func TestUserEdgeHasNoClientHistogram(t *testing.T) {
	g := New(Options{})
	g.Observe([]spans.Span{span(1, 1, 0, "web", "server")})
	got := gather(t, g)
	if _, ok := got["traces_service_graph_request_client_seconds"+edgeID("user", "web", "virtual_node")]; ok {
		t.Errorf("user edge has a client tracehist.Histogram")
	}
	if h := got["traces_service_graph_request_server_seconds"+edgeID("user", "web", "virtual_node")].GetHistogram(); h.GetSampleCount() != 1 {
		t.Errorf("user edge server tracehist.Histogram count = %d, want 1", h.GetSampleCount())
	}
}

func TestExpiry(t *testing.T) {
	now := t0
	g := New(Options{Wait: 10 * time.Second, Now: func() time.Time { return now }})
	g.Observe([]spans.Span{
		span(1, 1, 9, "web", "client", attrs("peer.service", "stripe"), failed),
		span(2, 1, 9, "web", "client", attrs("server.address", "api.example.com")),
		span(3, 1, 9, "web", "client"),         // no peer: unpaired client
		span(4, 2, 1, "api", "server"),         // no client: unpaired server
		span(5, 2, 1, "api", "server", failed), // paired below, after expiry of the rest
	})
	now = now.Add(5 * time.Second)
	g.Observe([]spans.Span{span(5, 1, 9, "web", "client")})
	g.expire()
	got := gather(t, g)
	if e := edges(got); len(e) != 1 {
		t.Errorf("before Wait: edges %v, want only the paired one", e)
	}

	now = now.Add(5 * time.Second) // exactly Wait after arrival
	g.expire()
	got = gather(t, g)
	want := map[string][2]float64{
		edgeID("web", "api", ""):                         {1, 1},
		edgeID("web", "stripe", "virtual_node"):          {1, 1},
		edgeID("web", "api.example.com", "virtual_node"): {1, 0},
	}
	if e := edges(got); fmt.Sprint(e) != fmt.Sprint(want) {
		t.Errorf("after Wait: edges = %v, want %v", e, want)
	}
	if v := counter(got, `traces_service_graph_unpaired_spans_total{side=client}`); v != 1 {
		t.Errorf("unpaired client = %v, want 1", v)
	}
	if v := counter(got, `traces_service_graph_unpaired_spans_total{side=server}`); v != 1 {
		t.Errorf("unpaired server = %v, want 1", v)
	}
	// The virtual node's latency is the client's measurement.
	if h := got["traces_service_graph_request_server_seconds"+edgeID("web", "stripe", "virtual_node")].GetHistogram(); h.GetSampleCount() != 1 || h.GetSampleSum() != 0.001 {
		t.Errorf("virtual node server tracehist.Histogram = %d/%v, want 1/0.001", h.GetSampleCount(), h.GetSampleSum())
	}
	// A server span arriving after its client expired pairs no more.
	g.Observe([]spans.Span{span(1, 2, 1, "stripe-mock", "server")})
	now = now.Add(10 * time.Second)
	g.expire()
	got = gather(t, g)
	if v := counter(got, `traces_service_graph_unpaired_spans_total{side=server}`); v != 2 {
		t.Errorf("unpaired server = %v, want 2", v)
	}
	if g.pendingLen() != 0 {
		t.Errorf("%d halves still pending", g.pendingLen())
	}
}

func (g *Graph) pendingLen() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for p := g.head; p != nil; p = p.next {
		n++
	}
	if n != len(g.pending) {
		panic(fmt.Sprintf("BUG: expiry list has %d entries, map %d", n, len(g.pending)))
	}
	return n
}

func TestMaxItems(t *testing.T) {
	now := t0
	g := New(Options{MaxItems: 2, Wait: 10 * time.Second, Now: func() time.Time { return now }})
	g.Observe([]spans.Span{
		span(1, 1, 9, "web", "client"),
		span(2, 1, 9, "web", "client"),
		span(3, 1, 9, "web", "client"), // store full: dropped
		span(1, 2, 1, "api", "server"), // pairs with a waiting half: needs no room
		span(4, 1, 9, "web", "client"), // the pair freed a slot
		span(5, 1, 9, "web", "client"), // dropped
	})
	got := gather(t, g)
	if v := counter(got, `traces_service_graph_dropped_spans_total{reason=store_full}`); v != 2 {
		t.Errorf("dropped = %v, want 2", v)
	}
	if e := edges(got); e[edgeID("web", "api", "")] != [2]float64{1, 0} {
		t.Errorf("edges = %v, want web->api once", e)
	}
	if n := g.pendingLen(); n != 2 {
		t.Errorf("%d pending, want 2", n)
	}
	// Once the waiting halves are due, a full store makes room itself
	// instead of dropping, even if Run has not ticked.
	now = now.Add(10 * time.Second)
	g.Observe([]spans.Span{span(6, 1, 9, "web", "client")})
	got = gather(t, g)
	if v := counter(got, `traces_service_graph_dropped_spans_total{reason=store_full}`); v != 2 {
		t.Errorf("dropped = %v after expiry made room, want still 2", v)
	}
	if v := counter(got, `traces_service_graph_unpaired_spans_total{side=client}`); v != 2 {
		t.Errorf("unpaired client = %v, want the 2 expired", v)
	}
	if n := g.pendingLen(); n != 1 {
		t.Errorf("%d pending, want 1", n)
	}
}

func TestMaxSeries(t *testing.T) {
	g := New(Options{MaxSeries: 2})
	var batch []spans.Span
	for i, svc := range []string{"a", "b", "c", "a"} {
		batch = append(batch, span(byte(i), 1, 0, svc, "server"))
	}
	g.Observe(batch)
	got := gather(t, g)
	if v := counter(got, `traces_service_graph_dropped_spans_total{reason=max_series}`); v != 1 {
		t.Errorf("dropped for max_series = %v, want 1", v)
	}
	want := map[string][2]float64{edgeID("user", "a", "virtual_node"): {2, 0}, edgeID("user", "b", "virtual_node"): {1, 0}}
	if e := edges(got); fmt.Sprint(e) != fmt.Sprint(want) {
		t.Errorf("edges = %v, want %v", e, want)
	}
}

func TestStaleEdgesExpire(t *testing.T) {
	now := t0
	g := New(Options{StaleAfter: time.Minute, Now: func() time.Time { return now }})
	g.Observe([]spans.Span{span(1, 1, 0, "web", "server")})
	now = now.Add(time.Minute - time.Second)
	if e := edges(gather(t, g)); len(e) != 1 {
		t.Fatalf("edges before StaleAfter = %v, want 1", e)
	}
	now = now.Add(2 * time.Second)
	if e := edges(gather(t, g)); len(e) != 0 {
		t.Errorf("edges after StaleAfter = %v, want none", e)
	}
}

// Run expires halves on its own ticker; synctest's fake clock makes the
// wait exact without sleeping for real.
func TestRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := New(Options{Wait: 10 * time.Second})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- g.Run(ctx) }()

		g.Observe([]spans.Span{span(1, 1, 9, "web", "client", attrs("peer.service", "stripe"))})
		time.Sleep(9 * time.Second)
		synctest.Wait()
		if e := edges(gather(t, g)); len(e) != 0 {
			t.Errorf("edges before Wait = %v, want none", e)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if e := edges(gather(t, g)); e[edgeID("web", "stripe", "virtual_node")] != [2]float64{1, 0} {
			t.Errorf("edges after Wait = %v, want web->stripe", e)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
}

// Two services export their halves concurrently while a gatherer collects
// and Run expires: run with -race. Every pair must be counted once.
func TestConcurrent(t *testing.T) {
	g := New(Options{MaxItems: 1 << 20})
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error)
	go func() { runDone <- g.Run(ctx) }()

	const workers, traces = 4, 500
	var wg sync.WaitGroup
	for w := range workers {
		for _, side := range []string{"client", "server"} {
			wg.Go(func() {
				for i := range traces {
					var s spans.Span
					if side == "client" {
						s = span(0, 1, 9, "web", "client")
					} else {
						s = span(0, 2, 1, "api", "server")
					}
					s.TraceID[1], s.TraceID[2], s.TraceID[3] = byte(w), byte(i), byte(i>>8)
					g.Observe([]spans.Span{s})
				}
			})
		}
	}
	collectorDone := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(collectorDone)
		for {
			select {
			case <-stop:
				return
			default:
				gather(t, g)
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-collectorDone
	cancel()
	<-runDone

	got := gather(t, g)
	if e := edges(got); e[edgeID("web", "api", "")] != [2]float64{workers * traces, 0} {
		t.Errorf("edges = %v, want %d web->api", e, workers*traces)
	}
	if h := got["traces_service_graph_request_server_seconds"+edgeID("web", "api", "")].GetHistogram(); h.GetSampleCount() != workers*traces {
		t.Errorf("server tracehist.Histogram count = %d, want %d", h.GetSampleCount(), workers*traces)
	}
	if n := g.pendingLen(); n != 0 {
		t.Errorf("%d pending after all pairs arrived", n)
	}
}

// BenchmarkObserve pairs 100 edges per iteration, the client and server
// halves arriving in separate calls as they do from two services.
func BenchmarkObserve(b *testing.B) {
	g := New(Options{})
	client := make([]spans.Span, 100)
	server := make([]spans.Span, 100)
	for i := range client {
		client[i] = span(byte(i), 1, 9, "web", "client")
		server[i] = span(byte(i), 2, 1, "api", "server")
	}
	b.ReportAllocs()
	for b.Loop() {
		// Every pair completes, so the same trace ids pair again next time.
		g.Observe(client)
		g.Observe(server)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(client)), "ns/edge")
}
