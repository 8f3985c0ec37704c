package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigilhq/vigil/logs/logql"
	"github.com/vigilhq/vigil/storage/events"
	"github.com/vigilhq/vigil/storage/logs"
)

var base = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func open(t *testing.T) *events.Store[logs.Record] {
	t.Helper()
	ev, err := events.Open(events.Options[logs.Record]{
		Dir: t.TempDir(), Schema: logs.Schema, Compare: logs.Compare, RowGroupRows: 256,
		Extra: logs.ExtraFor(256), Codec: &events.Codec[logs.Record]{Append: logs.AppendBatch, Decode: logs.DecodeBatch},
		MinFreeBytes: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ev.Close() })
	return ev
}

// records makes n lines over three services and two levels, one a
// millisecond; line i says "line <i>" and every 500th holds a needle.
func records(from, n int) []logs.Record {
	out := make([]logs.Record, 0, n)
	for i := from; i < from+n; i++ {
		svc := fmt.Sprintf("svc-%d", i%3)
		lvl := []string{"info", "error"}[i%2]
		r := logs.Record{Service: svc, Time: base.Add(time.Duration(i) * time.Millisecond), SeverityText: lvl, SeverityNumber: logs.SeverityOf(lvl),
			Stream: logs.StreamString(map[string]string{"service_name": svc, "level": lvl}),
			Body:   fmt.Sprintf("line %d user-%d did things", i, i%97)}
		if i%500 == 7 {
			r.Body += " xRare-Tokeny"
		}
		if i%10 == 0 {
			r.TraceID[15] = byte(i / 10 % 256)
			r.TraceID[0] = 1
		}
		out = append(out, r)
	}
	return out
}

