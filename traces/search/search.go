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
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigilhq/vigil/storage/spans"
)

// Store is where spans are read from: storage/events.Store[spans.Span].
type Store interface {
	Scan(minT, maxT int64, tokens []string, fn func(*spans.Span) bool) error
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
}

// New returns a searcher over store. catalog may be nil.
func New(store Store, catalog *Catalog) *Searcher {
	if catalog == nil {
		catalog = NewCatalog(0)
	}
	return &Searcher{store: store, catalog: catalog}
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
	var out []spans.Span
	seen := map[[8]byte]bool{}
	token := hex.EncodeToString(id[:])
	err := s.store.Scan(math.MinInt64, math.MaxInt64, []string{token}, func(sp *spans.Span) bool {
		if sp.TraceID == id && !seen[sp.SpanID] {
			// A span exported twice (a retried export) is shown once.
			seen[sp.SpanID] = true
			out = append(out, cloneSpan(sp))
		}
		return ctx.Err() == nil
	})
	if err != nil {
		return nil, err
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

	found := map[[16]byte]int64{}
	err := s.store.Scan(q.Start.UnixNano(), q.End.UnixNano(), q.tokens(), func(sp *spans.Span) bool {
		if !q.Matches(sp) {
			return true
		}
		t := sp.Start.UnixNano()
		if old, ok := found[sp.TraceID]; !ok || t < old {
			if !ok && len(found) >= MaxCandidates {
				return true
			}
			found[sp.TraceID] = t
		}
		return ctx.Err() == nil
	})
	if err != nil {
		return Page{}, err
	}
	if err := ctx.Err(); err != nil {
		return Page{}, err
	}
	cands := make([]candidate, 0, len(found))
	for id, t := range found {
		c := candidate{id, t}
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
		sum, err := s.summary(ctx, c.id)
		if err != nil {
			return Page{}, err
		}
		page.Traces = append(page.Traces, sum)
	}
	if more {
		page.NextCursor = encodeCursor(cands[len(cands)-1])
	}
	return page, nil
}

func (s *Searcher) summary(ctx context.Context, id [16]byte) (spans.TraceSummary, error) {
	all, err := s.Trace(ctx, id)
	if err != nil {
		return spans.TraceSummary{}, err
	}
	var sum spans.TraceSummary
	for i := range all {
		sum.Add(&all[i])
	}
	sum.TraceID = id
	return sum, nil
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
