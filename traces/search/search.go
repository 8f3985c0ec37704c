// Package search finds traces in the span store: a trace by id, and traces
// whose spans match conditions (service, operation, kind, status,
// duration, attribute equality, time range), a page at a time.
//
// Conditions are span-level, as in Jaeger and Tempo: a trace matches when
// one of its spans meets them all. The store prunes parts and row groups
// by time and by bloom filters on the tokens a condition implies (service,
// operation, key=value); each candidate span is then checked exactly.
//
// Pages are ordered by the earliest matching span's start, newest first,
// then by trace id; a cursor is the position of the last trace of a page,
// so paging is stateless and a trace is never shown twice, even when new
// spans arrive between pages (they may add traces before the cursor, which
// the next search from the top shows).
package search

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigilhq/vigil/storage/events"
	"github.com/vigilhq/vigil/storage/parts"
	"github.com/vigilhq/vigil/storage/spans"
)

// Store is where spans are read from: storage/events.Store[spans.Span].
type Store interface {
	View() *events.View[spans.Span]
}

// Query is a trace search. Zero fields do not constrain.
type Query struct {
	Service, Operation, Kind, Status string
	MinDuration, MaxDuration         time.Duration
	// Attributes must all equal, as span or resource attributes.
	Attributes map[string]string
	Start, End time.Time
	Limit      int
	Cursor     string
}

// Page is one page of results.
type Page struct {
	Traces     []spans.TraceSummary
	NextCursor string
}

// Limits of a search.
const (
	DefaultLimit = 20
	MaxLimit     = 1000
	// MaxCandidates bounds the traces one search collects before paging,
	// so a broad query costs bounded memory; beyond it the oldest matches
	// are not reached.
	MaxCandidates = 200_000
)

// ErrBadCursor is returned for a cursor this package did not write.
var ErrBadCursor = errors.New("invalid cursor")

// Searcher answers trace queries.
type Searcher struct {
	store   Store
	catalog *Catalog

	// sums caches each part's trace summaries by part id (parts are
	// immutable). Entries of parts gone from the store are dropped at the
	// next search.
	mu     sync.Mutex
	sums   map[string][]spans.TraceSummary
	ids    map[string][][16]byte
	cached int // summaries in sums
	budget int
}

// SummaryBudget is how many trace summaries a Searcher keeps in memory
// (about 200 bytes each: 300 MB, the summaries of ~12M spans at 8 spans
// a trace); parts beyond it are read again when searched.
const SummaryBudget = 1_500_000

// New returns a searcher over store. catalog may be nil.
func New(store Store, catalog *Catalog) *Searcher {
	if catalog == nil {
		catalog = NewCatalog(0)
	}
	return &Searcher{store: store, catalog: catalog, sums: map[string][]spans.TraceSummary{}, ids: map[string][][16]byte{}, budget: SummaryBudget}
}

// Catalog returns the service and operation catalog.
func (s *Searcher) Catalog() *Catalog { return s.catalog }

// ParseTraceID reads a trace id in hex. Shorter ids are left-padded with
// zeros, as Jaeger does for 64-bit ids.
func ParseTraceID(s string) ([16]byte, error) {
	var id [16]byte
	if len(s) == 0 || len(s) > 32 {
		return id, fmt.Errorf("invalid trace id %q: want 1 to 32 hex digits", s)
	}
	padded := strings.Repeat("0", 32-len(s)) + s
	if _, err := hex.Decode(id[:], []byte(padded)); err != nil {
		return id, fmt.Errorf("invalid trace id %q: want hex digits", s)
	}
	if id == [16]byte{} {
		return id, fmt.Errorf("invalid trace id %q: all zeros", s)
	}
	return id, nil
}

// Trace returns every span of the trace, sorted by start, or none.
func (s *Searcher) Trace(ctx context.Context, id [16]byte) ([]spans.Span, error) {
	v := s.store.View()
	defer v.Release()
	var out []spans.Span
	seen := map[[8]byte]bool{}
	add := func(sp *spans.Span) bool {
		if sp.TraceID == id && !seen[sp.SpanID] {
			// A span exported twice (a retried export) is shown once.
			seen[sp.SpanID] = true
			out = append(out, cloneSpan(sp))
		}
		return ctx.Err() == nil
	}
	for i := range v.Head {
		add(&v.Head[i])
	}
	token := hex.EncodeToString(id[:])
	for _, p := range v.Parts {
		// The summaries list every trace of the part: most parts are
		// skipped without touching the blooms or the data.
		if ok, err := s.hasTrace(p, id); err != nil {
			return nil, err
		} else if !ok {
			continue
		}
		if err := readTrace(p, id, token, add); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b spans.Span) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return bytes.Compare(a.SpanID[:], b.SpanID[:])
	})
	return out, nil
}

