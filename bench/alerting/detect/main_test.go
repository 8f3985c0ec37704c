package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// fakeChain stands in for the chain under test: a remote-write endpoint
// that, for a sample above the threshold, posts a firing webhook, the HTTP
// action's request and the probe's report to the receiver (the webhook
// twice, as a resending chain would), and for one below it a resolved
// webhook. Trials listed in silent get nothing.
type fakeChain struct {
	t        *testing.T
	receiver string // base URL
	noHTTP   bool   // never send the HTTP action

	mu     sync.Mutex
	silent map[string]bool
	writes int
}

func (c *fakeChain) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	compressed, _ := io.ReadAll(r.Body)
	raw, err := snappy.Decode(nil, compressed)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req prompb.WriteRequest
	if err := req.Unmarshal(raw); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	for _, ts := range req.Timeseries {
		var name, id string
		for _, l := range ts.Labels {
			switch l.Name {
			case "__name__":
				name = l.Value
			case "trial":
				id = l.Value
			}
		}
		if name != "bench_value" || len(ts.Samples) != 1 {
			http.Error(w, "unexpected series", http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		silent := c.silent[id]
		c.mu.Unlock()
		if !silent {
			go c.react(id, ts.Samples[0].Value)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (c *fakeChain) react(id string, v float64) {
	status := "resolved"
	if v > 100 {
		status = "firing"
	}
	hook := fmt.Sprintf(`{"status":%q,"alerts":[{"status":%q,"labels":{"alertname":"BenchDetect","trial":%q}}]}`, status, status, id)
	c.post("/webhook", hook)
	if status != "firing" {
		return
	}
	// A repeat, before the actions: the trial is still waiting for them,
	// so its receiver is still up.
	c.post("/webhook", hook)
	if !c.noHTTP {
		c.post("/action/http", fmt.Sprintf(`{"trial":%q}`, id))
	}
	_ = probe(context.Background(), c.receiver+"/action/command", id, time.Now()) // as post
}

func (c *fakeChain) post(path, body string) {
	resp, err := http.Post(c.receiver+path, "application/json", strings.NewReader(body))
	if err != nil {
		// The receiver shuts down as soon as the last trial is measured,
		// and a repeat may still be on its way; a notification that
		// really went missing shows in the figures the tests check.
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.t.Errorf("POST %s: %s", path, resp.Status)
	}
}

func setup(t *testing.T, o *options) (*fakeChain, net.Listener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	chain := &fakeChain{t: t, receiver: "http://" + ln.Addr().String(), silent: map[string]bool{}}
	srv := httptest.NewServer(chain)
	t.Cleanup(srv.Close)
	o.write = srv.URL + "/api/v1/write"
	dir := t.TempDir()
	o.csv, o.json = filepath.Join(dir, "trials.csv"), filepath.Join(dir, "summary.json")
	return chain, ln
}

func readSummary(t *testing.T, path string) Summary {
	t.Helper()
	var s Summary
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func fig(s Summary, name string) Figure {
	for _, f := range s.Figures {
		if f.Name == name {
			return f
		}
	}
	return Figure{Name: "absent"}
}

func TestMeasure(t *testing.T) {
	o, err := parseFlags([]string{"-write", "x", "-name", "fake", "-trials", "6", "-warmup", "1", "-concurrency", "3", "-gap", "1ms", "-resolve", "-actions", "http,command", "-timeout", "20s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	chain, ln := setup(t, &o)
	var out bytes.Buffer
	if err := measureOn(context.Background(), o, ln, &out); err != nil {
		t.Fatal(err)
	}
	s := readSummary(t, o.json)
	if s.Trials != 6 || s.Failed != 0 || s.Stray != 0 {
		t.Fatalf("summary %+v: want 6 trials, none failed, no strays", s)
	}
	for _, name := range []string{"write_ms", "webhook_ms", "action_http_ms", "action_command_ms", "action_command_arrival_ms", "resolved_ms"} {
		if l := fig(s, name).Latency; l.N != 6 || l.Errors != 0 || l.P50 < 0 || l.Max < l.P50 {
			t.Errorf("%s: %+v, want 6 measured latencies", name, l)
		}
	}
	// A command's process starts before its report arrives.
	if a, b := fig(s, "action_command_ms").Latency.Max, fig(s, "action_command_arrival_ms").Latency.Max; a > b {
		t.Errorf("command start %v ms after its arrival %v ms", a, b)
	}
	chain.mu.Lock()
	writes := chain.writes
	chain.mu.Unlock()
	if writes != 14 { // a firing and a resolving sample per trial, warm-up included
		t.Errorf("%d writes, want 14", writes)
	}
	rows := readCSV(t, o.csv)
	if len(rows) != 8 || rows[1][2] != "true" || rows[2][2] != "false" {
		t.Fatalf("CSV rows %q: want a header, the warm-up, then 6 trials", rows)
	}
	for _, r := range rows[1:] {
		if r[0] != "fake" || !strings.HasPrefix(r[1], o.prefix+"-") || r[len(r)-1] != "" {
			t.Errorf("CSV row %q", r)
		}
	}
	if !strings.Contains(out.String(), "| webhook_ms | 6 |") {
		t.Errorf("stdout lacks the webhook row:\n%s", out.String())
	}
}

// A trial whose notification never comes fails with what it missed; the
// others are still measured and written, and measure reports the failure.
func TestMeasureTimeout(t *testing.T) {
	o, err := parseFlags([]string{"-write", "x", "-prefix", "p", "-trials", "3", "-warmup", "0", "-gap", "0", "-actions", "command", "-timeout", "300ms"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	chain, ln := setup(t, &o)
	chain.noHTTP = true
	chain.silent["p-0001"] = true
	err = measureOn(context.Background(), o, ln, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "1 of 3 measured trials failed") {
		t.Fatalf("error %v, want one failed trial", err)
	}
	s := readSummary(t, o.json)
	if l := fig(s, "webhook_ms").Latency; l.N != 2 || l.Errors != 1 {
		t.Errorf("webhook %+v: want 2 measured, 1 missing", l)
	}
	if f := fig(s, "action_http_ms"); f.Name != "absent" {
		t.Errorf("an unexpected and absent figure is summarised: %+v", f)
	}
	rows := readCSV(t, o.csv)
	if got := rows[2][len(rows[2])-1]; got != "no webhook, command action after 300ms" {
		t.Errorf("trial p-0001 error %q", got)
	}
}

func TestWebhook(t *testing.T) {
	at := time.Unix(100, 0)
	rc := newReceiver(time.Now)
	tr := &trial{id: "a"}
	rc.add(tr)
	f := func(body string, wantErr bool) {
		t.Helper()
		if err := rc.webhook(at, []byte(body)); (err != nil) != wantErr {
			t.Fatalf("%s: error %v, want error %v", body, err, wantErr)
		}
	}
	f(`{"alerts":[{"status":"firing","labels":{"trial":"a"}},{"status":"firing","labels":{"trial":"zz"}}]}`, false)
	at = at.Add(time.Second)
	// A repeat does not move the firing time; the resolution is recorded.
	f(`{"alerts":[{"status":"firing","labels":{"trial":"a"}},{"status":"resolved","labels":{"trial":"a"}}]}`, false)
	f(`{"alerts":[{"status":"firing"}]}`, false)
	f(`{"alerts":`, true)
	if !tr.webhook.Equal(time.Unix(100, 0)) || !tr.resolved.Equal(time.Unix(101, 0)) {
		t.Errorf("firing at %v, resolved at %v; want 100 s and 101 s", tr.webhook.Unix(), tr.resolved.Unix())
	}
	if rc.strays() != 2 {
		t.Errorf("%d strays, want 2 (trial zz, no trial label)", rc.strays())
	}
}

func TestParseFlags(t *testing.T) {
	f := func(args, wantErr string) {
		t.Helper()
		_, err := parseFlags(strings.Fields(args), io.Discard)
		if wantErr == "" && err != nil || wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)) {
			t.Errorf("%q: error %v, want %q", args, err, wantErr)
		}
	}
	f("-write u", "")
	f("-probe u -trial x", "")
	f("-probe u", "-probe needs -trial")
	f("", "-write is required")
	f("-write u -actions http,mail", `unknown kind "mail"`)
	f("-write u -trials 0", "must be positive")
	f("-write u stray", `unexpected argument "stray"`)
}

func FuzzWebhook(f *testing.F) {
	f.Add([]byte(`{"alerts":[{"status":"firing","labels":{"trial":"a"}}]}`))
	f.Add([]byte(`{"alerts":[{"status":"resolved","labels":{"trial":"a","x":"y"}}]}`))
	f.Add([]byte(`{"alerts":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		rc := newReceiver(time.Now)
		tr := &trial{id: "a"}
		rc.add(tr)
		at := time.Unix(1, 0)
		if err := rc.webhook(at, body); err != nil {
			return
		}
		// Whatever was recorded is the arrival time, never another.
		for _, got := range []time.Time{tr.webhook, tr.resolved} {
			if !got.IsZero() && !got.Equal(at) {
				t.Fatalf("recorded %v, want %v", got, at)
			}
		}
	})
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
