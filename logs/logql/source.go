package logql

import (
	"context"
	"strings"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigilhq/vigil/storage/logs"
)

// Source yields the records a query reads: the event store, or a slice
// in tests.
type Source interface {
	// Select calls fn for every record whose time is in [sel.Start,
	// sel.End] (Unix ns, inclusive) and whose stream matches all
	// sel.Matchers. It may also call fn with records that do not satisfy
	// the hint fields (LineContains, Labels): the engine re-checks
	// everything. The record is only valid during the call; the engine
	// copies what it keeps. Records come in no particular order, but a
	// source may call sel.Skip(minT, maxT) before reading a block of
	// records whose times all lie in [minT, maxT] and skip the block when
	// it returns true. fn returning false stops the scan. Select is
	// called from one goroutine per query; fn must not be called
	// concurrently.
	Select(ctx context.Context, sel Selection, fn func(*logs.Record) bool) error
}

// Selection says which records a query reads.
type Selection struct {
	Matchers   []*labels.Matcher
	Start, End int64

	// Hints for pruning: each is a necessary condition of a record the
	// query can use, so a source may drop records that fail them.

	// LineContains are case-sensitive substrings every matching body
	// contains, from |= filters and the required literals of |~
	// regexes before any line_format or decolorize.
	LineContains []string
	// Labels are label equalities every matching record satisfies, from
	// label filters before any parser, label_format, drop or keep stage.
	// Keys are trace_id and span_id. A record satisfies trace_id=v when
	// the label the engine derives for it (see the package comment) is
	// v: its stream label trace_id if it has one, else a Resource or
	// Attributes key that sanitises to trace_id, else its TraceID in
	// lowercase hex; likewise for span_id.
	Labels map[string]string
	// Skip is nil, or reports whether no record in [minT, maxT] can
	// change the result: a log query that already holds Limit lines all
	// newer (Backward) or older (Forward) than the block. Unlike fn and
	// Light, it may be called from any goroutine, while fn runs.
	Skip func(minT, maxT int64) bool
	// Light is nil, or reports for a stream whether the query needs only
	// the Stream, Time and SeverityNumber of its records (and Body when
	// LightBody): a source may leave their other fields empty.
	Light     func(stream string) bool
	LightBody bool
}

// SliceSource is a Source over records in memory, for tests. It checks
// matchers, time and the hints (so tests prove the hints are safe), and
// calls Skip once for the whole slice.
type SliceSource []logs.Record

// Select implements Source.
func (s SliceSource) Select(ctx context.Context, sel Selection, fn func(*logs.Record) bool) error {
	if len(s) == 0 {
		return nil
	}
	minT, maxT := s[0].Time.UnixNano(), s[0].Time.UnixNano()
	for i := range s {
		t := s[i].Time.UnixNano()
		minT, maxT = min(minT, t), max(maxT, t)
	}
	if sel.Skip != nil && sel.Skip(minT, maxT) {
		return nil
	}
	for i := range s {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec := &s[i]
		t := rec.Time.UnixNano()
		if t < sel.Start || t > sel.End || !sliceMatches(rec, sel) {
			continue
		}
		if !fn(rec) {
			return nil
		}
	}
	return nil
}

func sliceMatches(rec *logs.Record, sel Selection) bool {
	if len(sel.Matchers) > 0 {
		ls, err := parseStream(rec.Stream)
		if err != nil {
			return false
		}
		for _, m := range sel.Matchers {
			v := ""
			for _, l := range ls {
				if l.Name == m.Name {
					v = l.Value
				}
			}
			if !m.Matches(v) {
				return false
			}
		}
	}
	for _, c := range sel.LineContains {
		if !strings.Contains(rec.Body, c) {
			return false
		}
	}
	for k, v := range sel.Labels {
		ls, _ := parseStream(rec.Stream)
		got, inStream := "", false
		for _, l := range ls {
			if l.Name == k {
				got, inStream = l.Value, true
			}
		}
		if !inStream {
			var l lineLabels
			l.addMetadata(rec, make(metadataNames), nil)
			got, _ = l.get(k)
		}
		if got != v {
			return false
		}
	}
	return true
}