func collect(t *testing.T, s *Store, sel logql.Selection) []string {
	t.Helper()
	var got []string
	if err := s.Select(context.Background(), sel, func(r *logs.Record) bool {
		got = append(got, r.Body)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	return got
}

// want is the reference: every record passing the selection's matchers,
// time and (exact) hint conditions.
func want(all []logs.Record, sel logql.Selection) []string {
	var out []string
	for _, r := range all {
		ls, _ := labelsOf(r.Stream)
		ok := r.Time.UnixNano() >= sel.Start && r.Time.UnixNano() <= sel.End
		for _, m := range sel.Matchers {
			ok = ok && m.Matches(ls.Get(m.Name))
		}
		for _, c := range sel.LineContains {
			ok = ok && strings.Contains(r.Body, c)
		}
		if id, has := sel.Labels["trace_id"]; has {
			ok = ok && r.HasTrace() && fmt.Sprintf("%x", r.TraceID) == id
		}
		if ok {
			out = append(out, r.Body)
		}
	}
	slices.Sort(out)
	return out
}

func labelsOf(stream string) (labels.Labels, error) { return New(nil).Labels(stream) }

func TestSelectHeadAndParts(t *testing.T) {
	ev := open(t)
	s := New(ev)
	var all []logs.Record
	for b := range 4 {
		batch := records(b*1500, 1500)
		all = append(all, batch...)
		if err := ev.Append(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		if b < 3 { // the last batch stays in the head
			if err := ev.Cut(); err != nil {
				t.Fatal(err)
			}
		}
	}
	svc1 := labels.MustNewMatcher(labels.MatchEqual, "service_name", "svc-1")
	anySvc := labels.MustNewMatcher(labels.MatchRegexp, "service_name", ".+")
	errs := labels.MustNewMatcher(labels.MatchEqual, "level", "error")
	end := base.Add(time.Hour).UnixNano()
	var tid [16]byte
	tid[0], tid[15] = 1, 30
	for name, sel := range map[string]logql.Selection{
		"all":             {Matchers: []*labels.Matcher{anySvc}, Start: 0, End: end},
		"one service":     {Matchers: []*labels.Matcher{svc1}, Start: 0, End: end},
		"service+level":   {Matchers: []*labels.Matcher{svc1, errs}, Start: 0, End: end},
		"time window":     {Matchers: []*labels.Matcher{anySvc}, Start: base.Add(1200 * time.Millisecond).UnixNano(), End: base.Add(4100 * time.Millisecond).UnixNano()},
		"needle":          {Matchers: []*labels.Matcher{anySvc}, Start: 0, End: end, LineContains: []string{"Rare-Token"}},
		"needle in word":  {Matchers: []*labels.Matcher{anySvc}, Start: 0, End: end, LineContains: []string{"are-Tok"}},
		"needle+service":  {Matchers: []*labels.Matcher{svc1}, Start: 0, End: end, LineContains: []string{"Rare-Token", "line 1"}},
		"absent needle":   {Matchers: []*labels.Matcher{anySvc}, Start: 0, End: end, LineContains: []string{"no such text"}},
		"trace id":        {Matchers: []*labels.Matcher{anySvc}, Start: 0, End: end, Labels: map[string]string{"trace_id": fmt.Sprintf("%x", tid)}},
		"no such service": {Matchers: []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "service_name", "nope")}, Start: 0, End: end},
	} {
		got := collect(t, s, sel)
		exp := want(all, sel)
		// The store may return more than the hints allow (the engine
		// re-checks) but never less; for exact hints it returns the same.
		if sel.Labels == nil && !slices.Equal(got, exp) {
			t.Errorf("%s: got %d lines, want %d", name, len(got), len(exp))
			continue
		}
		for _, w := range exp {
			if _, found := slices.BinarySearch(got, w); !found {
				t.Errorf("%s: missing %q", name, w)
				break
			}
		}
	}
	if got := collect(t, s, logql.Selection{Matchers: []*labels.Matcher{anySvc}, Start: 0, End: end, LineContains: []string{"Rare-Token"}}); len(got) != 12 {
		t.Errorf("needle lines = %d, want 12", len(got))
	}
}

func TestSelectSkipAndStop(t *testing.T) {
	ev := open(t)
	s := New(ev)
	for b := range 3 {
		if err := ev.Append(context.Background(), records(b*1000, 1000)); err != nil {
			t.Fatal(err)
		}
		if err := ev.Cut(); err != nil {
			t.Fatal(err)
		}
	}
	anySvc := labels.MustNewMatcher(labels.MatchRegexp, "service_name", ".+")
	// Skipping everything older than the newest second reads only it.
	cut := base.Add(2000 * time.Millisecond).UnixNano()
	n := 0
	err := s.Select(context.Background(), logql.Selection{Matchers: []*labels.Matcher{anySvc}, Start: 0, End: base.Add(time.Hour).UnixNano(),
		Skip: func(minT, maxT int64) bool { return maxT < cut }}, func(r *logs.Record) bool {
		if r.Time.UnixNano() < cut-int64(time.Second) {
			t.Fatalf("read a record from a skipped part: %v", r.Time)
		}
		n++
		return true
	})
	if err != nil || n < 1000 {
		t.Fatalf("err %v, read %d", err, n)
	}
	// fn returning false stops the scan.
	n = 0
	_ = s.Select(context.Background(), logql.Selection{Matchers: []*labels.Matcher{anySvc}, Start: 0, End: base.Add(time.Hour).UnixNano()}, func(*logs.Record) bool {
		n++
		return n < 5
	})
	if n != 5 {
		t.Fatalf("read %d after stopping at 5", n)
	}
}

func TestStreams(t *testing.T) {
	ev := open(t)
	s := New(ev)
	if err := ev.Append(context.Background(), records(0, 600)); err != nil {
		t.Fatal(err)
	}
	if err := ev.Cut(); err != nil {
		t.Fatal(err)
	}
	late := records(600, 1)
	late[0].Stream = logs.StreamString(map[string]string{"service_name": "late", "level": "info"})
	if err := ev.Append(context.Background(), late); err != nil {
		t.Fatal(err)
	}
	got, err := s.Streams(context.Background(), nil, 0, base.Add(time.Hour).UnixNano())
	if err != nil || len(got) != 7 {
		t.Fatalf("streams = %v (%v), want 6 from the part and 1 from the head", got, err)
	}
	got, _ = s.Streams(context.Background(), []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "level", "error")}, 0, base.Add(time.Hour).UnixNano())
	if len(got) != 3 {
		t.Fatalf("error streams = %v", got)
	}
	got, _ = s.Streams(context.Background(), nil, base.Add(time.Hour).UnixNano(), base.Add(2*time.Hour).UnixNano())
	if len(got) != 0 {
		t.Fatalf("streams outside the range = %v", got)
	}
}

