package action

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A line torn by a crash is skipped when read, and the next record
// starts on a line of its own; day files past the retention are removed.
func TestAuditFiles(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	today := filepath.Join(dir, "audit-"+c.Now().Format(dayLayout)+".jsonl")
	old := filepath.Join(dir, "audit-"+c.Now().Add(-40*24*time.Hour).Format(dayLayout)+".jsonl")
	recent := filepath.Join(dir, "audit-"+c.Now().Add(-20*24*time.Hour).Format(dayLayout)+".jsonl")
	good, _ := json.Marshal(AuditRecord{ID: "1", Action: "restart", Phase: PhaseFire, Fingerprint: fingerprintString(1),
		Labels: map[string]string{"unit": "web"}, StartedAt: c.Now().Add(-time.Minute), Outcome: OutcomeSucceeded})
	running, _ := json.Marshal(AuditRecord{ID: "3", Action: "restart", Phase: PhaseFire, Fingerprint: fingerprintString(5),
		StartedAt: c.Now().Add(-20 * 24 * time.Hour), Outcome: OutcomeRunning})
	for name, body := range map[string]string{
		old:    string(good) + "\n",
		recent: string(running) + "\n",
		today:  string(good) + "\n" + `{"id":"2","action":"rest`,
	} {
		if err := os.WriteFile(name, []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	actions := []Action{{
		Name:     "restart",
		Match:    mustMatch(t, `alertname="UnitDown"`),
		Cooldown: time.Hour,
		Fire:     Step{Command: &CommandStep{Argv: []string{"true"}}},
	}}
	h := start(t, Options{AuditDir: dir, Now: c.Now, Actions: actions})
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("the 40-day-old file is still there (%v)", err)
	}
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("the 20-day-old file was removed: %v", err)
	}
	recs := h.d.Audit(AuditQuery{})
	if len(recs) != 2 || recs[0].ID != "1" || recs[1].ID != "3" || recs[1].Outcome != OutcomeFailed ||
		!strings.Contains(recs[1].Error, "interrupted") {
		t.Errorf("records read %+v, want the good one and the interrupted one failed", recs)
	}
	if st := h.d.Actions()[0]; st.Active != 2 {
		t.Errorf("%d active alerts after restart, want 2 (fingerprints 1 and 5)", st.Active)
	}
	h.d.Observe(unitAlert(2, "db", time.Time{}))
	h.idle()
	h.stop()
	got := lines(t, today)
	if len(got) != 5 || got[1] != `{"id":"2","action":"rest` {
		t.Fatalf("today's file:\n%s", strings.Join(got, "\n"))
	}
	for i, want := range []Outcome{OutcomeFailed, OutcomeRunning, OutcomeSucceeded} {
		var rec AuditRecord
		if err := json.Unmarshal([]byte(got[2+i]), &rec); err != nil || rec.Outcome != want {
			t.Errorf("appended line %q (%v), want outcome %s", got[2+i], err, want)
		}
	}
	h = start(t, Options{AuditDir: dir, Now: c.Now, Actions: actions})
	if n := len(h.d.Audit(AuditQuery{})); n != 3 {
		t.Errorf("read back %d records, want 3 (good, interrupted, the new run)", n)
	}
}

func TestAuditQuery(t *testing.T) {
	l := newAuditLog("", 3, 0, nil)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, r := range []AuditRecord{
		{ID: "a", Action: "x", AlertName: "A", Outcome: OutcomeSucceeded, Phase: PhaseFire, StartedAt: t0},
		{ID: "b", Action: "y", AlertName: "A", Outcome: OutcomeFailed, Phase: PhaseFire, StartedAt: t0.Add(time.Minute)},
		{ID: "c", Action: "x", AlertName: "B", Outcome: OutcomeRunning, Phase: PhaseResolve, StartedAt: t0.Add(2 * time.Minute)},
		{ID: "d", Action: "x", AlertName: "A", Outcome: OutcomeMuted, Phase: PhaseFire, StartedAt: t0.Add(3 * time.Minute)},
		{ID: "c", Action: "x", AlertName: "B", Outcome: OutcomeSucceeded, Phase: PhaseResolve, StartedAt: t0.Add(2 * time.Minute)},
	} {
		if err := l.append(r, t0); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(q AuditQuery) string {
		var s []string
		for _, r := range l.query(q) {
			s = append(s, r.ID+":"+string(r.Outcome))
		}
		return strings.Join(s, ",")
	}
	f := func(q AuditQuery, want string) {
		t.Helper()
		if got := ids(q); got != want {
			t.Errorf("query %+v = %s, want %s", q, got, want)
		}
	}
	// The ring holds 3: "a" fell out; "c" was replaced where it stood.
	f(AuditQuery{}, "d:muted,c:succeeded,b:failed")
	f(AuditQuery{Action: "x"}, "d:muted,c:succeeded")
	f(AuditQuery{AlertName: "A"}, "d:muted,b:failed")
	f(AuditQuery{Outcome: OutcomeFailed}, "b:failed")
	f(AuditQuery{Phase: PhaseResolve}, "c:succeeded")
	f(AuditQuery{Since: t0.Add(time.Minute), Until: t0.Add(2 * time.Minute)}, "c:succeeded,b:failed")
	f(AuditQuery{Limit: 1}, "d:muted")
}