// readTrace passes the spans of trace id in part p to add: row groups
// the bloom allows, and in them only the trace's rows, found from the
// trace_id column (rows are sorted by trace id).
func readTrace(p *parts.Part, id [16]byte, token string, add func(*spans.Span) bool) error {
	groups := p.RowGroupsFor(math.MinInt64, math.MaxInt64, token)
	if len(groups) == 0 {
		return nil
	}
	d, err := p.SharedData()
	if err != nil {
		return err
	}
	defer d.Close()
	for _, g := range groups {
		lo, hi, err := spans.TraceRows(d, g, id)
		if err != nil {
			return err
		}
		rows, err := parts.ReadRows[spans.Span](d, g, lo, hi)
		if err != nil {
			return err
		}
		for i := range rows {
			add(&rows[i])
		}
	}
	return nil
}

// summaries returns a part's trace summaries, from its summary file, or
// for a part written before there were any, from its spans. They are
// cached within a budget of summaries (each ~150 bytes); the trace ids
// alone (16 bytes each) are kept for every part, for lookups by id.
func (s *Searcher) summaries(p *parts.Part) ([]spans.TraceSummary, error) {
	s.mu.Lock()
	sums, ok := s.sums[p.Meta.ID]
	s.mu.Unlock()
	if ok {
		return sums, nil
	}
	b, err := p.ReadExtra(spans.SummaryFile)
	switch {
	case err == nil:
		if sums, err = spans.DecodeSummaries(b); err != nil {
			return nil, fmt.Errorf("part %s: %w", p.Meta.ID, err)
		}
	case errors.Is(err, os.ErrNotExist):
		var all []spans.Span
		groups := p.RowGroupsFor(math.MinInt64, math.MaxInt64)
		if _, err := events.ScanPart(p, spans.Schema, math.MinInt64, math.MaxInt64, groups, func(sp *spans.Span) bool {
			all = append(all, *sp)
			return true
		}); err != nil {
			return nil, err
		}
		sums = spans.Summarize(all)
	default:
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ids[p.Meta.ID]; !ok {
		ids := make([][16]byte, len(sums))
		for i := range sums {
			ids[i] = sums[i].TraceID
		}
		s.ids[p.Meta.ID] = ids
	}
	// A part that does not fit is not cached, and nothing is evicted for
	// it: searches visit every part in turn, and evicting for the next
	// one would make every part miss. Entries go when their part does.
	if s.cached+len(sums) <= s.budget {
		s.sums[p.Meta.ID] = sums
		s.cached += len(sums)
	}
	return sums, nil
}

// hasTrace reports whether part p holds spans of trace id.
func (s *Searcher) hasTrace(p *parts.Part, id [16]byte) (bool, error) {
	s.mu.Lock()
	ids, ok := s.ids[p.Meta.ID]
	s.mu.Unlock()
	if !ok {
		if _, err := s.summaries(p); err != nil {
			return false, err
		}
		s.mu.Lock()
		ids = s.ids[p.Meta.ID]
		s.mu.Unlock()
	}
	_, found := slices.BinarySearchFunc(ids, id, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	return found, nil
}

// forget drops the cached summaries of parts not in v.
func (s *Searcher) forget(v *events.View[spans.Span]) {
	live := make(map[string]bool, len(v.Parts))
	for _, p := range v.Parts {
		live[p.Meta.ID] = true
	}
	s.mu.Lock()
	for id, sums := range s.sums {
		if !live[id] {
			s.cached -= len(sums)
			delete(s.sums, id)
		}
	}
	for id := range s.ids {
		if !live[id] {
			delete(s.ids, id)
		}
	}
	s.mu.Unlock()
}

// Matches reports whether one span meets the query's span conditions.
func (q *Query) Matches(sp *spans.Span) bool {
	if q.Service != "" && sp.Service != q.Service {
		return false
	}
	if q.Operation != "" && sp.Name != q.Operation {
		return false
	}
	if q.Kind != "" && sp.Kind != q.Kind {
		return false
	}
	if q.Status != "" && sp.StatusCode != q.Status {
		return false
	}
	d := time.Duration(sp.DurationNanos)
	if q.MinDuration > 0 && d < q.MinDuration {
		return false
	}
	if q.MaxDuration > 0 && d > q.MaxDuration {
		return false
	}
	for k, v := range q.Attributes {
		if got, ok := sp.Attributes[k]; ok && got == v {
			continue
		}
		if got, ok := sp.Resource[k]; ok && got == v {
			continue
		}
		return false
	}
	return true
}

func (q *Query) tokens() []string {
	var t []string
	if q.Service != "" {
		t = append(t, q.Service)
	}
	if q.Operation != "" {
		t = append(t, q.Operation)
	}
	for k, v := range q.Attributes {
		t = append(t, spans.AttributeToken(k, v))
	}
	return t
}

type candidate struct {
	id    [16]byte
	start int64
}

// before orders candidates: newest first, then by trace id.
func (a candidate) before(b candidate) bool {
	if a.start != b.start {
		return a.start > b.start
	}
	return bytes.Compare(a.id[:], b.id[:]) < 0
}

// mayMatch reports whether a trace with this summary (of its spans in one
// part) can hold a span matching q, as far as the summary knows.
func (q *Query) mayMatch(t *spans.TraceSummary, minT, maxT int64) bool {
	if t.Start.UnixNano() > maxT || t.End().UnixNano() < minT {
		return false
	}
	if q.Status == "error" && t.ErrorCount == 0 {
		return false
	}
	if !t.HasServiceDurations() {
		if q.Service != "" {
			if _, found := slices.BinarySearch(t.Services, q.Service); !found {
				return false
			}
		}
		return q.MinDuration <= 0 || time.Duration(t.DurationNanos) >= q.MinDuration
	}
	// Some service (the asked one, if any) must have a span long enough
	// and one short enough.
	for i, svc := range t.Services {
		if q.Service != "" && svc != q.Service {
			continue
		}
		if (q.MinDuration <= 0 || time.Duration(t.ServiceMaxDurations[i]) >= q.MinDuration) &&
			(q.MaxDuration <= 0 || time.Duration(t.ServiceMinDurations[i]) <= q.MaxDuration) {
			return true
		}
	}
	return false
}

// summaryDecides reports whether a summary alone decides q for a trace
// whose spans all start within the range: when q asks no more than a
// service and one duration bound, which the per-service longest and
// shortest spans answer exactly (both bounds would need one span between
// them, which the summary cannot tell).
func (q *Query) summaryDecides(t *spans.TraceSummary) bool {
	if q.Operation != "" || q.Kind != "" || q.Status != "" || len(q.Attributes) != 0 {
		return false
	}
	if q.MinDuration == 0 && q.MaxDuration == 0 {
		return true
	}
	return t.HasServiceDurations() && (q.MinDuration == 0 || q.MaxDuration == 0)
}

// maxProbeTraces bounds the candidate ids looked up in a part's blooms to
// choose its row groups; with more, every row group in range is read.
const maxProbeTraces = 512

// Search returns a page of traces matching q.
func (s *Searcher) Search(ctx context.Context, q Query) (Page, error) {
	if q.Limit <= 0 {
		q.Limit = DefaultLimit
	}
	q.Limit = min(q.Limit, MaxLimit)
	if q.End.IsZero() {
		q.End = time.Now()
	}
	if q.Start.IsZero() {
		q.Start = q.End.Add(-time.Hour)
	}
	var after *candidate
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor)
		if err != nil {
			return Page{}, err
		}
		after = &c
	}
	minT, maxT := q.Start.UnixNano(), q.End.UnixNano()

	v := s.store.View()
	defer v.Release()
	s.forget(v)

	matched := map[[16]byte]bool{}
	match := func(id [16]byte) {
		if len(matched) < MaxCandidates {
			matched[id] = true
		}
	}
	for i := range v.Head {
		sp := &v.Head[i]
		if t := sp.Start.UnixNano(); t >= minT && t <= maxT && q.Matches(sp) {
			match(sp.TraceID)
		}
	}
	tokens := q.tokens()
	for _, p := range v.Parts {
		if len(matched) >= MaxCandidates {
			break
		}
		if p.Meta.MaxTime < minT || p.Meta.MinTime > maxT {
			continue
		}
		sums, err := s.summaries(p)
		if err != nil {
			return Page{}, err
		}
		cands := map[[16]byte]bool{}
		for i := range sums {
			t := &sums[i]
			if !q.mayMatch(t, minT, maxT) {
				continue
			}
			if q.summaryDecides(t) && t.Start.UnixNano() >= minT && t.End().UnixNano() <= maxT {
				match(t.TraceID)
				continue
			}
			cands[t.TraceID] = true
		}
		if len(cands) == 0 {
			continue
		}
		groups := p.RowGroupsFor(minT, maxT, tokens...)
		if len(cands) <= maxProbeTraces {
			// Spans are sorted by trace id, so a few traces sit in a few
			// row groups: the blooms (which hold trace ids) say which.
			ids := make([]string, 0, len(cands))
			for id := range cands {
				ids = append(ids, hex.EncodeToString(id[:]))
			}
			groups = slices.DeleteFunc(groups, func(g int) bool { return !p.GroupMayContainAny(g, ids) })
		}
		if err := s.searchPart(ctx, p, &q, minT, maxT, groups, cands, match); err != nil {
			return Page{}, err
		}
	}
	if err := ctx.Err(); err != nil {
		return Page{}, err
	}

	// Pages are ordered by trace start, from each matched trace's summary
	// over the head and every part.
	merged, err := s.merge(v, matched)
	if err != nil {
		return Page{}, err
	}
	cands := make([]candidate, 0, len(merged))
	for id, t := range merged {
		c := candidate{id, t.Start.UnixNano()}
		if after != nil && !after.before(c) {
			continue
		}
		cands = append(cands, c)
	}
	slices.SortFunc(cands, func(a, b candidate) int {
		if a.before(b) {
			return -1
		}
		if b.before(a) {
			return 1
		}
		return 0
	})
	var page Page
	more := len(cands) > q.Limit
	if more {
		cands = cands[:q.Limit]
	}
	for _, c := range cands {
		page.Traces = append(page.Traces, *merged[c.id])
	}
	if more {
		page.NextCursor = encodeCursor(cands[len(cands)-1])
	}
	return page, nil
}

