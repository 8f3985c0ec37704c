// Package servicegraph derives a service dependency graph from every span
// at ingest, like the OpenTelemetry servicegraph connector, with the
// series names and labels Grafana Tempo's metrics-generator writes so
// Grafana's service graph and node graph panels work unchanged:
//
//	traces_service_graph_request_total{client, server, connection_type}
//	traces_service_graph_request_failed_total{client, server, connection_type}
//	traces_service_graph_request_server_seconds_bucket{..., le}
//	traces_service_graph_request_client_seconds_bucket{..., le}
//
// An edge is one client (or producer) span paired with the server (or
// consumer) span whose parent it is. The two halves are usually exported
// by different services in different requests, in either order, so each
// half waits in a bounded store for its partner until Options.Wait has
// passed.
//
// Some nodes send no spans; their edges are drawn anyway, as Tempo does:
//
//   - a root server or consumer span was called by the node "user";
//   - a client span with db.system, db.name or db.namespace is an edge to
//     its database at once (connection_type="database"), named by
//     peer.service, server.address, the database name or its system;
//   - a client span whose server span does not arrive within Wait is an
//     edge to the node its peer.service or server.address names
//     (connection_type="virtual_node").
//
// Any other half left alone is counted in
// traces_service_graph_unpaired_spans_total{side}.
package servicegraph

import (
	"cmp"
	"context"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilhq/vigil/storage/spans"
	"github.com/vigilhq/vigil/traces/spanmetrics"
	"github.com/vigilhq/vigil/traces/tracehist"
)

// Connection types, as Tempo labels them.
const (
	ConnectionDirect      = ""
	ConnectionMessaging   = "messaging_system"
	ConnectionDatabase    = "database"
	ConnectionVirtualNode = "virtual_node"
)

// UserNode is the client of an edge into a root server span: whoever
// called the first instrumented service (a browser, curl). Tempo uses the
// same name.
const UserNode = "user"

