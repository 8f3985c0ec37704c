package action

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The HTTP step sends the method, rendered URL, headers and body, once
// per firing episode, and its resolve step once the alert resolves; the
// audit record keeps the status, a body excerpt and the header names,
// never their values (in memory or on disk).
func TestHTTPAction(t *testing.T) {
	const token = "s3cr3t-t0ken-value"
	t.Setenv("VIGIL_ACTION_TEST_TOKEN", token)
	type request struct {
		method, path, query, auth, static, body string
	}
	var mu sync.Mutex
	var got []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, request{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("X-Static"), string(b)})
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		// A careless API echoes the credential it was sent.
		io.WriteString(w, "rolled back; you sent "+r.Header.Get("Authorization"))
	}))
	t.Cleanup(srv.Close)
	auditDir := t.TempDir()
	h := start(t, Options{AuditDir: auditDir, Actions: []Action{{
		Name:  "rollback",
		Match: mustMatch(t, `alertname="HighErrors"`),
		Fire: Step{HTTP: &HTTPStep{
			Method: "put",
			URL:    srv.URL + "/rollback/{{ .Labels.service }}?alert={{ .Labels.alertname | urlquery }}",
			Headers: map[string]string{
				"Authorization": `Bearer {{ env "VIGIL_ACTION_TEST_TOKEN" }}`,
				"X-Static":      "static-header-value",
			},
			Body: `{"service":{{ toJson .Labels.service }},"status":"{{ .Status }}","fp":"{{ .Fingerprint }}"}`,
		}},
		Resolve: &Step{HTTP: &HTTPStep{Method: "DELETE", URL: srv.URL + "/rollback/{{ .Labels.service }}"}},
	}}})
	alert := Alert{Fingerprint: 0xabc, Labels: map[string]string{"alertname": "HighErrors", "service": "api"}}
	for range 5 {
		h.d.Observe(alert)
	}
	h.idle()
	mu.Lock()
	want := []request{{"PUT", "/rollback/api", "alert=HighErrors", "Bearer " + token, "static-header-value",
		`{"service":"api","status":"firing","fp":"0000000000000abc"}`}}
	if !slices.Equal(got, want) {
		t.Errorf("server got %+v\nwant %+v", got, want)
	}
	mu.Unlock()
	recs := h.d.Audit(AuditQuery{Action: "rollback"})
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1: %+v", len(recs), recs)
	}
	rec := recs[0]
	if rec.Outcome != OutcomeSucceeded || rec.HTTPStatus != 201 || rec.Attempts != 1 ||
		rec.Output != "rolled back; you sent <redacted>" || rec.Target == nil ||
		rec.Target.Method != "PUT" || rec.Target.URL != srv.URL+"/rollback/api?alert=HighErrors" ||
		!slices.Equal(rec.Target.HeaderNames, []string{"Authorization", "X-Static"}) {
		t.Errorf("record %+v, target %+v", rec, rec.Target)
	}

	alert.EndsAt = h.clock.Now().Add(-time.Second)
	h.d.Observe(alert)
	h.d.Observe(alert)
	h.idle()
	mu.Lock()
	if len(got) != 2 || got[1].method != "DELETE" || got[1].path != "/rollback/api" {
		t.Errorf("after resolving, the server got %+v; want one DELETE more", got)
	}
	mu.Unlock()

	mem, _ := json.Marshal(h.d.Audit(AuditQuery{}))
	h.stop()
	files, _ := filepath.Glob(filepath.Join(auditDir, "audit-*.jsonl"))
	if len(files) != 1 {
		t.Fatalf("audit files %q, want one", files)
	}
	disk, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	for where, b := range map[string][]byte{"memory": mem, "disk": disk} {
		for _, secret := range []string{token, "static-header-value"} {
			if strings.Contains(string(b), secret) {
				t.Errorf("the audit records in %s contain the header value %q", where, secret)
			}
		}
	}
	if !strings.Contains(string(disk), `"http_status":201`) {
		t.Errorf("the audit file lacks the final record:\n%s", disk)
	}
}

