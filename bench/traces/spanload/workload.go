package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// Services of the simulated shop. Each runs as podsPerService pods, so a
// batch carries a handful of distinct resources, as a collector's does.
var services = []string{"frontend", "orders", "users", "payments", "inventory"}

const podsPerService = 3

// step is one span of the trace template: spans are taken in this order,
// the first n of them for a trace of n spans, so every span's parent is
// already there.
type step struct {
	service int
	kind    ptrace.SpanKind
	name    string // for server spans, "METHOD route"
	method  string
	route   string // server: http.route; client: the path called
	peer    int    // client: the service called
	parent  int    // index of the parent step; -1 for the root
}

// roots are the frontend's entry points; a trace picks one.
var roots = []struct{ method, route, path string }{
	{"GET", "/api/orders/{id}", "/api/orders/%d"},
	{"POST", "/api/checkout", "/api/checkout"},
	{"GET", "/api/cart", "/api/cart"},
	{"GET", "/api/products/{id}", "/api/products/%d"},
}

var template = []step{
	0:  {service: 0, kind: ptrace.SpanKindServer, parent: -1},
	1:  {service: 0, kind: ptrace.SpanKindClient, name: "GET", method: "GET", route: "/orders/%d", peer: 1, parent: 0},
	2:  {service: 1, kind: ptrace.SpanKindServer, name: "GET /orders/{id}", method: "GET", route: "/orders/{id}", parent: 1},
	3:  {service: 1, kind: ptrace.SpanKindInternal, name: "orders.load", parent: 2},
	4:  {service: 1, kind: ptrace.SpanKindClient, name: "GET", method: "GET", route: "/users/%d", peer: 2, parent: 2},
	5:  {service: 2, kind: ptrace.SpanKindServer, name: "GET /users/{id}", method: "GET", route: "/users/{id}", parent: 4},
	6:  {service: 2, kind: ptrace.SpanKindInternal, name: "cache.get", parent: 5},
	7:  {service: 1, kind: ptrace.SpanKindClient, name: "POST", method: "POST", route: "/payments/authorize", peer: 3, parent: 2},
	8:  {service: 3, kind: ptrace.SpanKindServer, name: "POST /payments/authorize", method: "POST", route: "/payments/authorize", parent: 7},
	9:  {service: 0, kind: ptrace.SpanKindInternal, name: "render", parent: 0},
	10: {service: 1, kind: ptrace.SpanKindClient, name: "GET", method: "GET", route: "/inventory/%d", peer: 4, parent: 2},
	11: {service: 4, kind: ptrace.SpanKindServer, name: "GET /inventory/{sku}", method: "GET", route: "/inventory/{sku}", parent: 10},
}

// Workload describes the spans to send. The same Workload always yields
// the same bytes: batch b is generated from its own generator seeded by
// (Seed, b), so batches can be generated in parallel and in any order.
type Workload struct {
	Spans     int       // total spans; the last batch may be short
	BatchSize int       // spans per export request
	Seed      uint64    // changes every id, duration and choice
	End       time.Time // the newest trace starts just before End
	Window    time.Duration
}

// Batches is the number of export requests.
func (w Workload) Batches() int { return (w.Spans + w.BatchSize - 1) / w.BatchSize }

// SampledTrace is a trace the query phase may look up: the first trace of
// every batch, which is whole in that batch.
type SampledTrace struct {
	ID    pcommon.TraceID
	Spans int
}

// Batch generates export request b, encoded as OTLP protobuf, and the
// batch's sampled trace.
func (w Workload) Batch(b int) ([]byte, SampledTrace, error) {
	n := w.BatchSize
	if rest := w.Spans - b*w.BatchSize; rest < n {
		n = rest
	}
	rng := rand.New(rand.NewPCG(w.Seed, uint64(b)))
	// Batches are spread evenly over the window, oldest first, so senders
	// that take batches in order send spans roughly in time order.
	slot := w.Window / time.Duration(w.Batches())
	batchStart := w.End.Add(-w.Window).Add(slot * time.Duration(b))

	td := ptrace.NewTraces()
	// One ResourceSpans per pod seen in this batch.
	scopes := map[int]ptrace.SpanSlice{}
	spansOf := func(service, pod int) ptrace.SpanSlice {
		key := service*podsPerService + pod
		if s, ok := scopes[key]; ok {
			return s
		}
		rs := td.ResourceSpans().AppendEmpty()
		a := rs.Resource().Attributes()
		a.PutStr("service.name", services[service])
		a.PutStr("service.version", "1.4."+fmt.Sprint(service))
		a.PutStr("host.name", fmt.Sprintf("%s-%d", services[service], pod))
		a.PutStr("telemetry.sdk.language", "go")
		a.PutStr("telemetry.sdk.name", "opentelemetry")
		a.PutStr("telemetry.sdk.version", "1.38.0")
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
		ss.Scope().SetVersion("0.63.0")
		scopes[key] = ss.Spans()
		return ss.Spans()
	}

	var sample SampledTrace
	left := n
	for t := 0; left > 0; t++ {
		size := 6 + rng.IntN(5) // 6..10, 8 on average
		if left-size < 6 {
			// The batch ends on whole traces; the last one takes the rest
			// (up to len(template)) or, if there are too many, is split.
			size = min(left, len(template))
		}
		start := batchStart.Add(time.Duration(rng.Int64N(int64(slot) + 1)))
		id := w.trace(rng, size, start, spansOf)
		if t == 0 {
			sample = SampledTrace{ID: id, Spans: size}
		}
		left -= size
	}
	buf, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	return buf, sample, err
}

