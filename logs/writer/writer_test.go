package writer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigilhq/vigil/ingest/logline"
	"github.com/vigilhq/vigil/storage/logs"
)

type memStore struct {
	got [][]logs.Record
	err error
}

func (m *memStore) Append(_ context.Context, recs []logs.Record) error {
	if m.err != nil {
		return m.err
	}
	m.got = append(m.got, append([]logs.Record(nil), recs...))
	return nil
}

func (m *memStore) lines() []string {
	var out []string
	for _, b := range m.got {
		for _, r := range b {
			out = append(out, r.Body)
		}
	}
	return out
}

var lim = Limits{
	MaxLineBytes: 64, IngestionRate: 1000, IngestionBurst: 2000, StreamRate: 100, StreamBurst: 300,
	MaxStreams: 3, MaxLabelsPerStream: 4, MaxLabelNameLength: 20, MaxLabelValueLength: 30,
}

func rec(stream, body string) logs.Record {
	return logs.Record{Stream: stream, Body: body, Service: "svc"}
}

type upper struct{}

func (upper) Redact(r *logs.Record) int {
	if strings.Contains(r.Body, "secret") {
		r.Body = strings.ReplaceAll(r.Body, "secret", "[REDACTED]")
		return 1
	}
	return 0
}

func newWriter(t *testing.T, st *memStore, now *time.Time) (*Writer, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	var observed int
	w := New(Options{Store: st, Redactor: upper{}, Limits: lim, Registerer: reg, Now: func() time.Time { return *now },
		Observe: func(r []logs.Record) { observed += len(r) }})
	t.Cleanup(func() {
		if n := len(st.lines()); observed != n {
			t.Errorf("observed %d records, stored %d", observed, n)
		}
	})
	return w, reg
}

func TestTruncateAndRedact(t *testing.T) {
	now := time.Unix(1000, 0)
	st := &memStore{}
	w, _ := newWriter(t, st, &now)
	long := strings.Repeat("é", 50) // 100 bytes
	if err := w.Append(context.Background(), []logs.Record{rec(`{a="1"}`, long), rec(`{a="1"}`, "my secret")}); err != nil {
		t.Fatal(err)
	}
	got := st.lines()
	if len(got[0]) > lim.MaxLineBytes || !strings.Contains(got[0], "[truncated") || !strings.HasPrefix(got[0], "éé") {
		t.Errorf("truncated line = %q (%d bytes)", got[0], len(got[0]))
	}
	if got[1] != "my [REDACTED]" {
		t.Errorf("redacted line = %q", got[1])
	}
	if v := testutil.ToFloat64(w.truncated); v != 1 {
		t.Errorf("truncated counter = %v", v)
	}
}

func TestTenantRate(t *testing.T) {
	now := time.Unix(1000, 0)
	st := &memStore{}
	w, _ := newWriter(t, st, &now)
	batch := func() []logs.Record {
		var b []logs.Record
		for range 30 {
			b = append(b, rec(`{a="1"}`, strings.Repeat("x", 50)))
		}
		return b
	}
	// 1500 bytes: within the 2000-byte burst, but the stream's burst is
	// 300: only the tenant check is tested with many streams below.
	ctx := logline.WithTenant(context.Background(), "team-a")
	var many []logs.Record
	for i := range 3 {
		for range 10 {
			many = append(many, rec(`{a="`+string(rune('1'+i))+`"}`, strings.Repeat("x", 25)))
		}
	}
	if err := w.Append(ctx, many); err != nil {
		t.Fatalf("750 bytes within limits: %v", err)
	}
	err := w.Append(ctx, batch())
	var le *logline.LimitError
	if !errors.As(err, &le) || le.Refused != 30 || !strings.Contains(le.Msg, "logs.limits.ingestion_rate") || !strings.Contains(le.Msg, `"team-a"`) {
		t.Fatalf("over the tenant burst: %v", err)
	}
	if logline.HTTPStatus(err) != 429 {
		t.Errorf("status = %d", logline.HTTPStatus(err))
	}
	// Another tenant has its own bucket.
	if err := w.Append(logline.WithTenant(context.Background(), "team-b"), []logs.Record{rec(`{a="1"}`, "ok")}); err != nil {
		t.Fatalf("another tenant: %v", err)
	}
	// Tokens come back with time.
	now = now.Add(10 * time.Second)
	if err := w.Append(ctx, []logs.Record{rec(`{a="1"}`, "later")}); err != nil {
		t.Fatalf("after refill: %v", err)
	}
}

func TestStreamLimitsKeepTheRest(t *testing.T) {
	now := time.Unix(1000, 0)
	st := &memStore{}
	w, reg := newWriter(t, st, &now)
	var b []logs.Record
	b = append(b, rec(`{a="hot"}`, strings.Repeat("h", 60)))
	for range 6 { // 360 bytes > the 300-byte stream burst
		b = append(b, rec(`{a="hot"}`, strings.Repeat("h", 60)))
	}
	b = append(b, rec(`{a="calm"}`, "fine"))
	b = append(b, rec(`{a="1", b="2", c="3", d="4", e="5"}`, "too many labels"))
	b = append(b, rec(`{a="new"}`, "fourth stream"))
	err := w.Append(context.Background(), b)
	var le *logline.LimitError
	if !errors.As(err, &le) {
		t.Fatalf("want a limit error, got %v", err)
	}
	if got := st.lines(); len(got) != 1 || got[0] != "fine" {
		t.Fatalf("stored %q, want only the calm stream's line", got)
	}
	for _, want := range []string{"per-stream rate limit", `{a="hot"}`, "max_labels_per_stream", "logs.limits.max_streams"} {
		if !strings.Contains(le.Msg, want) {
			t.Errorf("message %q does not mention %q", le.Msg, want)
		}
	}
	if le.Refused != 9 {
		t.Errorf("refused = %d, want 9", le.Refused)
	}
	if n, _ := testutil.GatherAndCount(reg, "vigil_logs_refused_lines_total"); n != 3 {
		t.Errorf("refusal reasons = %d, want 3", n)
	}
	// Idle streams stop counting after an hour.
	now = now.Add(2 * time.Hour)
	if err := w.Append(context.Background(), []logs.Record{rec(`{a="later"}`, "x"), rec(`{a="later2"}`, "y")}); err != nil {
		t.Fatalf("after idle streams expired: %v", err)
	}
}

func TestStoreErrorIsReturned(t *testing.T) {
	now := time.Unix(1000, 0)
	st := &memStore{err: errors.New("disk on fire")}
	w, _ := newWriter(t, st, &now)
	if err := w.Append(context.Background(), []logs.Record{rec(`{a="1"}`, "x")}); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("err = %v", err)
	}
}

func TestTruncateShortMax(t *testing.T) {
	if got := truncate("abcdefghij", 4); got != "abcd" {
		t.Fatalf("truncate with no room for the marker = %q", got)
	}
}