// searchPart checks the spans of the candidate traces in the given row
// groups of p: first on the light columns (ids, times, service, name,
// kind, status), then, only for the rows that pass and only when q has
// attribute conditions, on the whole rows.
func (s *Searcher) searchPart(ctx context.Context, p *parts.Part, q *Query, minT, maxT int64, groups []int, cands map[[16]byte]bool, match func([16]byte)) error {
	d, err := p.SharedData()
	if err != nil {
		return err
	}
	defer d.Close()
	in := spans.Interner{}
	for _, g := range groups {
		if ctx.Err() != nil {
			return nil
		}
		light, err := spans.ReadLight(d, g, in)
		if err != nil {
			return err
		}
		lo, hi := -1, -1
		for i := range light {
			l := &light[i]
			if !cands[l.TraceID] || l.StartNanos < minT || l.StartNanos > maxT || !q.matchesLight(l) {
				continue
			}
			if len(q.Attributes) == 0 {
				match(l.TraceID)
				continue
			}
			if lo < 0 {
				lo = i
			}
			hi = i + 1
		}
		if lo < 0 {
			continue
		}
		rows, err := parts.ReadRows[spans.Span](d, g, int64(lo), int64(hi))
		if err != nil {
			return err
		}
		for i := range rows {
			if cands[rows[i].TraceID] && q.Matches(&rows[i]) {
				if t := rows[i].Start.UnixNano(); t >= minT && t <= maxT {
					match(rows[i].TraceID)
				}
			}
		}
	}
	return nil
}

