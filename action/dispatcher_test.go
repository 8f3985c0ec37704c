package action

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A firing alert repeated every evaluation runs the fire step once; a
// new episode within the cooldown does not run it, one after it does;
// the resolve step runs once when the alert resolves, whether it is told
// (EndsAt in the past) or its EndsAt simply passes.
func TestCommandOncePerEpisode(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	h := start(t, Options{Actions: []Action{{
		Name:     "restart",
		Match:    mustMatch(t, `alertname="UnitDown"`),
		Cooldown: 5 * time.Minute,
		Fire:     Step{Command: appendCommand(out)},
		Resolve:  &Step{Command: appendCommand(out)},
	}}})
	c := h.clock
	want := func(what string, w ...string) {
		t.Helper()
		h.idle()
		if got := lines(t, out); !slices.Equal(got, w) {
			t.Fatalf("%s: ran %q, want %q", what, got, w)
		}
	}
	for range 10 {
		h.d.Observe(unitAlert(1, "web", c.Now().Add(time.Minute)))
	}
	want("ten repeats", "firing web")

	h.d.Observe(unitAlert(1, "web", c.Now().Add(-time.Second)))
	h.d.Observe(unitAlert(1, "web", c.Now().Add(-time.Second)))
	want("resolved twice", "firing web", "resolved web")

	c.Add(time.Minute)
	for range 3 {
		h.d.Observe(unitAlert(1, "web", c.Now().Add(time.Minute)))
	}
	want("new episode within the cooldown", "firing web", "resolved web")
	if n := h.outcomes("restart")[OutcomeSkippedCooldown]; n != 1 {
		t.Errorf("%d skipped_cooldown records, want 1 for the episode", n)
	}

	c.Add(5 * time.Minute)
	h.d.Observe(unitAlert(1, "web", c.Now().Add(time.Minute)))
	want("same episode after the cooldown", "firing web", "resolved web", "firing web")

	c.Add(2 * time.Minute) // EndsAt passes with no update
	h.d.tick()
	h.d.tick()
	want("EndsAt passed", "firing web", "resolved web", "firing web", "resolved web")

	got := h.outcomes("restart")
	if got[OutcomeSucceeded] != 4 || got[OutcomeRunning] != 0 {
		t.Errorf("outcomes %v, want 4 succeeded and none left running", got)
	}
	rec := h.d.Audit(AuditQuery{Action: "restart", Phase: PhaseResolve, Limit: 1})[0]
	if rec.Attempts != 1 || rec.ExitCode == nil || *rec.ExitCode != 0 || rec.AlertName != "UnitDown" ||
		rec.Fingerprint != "0000000000000001" || rec.Labels["unit"] != "web" || rec.Target == nil ||
		!slices.Equal(rec.Target.Argv, []string{"sh", "-c", `echo "$1 $2" >> "$OUT"`, "sh", "resolved", "web"}) ||
		!slices.Equal(rec.Target.EnvNames, []string{"OUT"}) {
		t.Errorf("resolve record %+v (target %+v)", rec, rec.Target)
	}
	st := h.d.Actions()[0]
	if st.Name != "restart" || st.Kind != "command" || st.Runs[OutcomeSucceeded] != 4 || st.LastRun == nil ||
		st.LastRun.Phase != PhaseResolve || st.Active != 0 || !st.Resolve || st.Cooldown != "5m" {
		t.Errorf("status %+v", st)
	}
	if v := testutil.ToFloat64(h.d.m.runs.WithLabelValues("restart", "fire", "succeeded")); v != 2 {
		t.Errorf("vigil_action_runs_total{phase=fire,outcome=succeeded} = %v, want 2", v)
	}
}

// Two alerts for an action with max_concurrency 1 run one after the
// other: the second request arrives only after the first is answered.
func TestMaxConcurrency(t *testing.T) {
	for _, limit := range []int{1, 2} {
		var inflight, most atomic.Int32
		release := make(chan struct{})
		arrived := make(chan struct{}, 2)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := inflight.Add(1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			arrived <- struct{}{}
			<-release
			inflight.Add(-1)
		}))
		t.Cleanup(srv.Close)
		h := start(t, Options{Actions: []Action{{
			Name:           "flag",
			Match:          mustMatch(t, `alertname="UnitDown"`),
			MaxConcurrency: limit,
			Fire:           Step{HTTP: &HTTPStep{URL: srv.URL + "/{{ .Labels.unit }}"}},
		}}})
		h.d.Observe(unitAlert(1, "a", time.Time{}), unitAlert(2, "b", time.Time{}))
		for range limit {
			<-arrived
		}
		h.settled()
		st := h.d.Actions()[0]
		if st.Running+st.Queued != 2 || st.Running != limit {
			t.Errorf("limit %d: %d running, %d queued", limit, st.Running, st.Queued)
		}
		for n := limit; n < 2; n++ {
			release <- struct{}{}
			<-arrived
		}
		for range limit {
			release <- struct{}{}
		}
		h.idle()
		if got := most.Load(); got != int32(limit) {
			t.Errorf("max_concurrency %d: %d requests in flight at once", limit, got)
		}
		h.stop()
	}
}