// Dry run renders the steps and records them; nothing runs.
func TestDryRun(t *testing.T) {
	dir := t.TempDir()
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { requests.Add(1) }))
	t.Cleanup(srv.Close)
	h := start(t, Options{Actions: []Action{
		{
			Name:    "touch",
			Match:   mustMatch(t, `alertname="UnitDown"`),
			DryRun:  true,
			Fire:    Step{Command: &CommandStep{Argv: []string{"touch", filepath.Join(dir, "{{ .Labels.unit }}.fired")}}},
			Resolve: &Step{Command: &CommandStep{Argv: []string{"touch", filepath.Join(dir, "{{ .Labels.unit }}.resolved")}}},
		},
		{
			Name:   "call",
			Match:  mustMatch(t, `alertname="UnitDown"`),
			DryRun: true,
			Fire:   Step{HTTP: &HTTPStep{URL: srv.URL + "/flag/{{ .Labels.unit }}", Body: "{{ .DryRun }}"}},
		},
	}})
	h.d.Observe(unitAlert(1, "web", time.Time{}))
	h.d.Observe(unitAlert(1, "web", h.clock.Now().Add(-time.Second)))
	h.idle()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("dry run created %v", ents)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("dry run sent %d requests", n)
	}
	recs := h.d.Audit(AuditQuery{Action: "touch"})
	if len(recs) != 2 {
		t.Fatalf("records %+v, want fire and resolve", recs)
	}
	for _, r := range recs {
		want := []string{"touch", filepath.Join(dir, "web.fired")}
		if r.Phase == PhaseResolve {
			want[1] = filepath.Join(dir, "web.resolved")
		}
		if r.Outcome != OutcomeDryRun || !r.DryRun || r.Attempts != 0 || r.Target == nil || !slices.Equal(r.Target.Argv, want) {
			t.Errorf("record %+v, target %+v; want dry_run of %q", r, r.Target, want)
		}
	}
	call := h.d.Audit(AuditQuery{Action: "call"})
	if len(call) != 1 || call[0].Outcome != OutcomeDryRun || call[0].Target.URL != srv.URL+"/flag/web" ||
		call[0].Target.Body != "true" || call[0].Target.Method != "POST" {
		t.Errorf("http dry run records %+v", call)
	}
}

// A command that outlives its timeout is killed with its whole process
// group, children included, and recorded as timed out.
func TestCommandTimeout(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc to see the child process")
	}
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	h := start(t, Options{Actions: []Action{{
		Name:    "hang",
		Match:   mustMatch(t, `alertname="UnitDown"`),
		Timeout: 200 * time.Millisecond,
		Fire: Step{Command: &CommandStep{
			Argv:  []string{`echo started; sleep 30 & echo $! > "$PIDFILE"; wait`},
			Shell: true,
			Env:   map[string]string{"PIDFILE": pidFile},
		}},
	}}})
	h.d.Observe(unitAlert(1, "web", time.Time{}))
	h.idle()
	rec := h.d.Audit(AuditQuery{Action: "hang"})[0]
	if rec.Outcome != OutcomeTimedOut || rec.ExitCode != nil || rec.Attempts != 1 ||
		!strings.Contains(rec.Error, "timed out after 200ms") || rec.Output != "started\n" ||
		!slices.Equal(rec.Target.Argv, []string{"/bin/sh", "-c", `echo started; sleep 30 & echo $! > "$PIDFILE"; wait`}) {
		t.Errorf("record %+v", rec)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// The orphaned sleep is killed; in a container without an init that
	// reaps orphans it may linger as a zombie, which is dead all the same.
	h.waitFor("the background sleep to die", func() bool {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return true
		}
		_, after, _ := strings.Cut(string(stat), ") ")
		return strings.HasPrefix(after, "Z") || strings.HasPrefix(after, "X")
	})
}

func TestHTTPTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(srv.Close)
	h := start(t, Options{Actions: []Action{{
		Name:    "hang",
		Match:   mustMatch(t, `alertname="UnitDown"`),
		Timeout: 200 * time.Millisecond,
		Fire:    Step{HTTP: &HTTPStep{URL: srv.URL}},
	}}})
	h.d.Observe(unitAlert(1, "web", time.Time{}))
	h.idle()
	rec := h.d.Audit(AuditQuery{Action: "hang"})[0]
	if rec.Outcome != OutcomeTimedOut || rec.Attempts != 1 || !strings.Contains(rec.Error, "timed out after 200ms") {
		t.Errorf("record %+v", rec)
	}
}

