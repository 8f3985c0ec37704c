package action

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a fake Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// harness runs a Dispatcher for one test.
type harness struct {
	t      *testing.T
	d      *Dispatcher
	clock  *clock
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
}

// start creates and runs a Dispatcher; the test's cleanup stops it. A
// nil o.Now gets a fake clock.
func start(t *testing.T, o Options) *harness {
	t.Helper()
	h := newHarness(t, o)
	h.run()
	return h
}

func newHarness(t *testing.T, o Options) *harness {
	t.Helper()
	h := &harness{t: t, reg: prometheus.NewRegistry()}
	if o.Now == nil {
		h.clock = newClock()
		o.Now = h.clock.Now
	}
	o.Registerer = h.reg
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	h.d = d
	return h
}

func (h *harness) run() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- h.d.Run(ctx) }()
	h.t.Cleanup(h.stop)
}

// stop stops the Dispatcher and waits for Run to return; it may be
// called more than once.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	if err := <-h.done; err != nil {
		h.t.Errorf("Run: %v", err)
	}
	h.cancel = nil
}

// waitFor polls cond. It waits for the machine, it asserts nothing about
// how long that takes: the deadline only turns a hang into a failure.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// settled waits until every observed alert was handled.
func (h *harness) settled() {
	h.t.Helper()
	h.waitFor("observed alerts to be handled", func() bool { return h.d.queued.Load() == 0 })
}

// idle waits until every observed alert was handled and no run is queued
// or running.
func (h *harness) idle() {
	h.t.Helper()
	h.waitFor("the dispatcher to be idle", func() bool {
		if h.d.queued.Load() != 0 {
			return false
		}
		for _, s := range h.d.Actions() {
			if s.Running+s.Queued > 0 {
				return false
			}
		}
		return true
	})
}

// outcomes counts the records of an action by outcome, leaving out
// running ones.
func (h *harness) outcomes(action string) map[Outcome]int {
	out := map[Outcome]int{}
	for _, r := range h.d.Audit(AuditQuery{Action: action, Limit: 100000}) {
		out[r.Outcome]++
	}
	return out
}

func mustMatch(t *testing.T, ss ...string) []*labels.Matcher {
	t.Helper()
	var ms []*labels.Matcher
	for _, s := range ss {
		m, err := labels.ParseMatcher(s)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	return ms
}

// appendCommand is a step that appends "<status> <unit label>" to the
// file named by its OUT variable: what ran, and in which order.
func appendCommand(out string) *CommandStep {
	return &CommandStep{
		Argv: []string{"sh", "-c", `echo "$1 $2" >> "$OUT"`, "sh", "{{ .Status }}", "{{ .Labels.unit }}"},
		Env:  map[string]string{"OUT": out},
	}
}

// lines reads a file's lines; a missing file has none.
func lines(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile(name)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func unitAlert(fp uint64, unit string, endsAt time.Time) Alert {
	return Alert{
		Fingerprint: fp,
		Labels:      map[string]string{"alertname": "UnitDown", "unit": unit},
		EndsAt:      endsAt,
	}
}