// Observe returns at once whatever the state of the queues: updates that
// do not fit are dropped, counted and recorded.
func TestObserveNeverBlocks(t *testing.T) {
	t.Run("before Run", func(t *testing.T) {
		h := newHarness(t, Options{QueueSize: 4, Actions: []Action{{
			Name:  "noop",
			Match: mustMatch(t, `alertname="UnitDown"`),
			Fire:  Step{Command: &CommandStep{Argv: []string{"true"}}},
		}}})
		for i := range 5000 {
			h.d.Observe(unitAlert(uint64(i), "u", time.Time{}))
		}
		if v := testutil.ToFloat64(h.d.m.dropped); v != 4996 {
			t.Errorf("dropped %v, want 4996", v)
		}
		h.run()
		h.idle()
		h.d.tick()
		recs := h.d.Audit(AuditQuery{Outcome: OutcomeDropped})
		if len(recs) != 1 || recs[0].Action != "" || !strings.Contains(recs[0].Error, "4996 alert updates dropped") {
			t.Errorf("dropped records %+v", recs)
		}
		if n := h.outcomes("noop")[OutcomeSucceeded]; n != 4 {
			t.Errorf("%d runs, want 4 (the queued updates)", n)
		}
	})
	t.Run("slow action", func(t *testing.T) {
		h := start(t, Options{QueueSize: 2, ActionQueueSize: 1, Actions: []Action{{
			Name:    "slow",
			Match:   mustMatch(t, `alertname="UnitDown"`),
			Timeout: time.Hour,
			Fire:    Step{Command: &CommandStep{Argv: []string{"sleep", "600"}}},
		}}})
		for i := range 1000 {
			h.d.Observe(unitAlert(uint64(i), "u", time.Time{}))
		}
		h.settled()
		// One runs, one waits in the action's queue, the rest were dropped
		// by one queue or the other.
		if v := testutil.ToFloat64(h.d.m.dropped); v != 998 {
			t.Errorf("dropped %v, want 998", v)
		}
		st := h.d.Actions()[0]
		if st.Running != 1 || st.Queued != 1 {
			t.Errorf("%d running and %d queued, want 1 and 1", st.Running, st.Queued)
		}
		h.stop() // kills the sleep
		got := h.outcomes("slow")
		if got[OutcomeFailed] != 1 || got[OutcomeDropped] == 0 {
			t.Errorf("outcomes after stop %v: want the running one failed (cancelled) and drops recorded", got)
		}
	})
}

func TestRateLimit(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	h := start(t, Options{Actions: []Action{{
		Name:      "limited",
		Match:     mustMatch(t, `alertname="UnitDown"`),
		RateLimit: RateLimit{Count: 2, Per: time.Hour},
		Fire:      Step{Command: appendCommand(out)},
	}}})
	for fp, unit := range []string{"a", "b", "c"} {
		h.d.Observe(unitAlert(uint64(fp), unit, time.Time{}))
		h.idle()
	}
	h.d.Observe(unitAlert(2, "c", time.Time{})) // a repeat: still limited, not recorded again
	h.idle()
	if got := lines(t, out); !slices.Equal(got, []string{"firing a", "firing b"}) {
		t.Errorf("ran %q within the limit", got)
	}
	if n := h.outcomes("limited")[OutcomeRateLimited]; n != 1 {
		t.Errorf("%d rate_limited records, want 1", n)
	}
	h.clock.Add(time.Hour + time.Second)
	h.d.Observe(unitAlert(2, "c", time.Time{}))
	h.idle()
	if got := lines(t, out); !slices.Equal(got, []string{"firing a", "firing b", "firing c"}) {
		t.Errorf("after the window: ran %q", got)
	}
}