func TestSelectLight(t *testing.T) {
	ev := open(t)
	s := New(ev)
	all := records(0, 1000)
	if err := ev.Append(context.Background(), all); err != nil {
		t.Fatal(err)
	}
	if err := ev.Cut(); err != nil {
		t.Fatal(err)
	}
	svc1 := logs.StreamString(map[string]string{"service_name": "svc-1", "level": "info"})
	sel := logql.Selection{Matchers: []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "service_name", ".+")}, Start: 0, End: base.Add(time.Hour).UnixNano(),
		Light: func(stream string) bool { return stream != svc1 }}
	var n, light, full int
	err := s.Select(context.Background(), sel, func(r *logs.Record) bool {
		n++
		if r.Stream == "" || r.Time.IsZero() || r.SeverityNumber == 0 {
			t.Fatalf("light record lacks its light fields: %+v", r)
		}
		if r.Body == "" {
			light++
		} else {
			full++
		}
		return true
	})
	if err != nil || n != 1000 {
		t.Fatalf("err %v, %d records", err, n)
	}
	// Row groups holding svc-1's info stream are read whole, the others
	// light (sorted by service: svc-0's and svc-2's groups are apart).
	if light == 0 || full == 0 {
		t.Fatalf("light %d, full %d: want both", light, full)
	}
	sel.LightBody = true
	err = s.Select(context.Background(), sel, func(r *logs.Record) bool {
		if r.Body == "" {
			t.Fatal("LightBody read no body")
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
}

// An attribute equality reads only the row groups whose bloom may hold
// it, and a stream label of the same name turns the bloom off (the
// stream answers for its lines).
func TestSelectAttributeBloom(t *testing.T) {
	ev := open(t)
	s := New(ev)
	all := records(0, 3000)
	for i := range all {
		all[i].Attributes = map[string]string{"http.route": fmt.Sprintf("/r/%d", i)}
	}
	if err := ev.Append(context.Background(), all); err != nil {
		t.Fatal(err)
	}
	if err := ev.Cut(); err != nil {
		t.Fatal(err)
	}
	anySvc := labels.MustNewMatcher(labels.MatchRegexp, "service_name", ".+")
	seen, found := 0, 0
	err := s.Select(context.Background(), logql.Selection{Matchers: []*labels.Matcher{anySvc}, Start: 0, End: base.Add(time.Hour).UnixNano(),
		Labels: map[string]string{"http_route": "/r/1234"}}, func(r *logs.Record) bool {
		seen++
		if r.Attributes["http.route"] == "/r/1234" {
			found++
		}
		return true
	})
	if err != nil || found != 1 {
		t.Fatalf("err %v, found %d", err, found)
	}
	if seen > 3*256 {
		t.Errorf("read %d records for one attribute value: the bloom did not prune", seen)
	}

	// A stream labelled http_route: its lines match by the stream.
	late := records(5000, 1)
	late[0].Stream = logs.StreamString(map[string]string{"service_name": "x", "http_route": "/r/1234"})
	if err := ev.Append(context.Background(), late); err != nil {
		t.Fatal(err)
	}
	if err := ev.Cut(); err != nil {
		t.Fatal(err)
	}
	found = 0
	_ = s.Select(context.Background(), logql.Selection{Matchers: []*labels.Matcher{anySvc}, Start: 0, End: base.Add(time.Hour).UnixNano(),
		Labels: map[string]string{"http_route": "/r/1234"}}, func(r *logs.Record) bool {
		if r.Stream == late[0].Stream {
			found++
		}
		return true
	})
	if found != 1 {
		t.Fatalf("the line whose stream has the label was pruned")
	}
}