// Options configures a Graph.
type Options struct {
	// Wait is how long a half edge waits for its partner; zero means 10s.
	Wait time.Duration
	// MaxItems bounds the half edges waiting; zero means 10,000. A span
	// that would need a new entry beyond it is counted in
	// traces_service_graph_dropped_spans_total{reason="store_full"}.
	MaxItems int
	// MaxSeries bounds the (client, server, connection_type) label sets;
	// zero means 10,000. Edges beyond it are counted in
	// traces_service_graph_dropped_spans_total{reason="max_series"}.
	MaxSeries int
	// Buckets are the latency histograms' upper bounds in seconds; nil
	// means spanmetrics.DefaultBuckets (2ms to 16s), so span and edge
	// latencies share one scale. Tempo's service graph default is coarser
	// (0.1s to 12.8s) and hides fast internal calls in its first bucket.
	Buckets []float64
	// StaleAfter removes an edge's series after this long without
	// requests; zero means 15m, negative keeps them forever.
	StaleAfter time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Graph pairs spans into edges and counts them. Observe, Collect and Run
// may be called concurrently.
type Graph struct {
	o Options

	totalDesc, failedDesc, serverDesc, clientDesc *prometheus.Desc
	unpairedDesc, droppedDesc                     *prometheus.Desc

	// mu guards everything below. One lock is enough: pairing does a few
	// map operations per span, and Collect holds it only while copying
	// the series, not while sending them.
	mu      sync.Mutex
	pending map[halfKey]*pending
	// head and tail link pending in arrival order, which is expiry order
	// since every entry waits the same Wait.
	head, tail *pending
	series     map[seriesKey]*edge
	// free holds settled entries for reuse, so steady pairing does not
	// allocate; it is capped at freeMax.
	free     []*pending
	unpaired [2]uint64 // by side: client, server
	dropped  [2]uint64 // by reason: store full, max series
}

const freeMax = 1024

const (
	sideClient = iota
	sideServer
)

const (
	reasonStoreFull = iota
	reasonMaxSeries
)

// halfKey identifies an edge: the client span's id in its trace, which is
// the server span's parent id.
type halfKey struct {
	trace [16]byte
	span  [8]byte
}

// half is what an edge needs of one span.
type half struct {
	// virtual marks a side no span measured (the "user" calling a root
	// span); it gets no latency sample.
	virtual   bool
	service   string
	seconds   float64
	failed    bool
	messaging bool
	traceID   [16]byte
	end       time.Time
}

type pending struct {
	key halfKey
	// The halves are held by value so an entry is one allocation, and
	// with the free list usually none.
	client, server       half
	hasClient, hasServer bool
	// peer is the node a client span says it calls (peer.service,
	// server.address), used if no server span turns up.
	peer       string
	expires    int64 // unix nanoseconds
	prev, next *pending
}

type seriesKey struct {
	client, server, connection string
}

type edge struct {
	total, failed  uint64
	server, client tracehist.Histogram
	lastSeen       int64
}

// New returns a Graph. Run must run for waiting halves to expire on time;
// without it they expire only when the store is full.
func New(o Options) *Graph {
	if o.Wait <= 0 {
		o.Wait = 10 * time.Second
	}
	if o.MaxItems <= 0 {
		o.MaxItems = 10_000
	}
	if o.MaxSeries <= 0 {
		o.MaxSeries = 10_000
	}
	if o.Buckets == nil {
		o.Buckets = spanmetrics.DefaultBuckets
	}
	if o.StaleAfter == 0 {
		o.StaleAfter = 15 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	edgeLabels := []string{"client", "server", "connection_type"}
	return &Graph{
		o:            o,
		totalDesc:    prometheus.NewDesc("traces_service_graph_request_total", "Requests between two services.", edgeLabels, nil),
		failedDesc:   prometheus.NewDesc("traces_service_graph_request_failed_total", "Requests between two services where either side reported an error.", edgeLabels, nil),
		serverDesc:   prometheus.NewDesc("traces_service_graph_request_server_seconds", "Request durations as the server span measured them.", edgeLabels, nil),
		clientDesc:   prometheus.NewDesc("traces_service_graph_request_client_seconds", "Request durations as the client span measured them.", edgeLabels, nil),
		unpairedDesc: prometheus.NewDesc("traces_service_graph_unpaired_spans_total", "Client or server spans whose partner did not arrive within the wait and that name no peer.", []string{"side"}, nil),
		droppedDesc:  prometheus.NewDesc("traces_service_graph_dropped_spans_total", "Spans (reason store_full) or completed edges (reason max_series) not counted in the service graph because a bound was reached.", []string{"reason"}, nil),
		pending:      map[halfKey]*pending{},
		series:       map[seriesKey]*edge{},
	}
}

// Observe pairs the client, producer, server and consumer spans of batch
// with each other and with halves from earlier calls; other kinds are
// ignored. It does not keep batch.
func (g *Graph) Observe(batch []spans.Span) {
	if len(batch) == 0 {
		return
	}
	now := g.o.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range batch {
		sp := &batch[i]
		var side int
		var k halfKey
		switch sp.Kind {
		case "client", "producer":
			if db := databaseOf(sp); db != "" {
				// Databases send no spans of their own: waiting would
				// only fill the store, so the edge is counted now, as
				// Tempo does.
				c := newHalf(sp)
				s := measuredBy(c, db)
				g.completeLocked(now, &c, &s, ConnectionDatabase)
				continue
			}
			side, k = sideClient, halfKey{sp.TraceID, sp.SpanID}
		case "server", "consumer":
			if sp.IsRoot() {
				// Nothing instrumented called it; waiting would only
				// fill the store. Tempo draws these from "user" too.
				user, server := half{virtual: true, service: UserNode}, newHalf(sp)
				g.completeLocked(now, &user, &server, ConnectionVirtualNode)
				continue
			}
			side, k = sideServer, halfKey{sp.TraceID, sp.ParentSpanID}
		default:
			continue
		}
		p := g.pending[k]
		if p == nil {
			if len(g.pending) >= g.o.MaxItems {
				// Make room from what is already due before giving up,
				// so a late Run tick does not cost spans.
				g.expireLocked(now)
			}
			if len(g.pending) >= g.o.MaxItems {
				g.dropped[reasonStoreFull]++
				continue
			}
			p = g.newPendingLocked()
			p.key, p.expires = k, now.Add(g.o.Wait).UnixNano()
			g.pending[k] = p
			g.pushLocked(p)
		}
		// A half seen twice (an exporter's retry) keeps the later copy.
		if side == sideClient {
			p.client, p.hasClient = newHalf(sp), true
			p.peer = peerOf(sp)
		} else {
			p.server, p.hasServer = newHalf(sp), true
		}
		if p.hasClient && p.hasServer {
			g.removeLocked(p)
			g.completeLocked(now, &p.client, &p.server, "")
			g.recycleLocked(p)
		}
	}
}

func newHalf(sp *spans.Span) half {
	return half{
		service:   sp.Service,
		seconds:   float64(max(sp.DurationNanos, 0)) / 1e9,
		failed:    sp.StatusCode == "error",
		messaging: sp.Kind == "producer" || sp.Kind == "consumer",
		traceID:   sp.TraceID,
		end:       sp.End(),
	}
}

// databaseOf returns the database node a client span calls, or "" when
// it is not a database call (no db.system, db.name or db.namespace).
// Like Tempo it prefers the name the caller gave the peer, then its
// address, then the database's own name.
func databaseOf(sp *spans.Span) string {
	a := sp.Attributes
	name := cmp.Or(a["db.name"], a["db.namespace"])
	if name == "" && a["db.system"] == "" {
		return ""
	}
	return cmp.Or(a["peer.service"], a["server.address"], name, a["db.system"])
}

// peerOf returns the node a client span calls, used when that node sends
// no spans of its own (an external API, an uninstrumented service).
func peerOf(sp *spans.Span) string {
	return cmp.Or(sp.Attributes["peer.service"], sp.Attributes["server.address"])
}

// measuredBy is the server side of an edge to an uninstrumented node: the
// client's measurement is the only one there is, and Grafana's service
// graph reads a node's latency from the server tracehist.Histogram.
func measuredBy(client half, node string) half {
	client.service = node
	return client
}

// completeLocked counts one edge; connection overrides the type derived
// from the halves when not empty. mu must be held.
func (g *Graph) completeLocked(now time.Time, client, server *half, connection string) {
	if connection == "" && (client.messaging || server.messaging) {
		connection = ConnectionMessaging
	}
	k := seriesKey{client: client.service, server: server.service, connection: connection}
	e := g.series[k]
	if e == nil {
		if len(g.series) >= g.o.MaxSeries {
			g.dropped[reasonMaxSeries]++
			return
		}
		// The names point into request buffers; a long-lived series must
		// not pin them.
		k.client, k.server = strings.Clone(k.client), strings.Clone(k.server)
		e = &edge{client: tracehist.New(g.o.Buckets), server: tracehist.New(g.o.Buckets)}
		g.series[k] = e
	}
	e.total++
	if client.failed || server.failed {
		e.failed++
	}
	// The user measured nothing: its side gets no sample, where Tempo
	// would record a zero latency that drags quantiles down.
	if !client.virtual {
		e.client.Observe(g.o.Buckets, client.seconds, client.traceID, client.end)
	}
	if !server.virtual {
		e.server.Observe(g.o.Buckets, server.seconds, server.traceID, server.end)
	}
	e.lastSeen = now.UnixNano()
}

// pushLocked appends p to the expiry list. mu must be held.
func (g *Graph) pushLocked(p *pending) {
	p.prev = g.tail
	if g.tail != nil {
		g.tail.next = p
	} else {
		g.head = p
	}
	g.tail = p
}

// removeLocked takes p out of the store. mu must be held.
func (g *Graph) removeLocked(p *pending) {
	delete(g.pending, p.key)
	if p.prev != nil {
		p.prev.next = p.next
	} else {
		g.head = p.next
	}
	if p.next != nil {
		p.next.prev = p.prev
	} else {
		g.tail = p.prev
	}
	p.prev, p.next = nil, nil
}

// expireLocked settles every half edge whose wait is over: a client span
// that names a peer becomes an edge to that virtual node, anything else
// is counted as unpaired. mu must be held.
func (g *Graph) expireLocked(now time.Time) {
	t := now.UnixNano()
	for g.head != nil && g.head.expires <= t {
		p := g.head
		g.removeLocked(p)
		switch {
		case p.hasClient && p.peer != "":
			s := measuredBy(p.client, p.peer)
			g.completeLocked(now, &p.client, &s, ConnectionVirtualNode)
		case p.hasClient:
			g.unpaired[sideClient]++
		default:
			g.unpaired[sideServer]++
		}
		g.recycleLocked(p)
	}
}

// newPendingLocked returns a zero entry. mu must be held.
func (g *Graph) newPendingLocked() *pending {
	if n := len(g.free); n > 0 {
		p := g.free[n-1]
		g.free = g.free[:n-1]
		return p
	}
	return &pending{}
}

// recycleLocked keeps a settled entry for reuse; p must be out of the
// store. mu must be held.
func (g *Graph) recycleLocked(p *pending) {
	if len(g.free) < freeMax {
		*p = pending{}
		g.free = append(g.free, p)
	}
}

// Run expires waiting halves until ctx ends, then returns nil. Call it
// once; it is the only goroutine a Graph needs.
func (g *Graph) Run(ctx context.Context) error {
	// A tenth of the wait keeps an edge's delay close to Wait without
	// waking often; a second is plenty for the default 10s.
	t := time.NewTicker(min(max(g.o.Wait/10, 10*time.Millisecond), time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			g.expire()
		}
	}
}

func (g *Graph) expire() {
	now := g.o.Now()
	g.mu.Lock()
	g.expireLocked(now)
	g.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (g *Graph) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{g.totalDesc, g.failedDesc, g.serverDesc, g.clientDesc, g.unpairedDesc, g.droppedDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. Edges without requests for
// StaleAfter are removed and no longer reported, so the gatherer marks
// their series stale. A latency tracehist.Histogram is reported once it has a
// sample: an edge from the user has no client side.
func (g *Graph) Collect(ch chan<- prometheus.Metric) {
	type snap struct {
		k              seriesKey
		total, failed  uint64
		server, client tracehist.Histogram
	}
	now := g.o.Now()
	g.mu.Lock()
	snaps := make([]snap, 0, len(g.series))
	for k, e := range g.series {
		if g.o.StaleAfter > 0 && e.lastSeen < now.Add(-g.o.StaleAfter).UnixNano() {
			delete(g.series, k)
			continue
		}
		snaps = append(snaps, snap{k: k, total: e.total, failed: e.failed, server: e.server.Clone(), client: e.client.Clone()})
	}
	unpaired, dropped := g.unpaired, g.dropped
	g.mu.Unlock()

	// Sent without the lock: the channel may block on a slow gatherer.
	for i := range snaps {
		s := &snaps[i]
		lv := []string{s.k.client, s.k.server, s.k.connection}
		ch <- prometheus.MustNewConstMetric(g.totalDesc, prometheus.CounterValue, float64(s.total), lv...)
		ch <- prometheus.MustNewConstMetric(g.failedDesc, prometheus.CounterValue, float64(s.failed), lv...)
		if s.server.Count() > 0 {
			ch <- tracehist.Metric{D: g.serverDesc, Labels: prometheus.MakeLabelPairs(g.serverDesc, lv), H: s.server.DTO(g.o.Buckets)}
		}
		if s.client.Count() > 0 {
			ch <- tracehist.Metric{D: g.clientDesc, Labels: prometheus.MakeLabelPairs(g.clientDesc, lv), H: s.client.DTO(g.o.Buckets)}
		}
	}
	ch <- prometheus.MustNewConstMetric(g.unpairedDesc, prometheus.CounterValue, float64(unpaired[sideClient]), "client")
	ch <- prometheus.MustNewConstMetric(g.unpairedDesc, prometheus.CounterValue, float64(unpaired[sideServer]), "server")
	ch <- prometheus.MustNewConstMetric(g.droppedDesc, prometheus.CounterValue, float64(dropped[reasonStoreFull]), "store_full")
	ch <- prometheus.MustNewConstMetric(g.droppedDesc, prometheus.CounterValue, float64(dropped[reasonMaxSeries]), "max_series")
}

var (
	_ prometheus.Collector = (*Graph)(nil)
	_ prometheus.Metric    = tracehist.Metric{}
)