type spanTimes struct{ start, end time.Time }

// trace appends one trace of size spans (1..len(template)) starting at
// start and returns its id.
func (w Workload) trace(rng *rand.Rand, size int, start time.Time, spansOf func(service, pod int) ptrace.SpanSlice) pcommon.TraceID {
	var tid pcommon.TraceID
	binary.BigEndian.PutUint64(tid[:8], rng.Uint64())
	binary.BigEndian.PutUint64(tid[8:], rng.Uint64()|1)
	root := roots[rng.IntN(len(roots))]
	objID := rng.IntN(100000)
	// Durations are log-normal around 40 ms (about 0.6% of roots over
	// 500 ms, as a slow tail); children nest inside their parent.
	rootDur := time.Duration(40e6 * math.Exp(rng.NormFloat64()))
	rootDur = max(rootDur, 200*time.Microsecond)
	// ~1% of traces fail: the deepest server span errors with a 500, and
	// the error propagates up through every server and client span.
	failed := rng.IntN(100) == 0
	failAt := -1
	if failed {
		for i := size - 1; i >= 0; i-- {
			if template[i].kind == ptrace.SpanKindServer {
				failAt = i
				break
			}
		}
	}
	// The chain from failAt to the root carries the error.
	onErrorPath := make([]bool, size)
	for i := failAt; i >= 0; i = template[i].parent {
		onErrorPath[i] = true
	}

	ids := make([]pcommon.SpanID, size)
	times := make([]spanTimes, size)
	pods := [5]int{}
	for i := range pods {
		pods[i] = rng.IntN(podsPerService)
	}
	for i := range size {
		st := template[i]
		binary.BigEndian.PutUint64(ids[i][:], rng.Uint64()|1)
		if st.parent < 0 {
			times[i] = spanTimes{start, start.Add(rootDur)}
		} else {
			p := times[st.parent]
			pd := p.end.Sub(p.start)
			off := time.Duration(float64(pd) * (0.05 + 0.25*rng.Float64()))
			d := time.Duration(float64(pd) * (0.3 + 0.4*rng.Float64()))
			if st.kind == ptrace.SpanKindServer {
				// A server span sits inside its client span, minus the network.
				off = time.Duration(float64(pd) * 0.02)
				d = time.Duration(float64(pd) * 0.95)
			}
			s := p.start.Add(off)
			e := s.Add(d)
			if e.After(p.end) {
				e = p.end
			}
			times[i] = spanTimes{s, e}
		}

		sp := spansOf(st.service, pods[st.service]).AppendEmpty()
		sp.SetTraceID(tid)
		sp.SetSpanID(ids[i])
		if st.parent >= 0 {
			sp.SetParentSpanID(ids[st.parent])
		}
		sp.SetKind(st.kind)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(times[i].start))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(times[i].end))
		status := 200
		if onErrorPath[i] {
			status = 500
		}
		a := sp.Attributes()
		switch st.kind {
		case ptrace.SpanKindServer:
			method, route, path := st.method, st.route, st.route
			if st.parent < 0 {
				method, route, path = root.method, root.route, root.path
			} else {
				path = template[st.parent].route
			}
			if i == 0 {
				sp.SetName(method + " " + route)
			} else {
				sp.SetName(st.name)
			}
			a.PutStr("http.method", method)
			a.PutStr("http.route", route)
			a.PutInt("http.status_code", int64(status))
			a.PutStr("http.url", "http://"+services[st.service]+":8080"+fillPath(path, objID))
			a.PutStr("net.host.name", services[st.service])
			a.PutStr("http.user_agent", "Go-http-client/1.1")
		case ptrace.SpanKindClient:
			sp.SetName(st.name)
			a.PutStr("http.method", st.method)
			a.PutInt("http.status_code", int64(status))
			a.PutStr("http.url", "http://"+services[st.peer]+":8080"+fillPath(st.route, objID))
			a.PutStr("net.peer.name", services[st.peer])
		default:
			sp.SetName(st.name)
			if st.name == "cache.get" {
				a.PutBool("cache.hit", rng.IntN(4) != 0)
			}
		}
		if onErrorPath[i] && st.kind != ptrace.SpanKindInternal {
			sp.Status().SetCode(ptrace.StatusCodeError)
			if i == failAt {
				sp.Status().SetMessage("upstream request failed")
				ev := sp.Events().AppendEmpty()
				ev.SetName("exception")
				ev.SetTimestamp(pcommon.NewTimestampFromTime(times[i].end))
				ev.Attributes().PutStr("exception.type", "*errors.errorString")
				ev.Attributes().PutStr("exception.message", "database connection refused")
			}
		} else if rng.IntN(50) == 0 {
			// A rare event on a healthy span: a retried call.
			ev := sp.Events().AppendEmpty()
			ev.SetName("retry")
			ev.SetTimestamp(pcommon.NewTimestampFromTime(times[i].start.Add(times[i].end.Sub(times[i].start) / 2)))
			ev.Attributes().PutInt("attempt", 2)
		}
	}
	return tid
}

// fillPath puts the object id into a path with a %d verb.
func fillPath(p string, id int) string {
	for i := 0; i+1 < len(p); i++ {
		if p[i] == '%' && p[i+1] == 'd' {
			return p[:i] + fmt.Sprint(id) + p[i+2:]
		}
	}
	return p
}