// matchesLight checks the conditions that do not need attributes.
func (q *Query) matchesLight(l *spans.Light) bool {
	if q.Service != "" && l.Service != q.Service ||
		q.Operation != "" && l.Name != q.Operation ||
		q.Kind != "" && l.Kind != q.Kind ||
		q.Status != "" && l.StatusCode != q.Status {
		return false
	}
	d := time.Duration(l.DurationNanos)
	return (q.MinDuration <= 0 || d >= q.MinDuration) && (q.MaxDuration <= 0 || d <= q.MaxDuration)
}

// merge returns the summary of each trace over the head and every part.
func (s *Searcher) merge(v *events.View[spans.Span], ids map[[16]byte]bool) (map[[16]byte]*spans.TraceSummary, error) {
	out := make(map[[16]byte]*spans.TraceSummary, len(ids))
	for id := range ids {
		out[id] = &spans.TraceSummary{}
	}
	type spanKey struct {
		trace [16]byte
		span  [8]byte
	}
	seen := map[spanKey]bool{}
	for i := range v.Head {
		sp := &v.Head[i]
		if t := out[sp.TraceID]; t != nil {
			// a retried export stores a span twice; count it once
			if k := (spanKey{sp.TraceID, sp.SpanID}); !seen[k] {
				seen[k] = true
				t.Add(sp)
			}
		}
	}
	for _, p := range v.Parts {
		sums, err := s.summaries(p)
		if err != nil {
			return nil, err
		}
		if len(out) < len(sums)/8 {
			for id, t := range out {
				if ps, ok := spans.FindSummary(sums, id); ok {
					t.Merge(ps)
				}
			}
			continue
		}
		for i := range sums {
			if t := out[sums[i].TraceID]; t != nil {
				t.Merge(&sums[i])
			}
		}
	}
	for id, t := range out {
		t.TraceID = id
	}
	return out, nil
}

