// Package store answers LogQL's record selections (logql.Source) and the
// label APIs from the log event store: the head as it is, and each part
// pruned by time, by stream (streams.json: a selector is matched once
// per distinct stream and picks the row groups holding one), by the
// trigram bitsets of grams.bin (substring line filters), by the trace-id
// bloom, and by the query's own bound on what can still change its
// answer (Selection.Skip), reading parts newest first.
package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/vigilhq/vigil/logs/logql"
	"github.com/vigilhq/vigil/storage/events"
	"github.com/vigilhq/vigil/storage/logs"
	"github.com/vigilhq/vigil/storage/parts"
)

// Store reads a log event store. It is safe for concurrent use.
type Store struct {
	ev *events.Store[logs.Record]

	mu  sync.Mutex
	idx map[*parts.Part]*partIndex // parts are immutable: indexes never go stale
	// labels caches parsed stream labels; cleared when it grows past
	// maxLabelCache.
	labels map[string]labels.Labels
}

const maxLabelCache = 100_000

type partIndex struct {
	streams  logs.StreamIndex
	interned map[string]string // each of streams.Streams to itself, read only
	grams    *logs.Grams       // nil for parts without grams.bin
}

// New returns a Store reading ev.
func New(ev *events.Store[logs.Record]) *Store {
	return &Store{ev: ev, idx: map[*parts.Part]*partIndex{}, labels: map[string]labels.Labels{}}
}

// Labels parses a canonical stream string, cached.
func (s *Store) Labels(stream string) (labels.Labels, error) {
	s.mu.Lock()
	ls, ok := s.labels[stream]
	s.mu.Unlock()
	if ok {
		return ls, nil
	}
	ls, err := parser.ParseMetric(stream)
	if err != nil {
		return labels.EmptyLabels(), fmt.Errorf("cannot parse stream %q: %w", stream, err)
	}
	s.mu.Lock()
	if len(s.labels) >= maxLabelCache {
		clear(s.labels)
	}
	s.labels[stream] = ls
	s.mu.Unlock()
	return ls, nil
}

// streamMatcher memoises one query's selector over stream strings.
type streamMatcher struct {
	s    *Store
	ms   []*labels.Matcher
	memo map[string]bool
}

func (m *streamMatcher) matches(stream string) bool {
	if ok, seen := m.memo[stream]; seen {
		return ok
	}
	ok := false
	if ls, err := m.s.Labels(stream); err == nil {
		ok = true
		for _, mt := range m.ms {
			if !mt.Matches(ls.Get(mt.Name)) {
				ok = false
				break
			}
		}
	}
	m.memo[stream] = ok
	return ok
}

// index returns the part's decoded extra files, reading them once.
func (s *Store) index(p *parts.Part) (*partIndex, error) {
	s.mu.Lock()
	pi, ok := s.idx[p]
	s.mu.Unlock()
	if ok {
		return pi, nil
	}
	pi = &partIndex{}
	b, err := p.ReadExtra(logs.StreamsFile)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &pi.streams); err != nil {
		return nil, fmt.Errorf("cannot read %s of part %s: %w", logs.StreamsFile, p.Dir, err)
	}
	pi.interned = make(map[string]string, len(pi.streams.Streams))
	for _, st := range pi.streams.Streams {
		pi.interned[st] = st
	}
	if len(pi.streams.Groups) != len(p.Meta.RowGroups) {
		return nil, fmt.Errorf("part %s: %s lists %d row groups, the part has %d", p.Dir, logs.StreamsFile, len(pi.streams.Groups), len(p.Meta.RowGroups))
	}
	if b, err := p.ReadExtra(logs.GramsFile); err == nil {
		if pi.grams, err = logs.ReadGrams(b); err != nil {
			return nil, fmt.Errorf("part %s: %w", p.Dir, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	s.mu.Lock()
	s.idx[p] = pi
	s.mu.Unlock()
	return pi, nil
}

// forget drops the indexes of parts no longer in the store.
func (s *Store) forget(live []*parts.Part) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.idx) <= len(live) {
		return
	}
	keep := make(map[*parts.Part]bool, len(live))
	for _, p := range live {
		keep[p] = true
	}
	for p := range s.idx {
		if !keep[p] {
			delete(s.idx, p)
		}
	}
}

