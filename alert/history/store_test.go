package history

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a settable fake time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

// open opens a Store in dir (a new temp dir when "") at the clock's time.
func open(t *testing.T, dir string, c *clock, o Options) *Store {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	o.Dir, o.Now = dir, c.Now
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func ev(at time.Time, name, state string, kv ...string) Event {
	ls := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		ls[kv[i]] = kv[i+1]
	}
	return Event{Time: at, Fingerprint: fmt.Sprintf("%016x", len(name)), AlertName: name, Labels: ls, State: state, Source: SourceRules}
}

func mustMatch(t *testing.T, typ labels.MatchType, name, value string) *labels.Matcher {
	t.Helper()
	m, err := labels.NewMatcher(typ, name, value)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// brief renders events as "name/state@minute" for readable comparisons.
func brief(es []Event) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = fmt.Sprintf("%s/%s@%d", e.AlertName, e.State, int(e.Time.Sub(t0).Minutes()))
	}
	return out
}

func query(t *testing.T, s *Store, q Query) []string {
	t.Helper()
	got, err := s.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	return brief(got)
}

func TestRecordQuery(t *testing.T) {
	c := &clock{t: t0.Add(time.Hour)}
	s := open(t, "", c, Options{})
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	s.Record(
		ev(at(0), "HighLatency", StatePending, "severity", "page", "team", "a"),
		ev(at(5), "HighLatency", StateFiring, "severity", "page", "team", "a"),
		ev(at(5), "DiskFull", StateFiring, "severity", "ticket", "team", "b"),
		ev(at(6), "HighLatency", StateNotified, "severity", "page", "team", "a"),
		ev(at(9), "DiskFull", StateResolved, "severity", "ticket", "team", "b"),
	)
	s.Record(ev(at(7), "HighLatency", StateSilenced, "severity", "page", "team", "a"))

	f := func(name string, q Query, want ...string) {
		t.Helper()
		if got := query(t, s, q); !slices.Equal(got, want) {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
	f("all, newest first; a tie puts the later record first", Query{},
		"DiskFull/resolved@9", "HighLatency/silenced@7", "HighLatency/notified@6",
		"DiskFull/firing@5", "HighLatency/firing@5", "HighLatency/pending@0")
	f("alertname", Query{Matchers: []*labels.Matcher{mustMatch(t, labels.MatchEqual, "alertname", "DiskFull")}},
		"DiskFull/resolved@9", "DiskFull/firing@5")
	f("__name__ is alertname", Query{Matchers: []*labels.Matcher{mustMatch(t, labels.MatchEqual, labels.MetricName, "DiskFull")}},
		"DiskFull/resolved@9", "DiskFull/firing@5")
	f("regexp and states", Query{
		Matchers: []*labels.Matcher{mustMatch(t, labels.MatchRegexp, "severity", "pa.*")},
		States:   []string{StateFiring, StatePending},
	}, "HighLatency/firing@5", "HighLatency/pending@0")
	f("missing label matches empty", Query{Matchers: []*labels.Matcher{mustMatch(t, labels.MatchEqual, "env", "")}},
		"DiskFull/resolved@9", "HighLatency/silenced@7", "HighLatency/notified@6",
		"DiskFull/firing@5", "HighLatency/firing@5", "HighLatency/pending@0")
	f("inclusive range", Query{Start: at(5), End: at(7)},
		"HighLatency/silenced@7", "HighLatency/notified@6", "DiskFull/firing@5", "HighLatency/firing@5")
	f("limit keeps the newest", Query{Limit: 2}, "DiskFull/resolved@9", "HighLatency/silenced@7")
	f("any of several selectors", Query{anyOf: [][]*labels.Matcher{
		{mustMatch(t, labels.MatchEqual, "team", "b"), mustMatch(t, labels.MatchEqual, "alertname", "DiskFull")},
		{mustMatch(t, labels.MatchEqual, "alertname", "HighLatency")},
	}, States: []string{StateFiring}}, "DiskFull/firing@5", "HighLatency/firing@5")
	f("no match", Query{States: []string{StateInhibited}})

	got, err := s.Query(Query{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Labels["alertname"] != "DiskFull" || got[0].Source != SourceRules || got[0].Fingerprint == "" {
		t.Errorf("stored event lost fields: %+v", got[0])
	}
}

// The limit cut inside a day must keep the newest events even when the
// file holds many more matches than the limit, in any order.
func TestQueryLimitWithinDay(t *testing.T) {
	c := &clock{t: t0.Add(time.Hour)}
	s := open(t, "", c, Options{})
	for i := range 500 {
		// Interleave so file order is not time order.
		m := (i * 7919) % 500
		s.Record(ev(t0.Add(time.Duration(m)*time.Second), "A", StateFiring, "i", fmt.Sprint(m)))
	}
	got, err := s.Query(Query{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	var is []string
	for _, e := range got {
		is = append(is, e.Labels["i"])
	}
	if want := []string{"499", "498", "497"}; !slices.Equal(is, want) {
		t.Errorf("got %v, want %v", is, want)
	}
}

func TestDayBoundaries(t *testing.T) {
	c := &clock{t: t0}
	dir := t.TempDir()
	s := open(t, dir, c, Options{})
	midnight := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	s.Record(
		ev(midnight.Add(-time.Second), "A", StateFiring),
		ev(midnight, "B", StateFiring),
		// Not UTC: filed by its UTC day.
		ev(midnight.Add(time.Minute).In(time.FixedZone("x", -5*3600)), "C", StateFiring),
	)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"events-2026-12-02.jsonl", "events-2026-12-03.jsonl"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("day file: %v", err)
		}
	}
	names := func(q Query) []string {
		got, err := s.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range got {
			out = append(out, e.AlertName)
		}
		return out
	}
	if got := names(Query{Start: midnight.Add(-time.Hour), End: midnight.Add(time.Hour)}); !slices.Equal(got, []string{"C", "B", "A"}) {
		t.Errorf("spanning query: %v", got)
	}
	if got := names(Query{Start: midnight, End: midnight.Add(time.Hour)}); !slices.Equal(got, []string{"C", "B"}) {
		t.Errorf("second day: %v", got)
	}
	if got := names(Query{End: midnight.Add(-time.Nanosecond)}); !slices.Equal(got, []string{"A"}) {
		t.Errorf("first day: %v", got)
	}
	// Limit 1 stops at the newer day.
	if got := names(Query{Limit: 1}); !slices.Equal(got, []string{"C"}) {
		t.Errorf("limit across days: %v", got)
	}
}

func dayFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "events-*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

func TestRetentionOnOpen(t *testing.T) {
	c := &clock{t: t0}
	dir := t.TempDir()
	s := open(t, dir, c, Options{Retention: 48 * time.Hour})
	for d := range 4 {
		s.Record(ev(t0.AddDate(0, 0, -d), "A", StateFiring, "d", fmt.Sprint(d)))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := dayFiles(t, dir); len(got) != 3 {
		// The 4th (3 days old) was already past retention when written.
		t.Fatalf("files before: %v", got)
	}
	// Open's retention pass: a day later, now - 48h falls on 12-01, so
	// the file of 11-30 goes and 12-01 onwards stay.
	c.Set(t0.Add(24 * time.Hour))
	s = open(t, dir, c, Options{Retention: 48 * time.Hour})
	if got, want := dayFiles(t, dir), []string{"events-2026-12-01.jsonl", "events-2026-12-02.jsonl"}; !slices.Equal(got, want) {
		t.Errorf("files after: %v, want %v", got, want)
	}
	// An event for a day past retention does not bring its file back.
	s.Record(ev(t0.AddDate(0, 0, -5), "Late", StateFiring))
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := dayFiles(t, dir); len(got) != 2 {
		t.Errorf("late event resurrected a file: %v", got)
	}
}

// Run applies retention hourly; synctest's clock drives both the ticker
// and the Store's Now.
func TestRunRetentionAndFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		s, err := Open(Options{Dir: dir, Retention: 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); s.Run(ctx) }()

		s.Record(ev(time.Now(), "A", StateFiring))
		time.Sleep(flushInterval + time.Millisecond)
		synctest.Wait()
		files := dayFiles(t, dir)
		if len(files) != 1 {
			t.Fatalf("Run did not flush: files %v", files)
		}
		b, err := os.ReadFile(filepath.Join(dir, files[0]))
		if err != nil || !strings.Contains(string(b), `"alertname":"A"`) {
			t.Fatalf("Run did not flush the event: %q, %v", b, err)
		}

		// The bubble starts at midnight: the first day's file is kept
		// while any of it is within the 24h retention, ...
		time.Sleep(47 * time.Hour)
		synctest.Wait()
		if got := dayFiles(t, dir); !slices.Equal(got, files) {
			t.Errorf("removed too early: %v", got)
		}
		s.Record(ev(time.Now(), "B", StateFiring))
		// ... and removed by the next hourly pass.
		time.Sleep(retentionInterval)
		synctest.Wait()
		if got := dayFiles(t, dir); len(got) != 1 || got[0] == files[0] {
			t.Errorf("after retention: %v (first day %s)", got, files[0])
		}
		cancel()
		<-done
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestMaxBytesDropsOldest(t *testing.T) {
	c := &clock{t: t0}
	dir := t.TempDir()
	// Measure one day's file, then allow a bit more than two.
	probe := open(t, t.TempDir(), c, Options{})
	probe.Record(ev(t0, "A", StateFiring, "pad", strings.Repeat("x", 1000)))
	_ = probe.Flush()
	one, _ := listDays(probe.o.Dir)
	size := one[0].size

	s := open(t, dir, c, Options{MaxBytes: 2*size + size/2})
	for d := 3; d >= 0; d-- {
		s.Record(ev(t0.AddDate(0, 0, -d), "A", StateFiring, "pad", strings.Repeat("x", 1000)))
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"events-2026-12-01.jsonl", "events-2026-12-02.jsonl"}
	if got := dayFiles(t, dir); !slices.Equal(got, want) {
		t.Errorf("files: %v, want %v", got, want)
	}

	// The newest day stays even when it alone is over the limit.
	s.Record(ev(t0, "A", StateFiring, "pad", strings.Repeat("x", 3000)))
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := dayFiles(t, dir); !slices.Equal(got, want[1:]) {
		t.Errorf("files: %v, want %v", got, want[1:])
	}
	got, err := s.Query(Query{})
	if err != nil || len(got) != 2 {
		t.Errorf("newest day's events: %d, %v", len(got), err)
	}
}

func TestRestartKeepsEvents(t *testing.T) {
	c := &clock{t: t0}
	dir := t.TempDir()
	s := open(t, dir, c, Options{})
	v := 0.25
	e := ev(t0, "A", StateNotifyFailed, "team", "x")
	e.Value, e.Receiver, e.Detail, e.Previous = &v, "team-x/webhook[0]", "503 Service Unavailable", StateFiring
	s.Record(e, ev(t0.Add(-25*time.Hour), "B", StateFiring))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	s = open(t, dir, c, Options{})
	got, err := s.Query(Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("after restart: %v", brief(got))
	}
	g := got[0]
	if g.AlertName != "A" || g.Value == nil || *g.Value != v || g.Receiver != e.Receiver || g.Detail != e.Detail ||
		g.Previous != StateFiring || !g.Time.Equal(t0) || g.Labels["team"] != "x" {
		t.Errorf("after restart: %+v", g)
	}
	// And appends continue in the same files.
	s.Record(ev(t0.Add(time.Minute), "C", StateFiring))
	if got := query(t, s, Query{}); len(got) != 3 || got[0] != "C/firing@1" {
		t.Errorf("append after restart: %v", got)
	}
}

func TestTornLastLine(t *testing.T) {
	c := &clock{t: t0}
	dir := t.TempDir()
	s := open(t, dir, c, Options{})
	s.Record(ev(t0, "A", StateFiring))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, dayOf(t0).fileName())
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A crash cut the second line short.
	torn := append(append([]byte{}, good...), good[:len(good)/2]...)
	if err := os.WriteFile(path, torn, 0o644); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir, c, Options{})
	if got := query(t, s, Query{}); !slices.Equal(got, []string{"A/firing@0"}) {
		t.Errorf("torn file: %v", got)
	}
	s.Record(ev(t0.Add(time.Minute), "B", StateFiring))
	if got := query(t, s, Query{}); !slices.Equal(got, []string{"B/firing@1", "A/firing@0"}) {
		t.Errorf("append after torn line: %v", got)
	}
	b, _ := os.ReadFile(path)
	if lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"); len(lines) != 3 {
		t.Errorf("the torn line should stand alone: %d lines\n%s", len(lines), b)
	}
}

func TestGarbageLinesSkipped(t *testing.T) {
	c := &clock{t: t0}
	dir := t.TempDir()
	path := filepath.Join(dir, dayOf(t0).fileName())
	content := "null\n{}\n[1]\n\x00\x00\x00\n{\"time\":\"2026-12-02T10:00:00Z\",\"state\":\"firing\",\"alertname\":\"A\"}\n" +
		strings.Repeat("y", maxLineBytes+10) + "\n" +
		"{\"time\":\"2026-12-02T10:01:00Z\",\"state\":\"firing\",\"alertname\":\"B\"}\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	s := open(t, dir, c, Options{})
	if got := query(t, s, Query{}); !slices.Equal(got, []string{"B/firing@1", "A/firing@0"}) {
		t.Errorf("got %v", got)
	}
}

func TestRecordNormalizes(t *testing.T) {
	c := &clock{t: t0}
	reg := prometheus.NewRegistry()
	s := open(t, "", c, Options{Registerer: reg})
	nan := math.NaN()
	s.Record(
		Event{State: StateFiring, Labels: map[string]string{"alertname": "FromLabels"}, Value: &nan},
		Event{Time: time.Unix(-5, 0), AlertName: "Ancient", State: "weird", Detail: "a" + strings.Repeat("é", MaxDetailBytes)},
	)
	got, err := s.Query(Query{})
	if err != nil || len(got) != 2 {
		t.Fatalf("got %v, %v", brief(got), err)
	}
	for _, e := range got {
		if !e.Time.Equal(t0) {
			t.Errorf("%s: time %v, want now", e.AlertName, e.Time)
		}
		if e.Labels["alertname"] != e.AlertName || e.AlertName == "" {
			t.Errorf("alertname not in both places: %+v", e)
		}
		if e.Value != nil {
			t.Errorf("NaN value kept: %v", *e.Value)
		}
		if e.Detail != "" && (len(e.Detail) != MaxDetailBytes-1 || !utf8.ValidString(e.Detail)) {
			t.Errorf("detail not cut on a rune: %d bytes", len(e.Detail))
		}
	}
	if n := testutil.ToFloat64(s.events.WithLabelValues("other")); n != 1 {
		t.Errorf("unknown state counted as other: %v", n)
	}
	if n := testutil.ToFloat64(s.events.WithLabelValues(StateFiring)); n != 1 {
		t.Errorf("firing events: %v", n)
	}

	// The caller's map is not kept.
	ls := map[string]string{"k": "before"}
	s.Record(Event{Time: t0, AlertName: "Mut", State: StateFiring, Labels: ls})
	ls["k"] = "after"
	got, _ = s.Query(Query{Limit: 1})
	if got[0].Labels["k"] != "before" {
		t.Errorf("Record kept the caller's map: %v", got[0].Labels)
	}

	_ = s.Close()
	s.Record(ev(t0, "AfterClose", StateFiring))
	if n := testutil.ToFloat64(s.errs); n != 1 {
		t.Errorf("write errors after Record on a closed Store: %v, want 1", n)
	}
}

func TestConcurrentRecord(t *testing.T) {
	c := &clock{t: t0}
	reg := prometheus.NewRegistry()
	s := open(t, "", c, Options{Registerer: reg})
	const writers, each = 8, 150
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				s.Record(ev(t0.Add(time.Duration(i)*time.Millisecond), fmt.Sprintf("W%d", w), StateFiring, "i", fmt.Sprint(i)))
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			if _, err := s.Query(Query{Limit: 10}); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Go(func() {
		for range 5 {
			if err := s.Flush(); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	got, err := s.Query(Query{Limit: MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != writers*each {
		t.Errorf("got %d events, want %d", len(got), writers*each)
	}
	seen := map[string]bool{}
	for _, e := range got {
		seen[e.AlertName+"/"+e.Labels["i"]] = true
	}
	if len(seen) != writers*each {
		t.Errorf("%d distinct events, want %d", len(seen), writers*each)
	}
	if n := testutil.ToFloat64(s.events.WithLabelValues(StateFiring)); n != writers*each {
		t.Errorf("events_total{state=firing} = %v", n)
	}
}

func TestOpenErrors(t *testing.T) {
	f := func(o Options, want string) {
		t.Helper()
		_, err := Open(o)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%+v) = %v, want an error containing %q", o, err, want)
		}
	}
	f(Options{}, "no directory")
	f(Options{Dir: t.TempDir(), Retention: -time.Hour}, "must not be negative")
	file := filepath.Join(t.TempDir(), "file")
	_ = os.WriteFile(file, nil, 0o644)
	f(Options{Dir: file}, "cannot create alert history directory")
}

// With nothing flushing, Record keeps at most maxPendingBytes and counts
// what it drops; a flush makes room again.
func TestPendingBound(t *testing.T) {
	c := &clock{t: t0}
	s := open(t, "", c, Options{})
	s.maxPending = 64 << 10
	pad := strings.Repeat("x", 1<<10)
	n := s.maxPending/len(pad) + 10
	for range n {
		s.Record(ev(t0, "A", StateFiring, "pad", pad))
	}
	dropped := testutil.ToFloat64(s.errs)
	if dropped < 10 || dropped >= float64(n) {
		t.Errorf("dropped %v of %d", dropped, n)
	}
	got, err := s.Query(Query{Limit: MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if float64(len(got))+dropped != float64(n) {
		t.Errorf("kept %d + dropped %v != recorded %d", len(got), dropped, n)
	}
	s.Record(ev(t0, "B", StateFiring))
	if testutil.ToFloat64(s.errs) != dropped {
		t.Error("Record still drops after a flush")
	}
}