func TestMuted(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	var muted atomic.Bool
	muted.Store(true)
	h := start(t, Options{
		Muted: func(ls map[string]string) bool { return muted.Load() && ls["unit"] == "web" },
		Actions: []Action{{
			Name:    "restart",
			Match:   mustMatch(t, `alertname="UnitDown"`),
			Fire:    Step{Command: appendCommand(out)},
			Resolve: &Step{Command: appendCommand(out)},
		}},
	})
	for range 3 {
		h.d.Observe(unitAlert(1, "web", time.Time{}))
	}
	h.idle()
	if got := lines(t, out); got != nil {
		t.Fatalf("a muted alert ran %q", got)
	}
	if n := h.outcomes("restart")[OutcomeMuted]; n != 1 {
		t.Errorf("%d muted records, want 1", n)
	}
	muted.Store(false)
	h.d.Observe(unitAlert(1, "web", time.Time{}))
	h.d.Observe(unitAlert(1, "web", h.clock.Now().Add(-time.Second)))
	h.idle()
	if got := lines(t, out); !slices.Equal(got, []string{"firing web", "resolved web"}) {
		t.Errorf("unmuted: ran %q", got)
	}
}

// A restart rebuilds the last fire times and the active alerts from the
// audit files.
func TestRestartRestoresState(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	actions := []Action{{
		Name:     "restart",
		Match:    mustMatch(t, `alertname="UnitDown"`),
		Cooldown: 10 * time.Minute,
		Fire:     Step{Command: appendCommand(out)},
		Resolve:  &Step{Command: appendCommand(out)},
	}}
	c := newClock()
	h := start(t, Options{Actions: actions, AuditDir: filepath.Join(dir, "audit"), Now: c.Now})
	h.d.Observe(unitAlert(1, "a", time.Time{}), unitAlert(2, "b", time.Time{}), unitAlert(3, "c", time.Time{}))
	h.idle()
	h.d.Observe(unitAlert(1, "a", c.Now().Add(-time.Second)))
	h.idle()
	h.stop()
	before := lines(t, out)

	c.Add(time.Minute)
	h = start(t, Options{Actions: actions, AuditDir: filepath.Join(dir, "audit"), Now: c.Now, RestoreGrace: time.Hour})
	h.d.Observe(unitAlert(1, "a", time.Time{})) // new episode within the cooldown
	h.d.Observe(unitAlert(2, "b", time.Time{})) // still firing: already acted on
	h.idle()
	if got := lines(t, out); !slices.Equal(got, before) {
		t.Errorf("after restart ran %q", got[len(before):])
	}
	if n := h.outcomes("restart")[OutcomeSkippedCooldown]; n != 1 {
		t.Errorf("%d skipped_cooldown records, want 1", n)
	}
	h.d.Observe(unitAlert(2, "b", c.Now().Add(-time.Second)))
	h.idle()
	c.Add(time.Hour) // alert c was never seen again: it resolved while Vigil was down
	h.d.tick()
	h.idle()
	got := lines(t, out)[len(before):]
	slices.Sort(got)
	if !slices.Equal(got, []string{"resolved b", "resolved c"}) {
		t.Errorf("resolve steps after restart: %q", got)
	}
}

// A reload keeps the state of actions that keep their name, and a bad
// one changes nothing.
func TestUpdate(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	a := Action{Name: "restart", Match: mustMatch(t, `alertname="UnitDown"`), Fire: Step{Command: appendCommand(out)}}
	h := start(t, Options{Actions: []Action{a}})
	h.d.Observe(unitAlert(1, "a", time.Time{}))
	h.idle()
	a.Timeout = time.Minute
	b := Action{Name: "other", Match: mustMatch(t, `alertname="UnitDown"`), Fire: Step{Command: appendCommand(out)}}
	if err := h.d.Update([]Action{a, b}); err != nil {
		t.Fatal(err)
	}
	h.d.Observe(unitAlert(1, "a", time.Time{}))
	h.idle()
	if got := lines(t, out); !slices.Equal(got, []string{"firing a", "firing a"}) {
		t.Errorf("after reload ran %q; want the new action only", got)
	}
	err := h.d.Update([]Action{a, {Name: "bad name", Match: a.Match, Fire: a.Fire}})
	if err == nil || !strings.Contains(err.Error(), `action "bad name": name:`) {
		t.Errorf("bad reload: %v", err)
	}
	if names := []string{h.d.Actions()[0].Name, h.d.Actions()[1].Name}; !slices.Equal(names, []string{"restart", "other"}) {
		t.Errorf("after a bad reload the actions are %q", names)
	}
}

// Run owns the dispatcher's goroutines: a second one is refused.
func TestRunTwice(t *testing.T) {
	h := start(t, Options{Actions: []Action{{Name: "x", Match: mustMatch(t, `a="b"`), Fire: Step{Command: &CommandStep{Argv: []string{"true"}}}}}})
	h.waitFor("Run to start", func() bool {
		h.d.mu.Lock()
		defer h.d.mu.Unlock()
		return h.d.runCtx != nil
	})
	if err := h.d.Run(t.Context()); err == nil {
		t.Error("a second Run did not fail")
	}
}