// Select implements logql.Source.
func (s *Store) Select(ctx context.Context, sel logql.Selection, fn func(*logs.Record) bool) error {
	v := s.ev.View()
	defer v.Release()
	defer s.forget(v.Parts)
	m := &streamMatcher{s: s, ms: sel.Matchers, memo: map[string]bool{}}

	// The head: unsorted, small; checked row by row.
	if len(v.Head) > 0 {
		for i := range v.Head {
			r := &v.Head[i]
			if t := r.Time.UnixNano(); t < sel.Start || t > sel.End || !m.matches(r.Stream) || !containsAll(r.Body, sel.LineContains) {
				continue
			}
			if !fn(r) {
				return nil
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	hints := bloomHints(sel.Labels)
	// Newest parts first: a log query that has its lines stops early.
	var tasks []task
	ps := slices.Clone(v.Parts)
	slices.SortFunc(ps, func(a, b *parts.Part) int { return -cmp.Compare(a.Meta.MaxTime, b.Meta.MaxTime) })
	for _, p := range ps {
		if p.Meta.MaxTime < sel.Start || p.Meta.MinTime > sel.End {
			continue
		}
		if sel.Skip != nil && sel.Skip(p.Meta.MinTime, p.Meta.MaxTime) {
			continue
		}
		pi, err := s.index(p)
		if err != nil {
			return err
		}
		want := make([]bool, len(pi.streams.Streams))
		some := false
		var tokens []string
		for i, st := range pi.streams.Streams {
			want[i] = m.matches(st)
			some = some || want[i]
		}
		if !some {
			continue
		}
		for _, h := range hints {
			// A stream with the label answers the equality itself, which
			// the bloom of record attributes does not know.
			if !slices.ContainsFunc(pi.streams.Streams, func(st string) bool { return strings.Contains(st, h.name+"=") }) {
				tokens = append(tokens, h.token)
			}
		}
		var groups []int
		for g, rg := range p.Meta.RowGroups {
			if rg.MaxTime < sel.Start || rg.MinTime > sel.End {
				continue
			}
			if !slices.ContainsFunc(pi.streams.Groups[g], func(i int) bool { return i < len(want) && want[i] }) {
				continue
			}
			if pi.grams != nil && len(sel.LineContains) > 0 && !pi.grams.MayContain(g, sel.LineContains) {
				continue
			}
			if !mayContainAll(p, g, tokens) {
				continue
			}
			groups = append(groups, g)
		}
		slices.SortFunc(groups, func(a, b int) int { return -cmp.Compare(p.Meta.RowGroups[a].MaxTime, p.Meta.RowGroups[b].MaxTime) })
		for _, g := range groups {
			tasks = append(tasks, task{p: p, pi: pi, g: g, light: light(sel, g, pi)})
		}
	}
	return s.scanTasks(ctx, tasks, sel, m, fn)
}

type bloomHint struct{ name, token string }

// bloomHints are the bloom tokens of a selection's label equalities that
// parts index: trace ids and attributes (span_id and detected_level are
// not in the blooms).
func bloomHints(eq map[string]string) []bloomHint {
	var out []bloomHint
	for name, v := range eq {
		switch name {
		case "span_id", "detected_level":
		case "trace_id":
			var tid [16]byte
			if n, err := hex.Decode(tid[:], []byte(strings.ToLower(v))); err == nil && n == 16 {
				out = append(out, bloomHint{name, logs.TraceToken(tid)})
			}
		default:
			out = append(out, bloomHint{name, logs.AttributeToken(name, v)})
		}
	}
	return out
}

func mayContainAll(p *parts.Part, g int, tokens []string) bool {
	for _, t := range tokens {
		if !p.GroupMayContainAny(g, []string{t}) {
			return false
		}
	}
	return true
}

// task is one row group to read.
type task struct {
	p     *parts.Part
	pi    *partIndex
	g     int
	light bool // only the light columns (decided up front: Light is the query's state)
}

type taskResult struct {
	rows []logs.Record
	buf  *[]logs.Record // pooled light buffer to give back, or nil
	err  error
}

var lightBufs = sync.Pool{New: func() any { return new([]logs.Record) }}

// scanTasks reads the tasks' row groups on up to GOMAXPROCS goroutines,
// at most one group ahead of the reading per goroutine, and calls fn
// for their records in task order on the calling goroutine, so fn,
// Skip and the stream matcher (the query's state) are only ever used
// there. A group whose records fn can no longer use (Skip) is read for
// nothing at worst.
func (s *Store) scanTasks(ctx context.Context, tasks []task, sel logql.Selection, m *streamMatcher, fn func(*logs.Record) bool) error {
	if len(tasks) == 0 {
		return nil
	}
	datas := map[*parts.Part]*parts.Data{}
	for _, t := range tasks {
		if _, ok := datas[t.p]; !ok {
			d, err := t.p.SharedData()
			if err != nil {
				return err
			}
			datas[t.p] = d
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := min(runtime.GOMAXPROCS(0), len(tasks))
	results := make([]chan taskResult, len(tasks))
	for i := range results {
		results[i] = make(chan taskResult, 1)
	}
	// A worker takes a slot before it takes a task, and the reader
	// gives it back once it used the task's rows: decoded, unread row
	// groups never exceed the slots.
	slots := make(chan struct{}, workers+1)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					return
				}
				i := int(next.Add(1) - 1)
				if i >= len(tasks) {
					<-slots
					return
				}
				if t := tasks[i]; sel.Skip != nil && sel.Skip(t.p.Meta.RowGroups[t.g].MinTime, t.p.Meta.RowGroups[t.g].MaxTime) {
					// The query already has all it can use from this
					// time range (Skip is safe on any goroutine).
					results[i] <- taskResult{}
					continue
				}
				results[i] <- read(datas[tasks[i].p], tasks[i], sel)
			}
		})
	}
	defer wg.Wait()
	defer cancel()
	for i, t := range tasks {
		var r taskResult
		select {
		case r = <-results[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		<-slots
		if r.err != nil {
			return r.err
		}
		rg := t.p.Meta.RowGroups[t.g]
		more := sel.Skip == nil || !sel.Skip(rg.MinTime, rg.MaxTime)
		// Rows come sorted by stream: the selector is looked up once a
		// run, and equal streams are usually one string (compared by
		// pointer first).
		lastStream, lastOK := "", false
		for j := 0; more && j < len(r.rows); j++ {
			rec := &r.rows[j]
			if ts := rec.Time.UnixNano(); ts < sel.Start || ts > sel.End {
				continue
			}
			if rec.Stream != lastStream {
				lastStream, lastOK = rec.Stream, m.matches(rec.Stream)
			}
			if !lastOK {
				continue
			}
			if !fn(rec) {
				if r.buf != nil {
					lightBufs.Put(r.buf)
				}
				return nil
			}
		}
		if r.buf != nil {
			*r.buf = r.rows[:0]
			lightBufs.Put(r.buf)
		}
	}
	return nil
}

// read reads one task's row group: the light columns, the rows matching
// a line filter (late materialisation: the body column alone says which
// rows can match), or whole rows.
func read(d *parts.Data, t task, sel logql.Selection) taskResult {
	switch {
	case t.light:
		buf := lightBufs.Get().(*[]logs.Record)
		rows, err := readLight(d, t.g, sel.LightBody, t.pi.interned, (*buf)[:0])
		return taskResult{rows: rows, buf: buf, err: err}
	case len(sel.LineContains) > 0:
		rows, err := readMatching(d, t.g, sel.LineContains)
		return taskResult{rows: rows, err: err}
	}
	rows, err := parts.ReadRows[logs.Record](d, t.g, 0, t.p.Meta.RowGroups[t.g].Rows)
	return taskResult{rows: rows, err: err}
}

// Streams returns the distinct streams with records in [start, end]
// (Unix ns) that match every matcher, from the head and the parts'
// stream lists (a part's streams count when the part overlaps the range).
func (s *Store) Streams(ctx context.Context, matchers []*labels.Matcher, start, end int64) ([]string, error) {
	v := s.ev.View()
	defer v.Release()
	m := &streamMatcher{s: s, ms: matchers, memo: map[string]bool{}}
	seen := map[string]bool{}
	for i := range v.Head {
		r := &v.Head[i]
		if t := r.Time.UnixNano(); t >= start && t <= end && !seen[r.Stream] && m.matches(r.Stream) {
			seen[r.Stream] = true
		}
	}
	for _, p := range v.Parts {
		if p.Meta.MaxTime < start || p.Meta.MinTime > end {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		pi, err := s.index(p)
		if err != nil {
			return nil, err
		}
		for _, st := range pi.streams.Streams {
			if !seen[st] && m.matches(st) {
				seen[st] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for st := range seen {
		out = append(out, st)
	}
	slices.Sort(out)
	return out, nil
}

// light reports whether the query needs only the light columns of every
// record of row group g: the Light hint says so for each of its streams
// (and there is no line filter, which needs bodies).
func light(sel logql.Selection, g int, pi *partIndex) bool {
	if sel.Light == nil || len(sel.LineContains) > 0 {
		return false
	}
	for _, i := range pi.streams.Groups[g] {
		if i < len(pi.streams.Streams) && !sel.Light(pi.streams.Streams[i]) {
			return false
		}
	}
	return true
}

// readLight reads row group g's stream, time and severity columns (and
// body when asked) into records with no other fields: a count by stream
// labels reads a few bytes a line instead of whole records.
func readLight(d *parts.Data, g int, body bool, in map[string]string, out []logs.Record) ([]logs.Record, error) {
	// in holds the part's streams and is only read: workers share it.
	i := 0
	col := func(name string, set func(r *logs.Record, v parquet.Value)) error {
		i = 0
		return d.ReadColumn(g, name, func(vals []parquet.Value) {
			for _, v := range vals {
				if i == len(out) {
					out = append(out, logs.Record{})
				}
				if name == "stream" && !body {
					// Pooled buffers only ever hold light records: only a
					// body from an earlier read can be stale.
					out[i].Body = ""
				}
				set(&out[i], v)
				i++
			}
		})
	}
	if err := col("stream", func(r *logs.Record, v parquet.Value) {
		s, ok := in[string(v.ByteArray())]
		if !ok {
			s = string(v.ByteArray())
		}
		r.Stream = s
	}); err != nil {
		return nil, err
	}
	n := len(out)
	cols := []struct {
		name string
		set  func(r *logs.Record, v parquet.Value)
	}{
		{"time", func(r *logs.Record, v parquet.Value) { r.Time = time.Unix(0, v.Int64()).UTC() }},
		{"severity_number", func(r *logs.Record, v parquet.Value) { r.SeverityNumber = v.Int32() }},
	}
	if body {
		cols = append(cols, struct {
			name string
			set  func(r *logs.Record, v parquet.Value)
		}{"body", func(r *logs.Record, v parquet.Value) { r.Body = string(v.ByteArray()) }})
	}
	for _, c := range cols {
		if err := col(c.name, c.set); err != nil {
			return nil, err
		}
		if i != n || len(out) != n {
			return nil, fmt.Errorf("row group %d: column %s has %d values for %d rows", g, c.name, i, n)
		}
	}
	return out, nil
}

func containsAll(s string, needles []string) bool {
	for _, n := range needles {
		if !strings.Contains(s, n) {
			return false
		}
	}
	return true
}

// readMatching returns the records of row group g whose body contains
// every needle, reading the body column first and decoding whole rows
// only from the first match to the last.
func readMatching(d *parts.Data, g int, needles []string) ([]logs.Record, error) {
	bs := make([][]byte, len(needles))
	for i, n := range needles {
		bs[i] = []byte(n)
	}
	var hits []int64
	var i int64
	err := d.ReadColumn(g, "body", func(vals []parquet.Value) {
		for _, v := range vals {
			b := v.ByteArray()
			ok := true
			for _, n := range bs {
				if !bytes.Contains(b, n) {
					ok = false
					break
				}
			}
			if ok {
				hits = append(hits, i)
			}
			i++
		}
	})
	if err != nil || len(hits) == 0 {
		return nil, err
	}
	// One read from the first hit to the last: each read of a row range
	// decodes its pages again, so many small reads cost more than one
	// that spans them.
	rows, err := parts.ReadRows[logs.Record](d, g, hits[0], hits[len(hits)-1]+1)
	if err != nil {
		return nil, err
	}
	out := rows[:0]
	for _, h := range hits {
		if k := h - hits[0]; k < int64(len(rows)) {
			out = append(out, rows[k])
		}
	}
	return out, nil
}