// A failing step is retried, then recorded as failed with the last exit
// code; meanwhile the dispatcher keeps taking alerts.
func TestRetries(t *testing.T) {
	out := filepath.Join(t.TempDir(), "attempts")
	h := start(t, Options{Actions: []Action{{
		Name:         "fail",
		Match:        mustMatch(t, `alertname="UnitDown"`),
		Retries:      2,
		RetryBackoff: time.Millisecond,
		Fire: Step{Command: &CommandStep{
			Argv: []string{"sh", "-c", `echo attempt >> "$OUT"; echo oops >&2; exit 3`},
			Env:  map[string]string{"OUT": out},
		}},
	}}})
	h.d.Observe(unitAlert(1, "web", time.Time{}))
	h.idle()
	if n := len(lines(t, out)); n != 3 {
		t.Errorf("%d attempts ran, want 3", n)
	}
	rec := h.d.Audit(AuditQuery{Action: "fail"})[0]
	if rec.Outcome != OutcomeFailed || rec.Attempts != 3 || rec.ExitCode == nil || *rec.ExitCode != 3 ||
		rec.Output != "oops\n" || !strings.Contains(rec.Error, "exit status 3") {
		t.Errorf("record %+v", rec)
	}
}

// An HTTP client error is not retried; a server error is.
func TestHTTPRetries(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls[r.URL.Path]++
		mu.Unlock()
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	h := start(t, Options{Actions: []Action{{
		Name:         "call",
		Match:        mustMatch(t, `alertname="UnitDown"`),
		Retries:      2,
		RetryBackoff: time.Millisecond,
		Fire:         Step{HTTP: &HTTPStep{URL: srv.URL + "/{{ .Labels.unit }}"}},
	}}})
	h.d.Observe(unitAlert(1, "404", time.Time{}), unitAlert(2, "503", time.Time{}))
	h.idle()
	mu.Lock()
	defer mu.Unlock()
	if calls["/404"] != 1 || calls["/503"] != 3 {
		t.Errorf("calls %v, want /404 once and /503 three times", calls)
	}
	for _, r := range h.d.Audit(AuditQuery{Action: "call"}) {
		if r.Outcome != OutcomeFailed || r.HTTPStatus == 0 {
			t.Errorf("record %+v", r)
		}
	}
}

// A template that needs a label the alert lacks fails the step without
// running it with an empty argument.
func TestMissingLabel(t *testing.T) {
	dir := t.TempDir()
	h := start(t, Options{Actions: []Action{{
		Name:  "rm",
		Match: mustMatch(t, `alertname="UnitDown"`),
		Fire:  Step{Command: &CommandStep{Argv: []string{"touch", dir + "/{{ .Labels.nope }}"}}},
	}}})
	h.d.Observe(unitAlert(1, "web", time.Time{}))
	h.idle()
	rec := h.d.Audit(AuditQuery{Action: "rm"})[0]
	if rec.Outcome != OutcomeFailed || rec.Attempts != 0 || !strings.Contains(rec.Error, `no entry for key "nope"`) {
		t.Errorf("record %+v", rec)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("the step ran: %v", ents)
	}
}

func TestCappedBuffer(t *testing.T) {
	b := newCappedBuffer(8)
	b.Write([]byte("abc"))
	if b.String() != "abc" || b.truncated() {
		t.Errorf("short: %q", b.String())
	}
	b.Write([]byte("defgh"))
	if b.String() != "abcdefgh" || b.truncated() {
		t.Errorf("full: %q", b.String())
	}
	for range 100 {
		b.Write([]byte("xyz"))
	}
	b.Write([]byte("END!"))
	if got, want := b.String(), "abcd\n…[304 bytes truncated]…\nEND!"; got != want || !b.truncated() {
		t.Errorf("long: %q, want %q", got, want)
	}
}