func encodeCursor(c candidate) string {
	var b [24]byte
	binary.BigEndian.PutUint64(b[:8], uint64(c.start))
	copy(b[8:], c.id[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func decodeCursor(s string) (candidate, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 24 {
		return candidate{}, ErrBadCursor
	}
	var c candidate
	c.start = int64(binary.BigEndian.Uint64(b[:8]))
	copy(c.id[:], b[8:])
	return c, nil
}

// cloneSpan copies a span out of the store's memory: the head's rows are
// shared with later appends and must not be handed out.
func cloneSpan(sp *spans.Span) spans.Span {
	c := *sp
	c.Events = slices.Clone(sp.Events)
	c.Links = slices.Clone(sp.Links)
	return c
}

// Operation is a span name and kind seen in a service.
type Operation struct {
	Name string
	Kind string
}

// Catalog remembers the services and operations seen, for the search
// form and Jaeger's /api/services. It is bounded: past the limit new
// operations are not recorded (services always are, as they are few).
type Catalog struct {
	mu      sync.RWMutex
	max     int
	n       int
	entries map[string]map[Operation]struct{}
}

// NewCatalog returns a catalog holding at most maxOperations operations
// (default 50,000).
func NewCatalog(maxOperations int) *Catalog {
	if maxOperations <= 0 {
		maxOperations = 50_000
	}
	return &Catalog{max: maxOperations, entries: map[string]map[Operation]struct{}{}}
}

// Add records one service's operation.
func (c *Catalog) Add(service string, op Operation) {
	c.mu.RLock()
	_, ok := c.entries[service][op]
	c.mu.RUnlock()
	if ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ops := c.entries[service]
	if ops == nil {
		ops = map[Operation]struct{}{}
		c.entries[service] = ops
	}
	if _, ok := ops[op]; !ok && c.n < c.max {
		ops[op] = struct{}{}
		c.n++
	}
}

// Observe records the services and operations of spans.
func (c *Catalog) Observe(batch []spans.Span) {
	for i := range batch {
		c.Add(batch[i].Service, Operation{Name: batch[i].Name, Kind: batch[i].Kind})
	}
}

// Services returns the service names, sorted.
func (c *Catalog) Services() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.entries))
	for s := range c.entries {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Operations returns a service's operations sorted by name and kind;
// kind "" means any kind.
func (c *Catalog) Operations(service, kind string) []Operation {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []Operation
	for op := range c.entries[service] {
		if kind == "" || op.Kind == kind {
			out = append(out, op)
		}
	}
	slices.SortFunc(out, func(a, b Operation) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Kind, b.Kind)
	})
	return out
}
