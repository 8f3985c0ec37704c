package server

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/config"
)

// A Prometheus rule file runs in Vigil: /api/v1/rules lists its group and
// rules with their health, and /api/v1/alerts the firing alert, in
// Prometheus's shapes.
func TestRulesAndAlertsAPI(t *testing.T) {
	cfg := testConfig(t)
	file := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(file, []byte(`groups:
  - name: jobs
    interval: 1s
    rules:
      - record: job:jobs_done:max
        expr: max by (job) (jobs_done_total)
      - alert: JobsDone
        expr: job:jobs_done:max > 0
        labels: {severity: info}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Rules.Files = []string{file}
	cfg.Anomaly.DefaultRules = false // the test counts groups
	r := start(t, cfg)
	remoteWrite(t, r.base, "", time.Now().UnixMilli(), 3)

	get := func(path string, into any) {
		t.Helper()
		resp, err := http.Get(r.base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var alerts struct {
			Data struct {
				Alerts []struct {
					Labels map[string]string `json:"labels"`
					State  string            `json:"state"`
					Value  string            `json:"value"`
				} `json:"alerts"`
			} `json:"data"`
		}
		get("/api/v1/alerts", &alerts)
		if a := alerts.Data.Alerts; len(a) == 1 && a[0].State == "firing" {
			if a[0].Labels["alertname"] != "JobsDone" || a[0].Labels["severity"] != "info" || a[0].Value != "3e+00" {
				t.Fatalf("alert %+v", a[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no firing alert: %+v", alerts.Data.Alerts)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var rules struct {
		Status string `json:"status"`
		Data   struct {
			Groups []struct {
				Name     string  `json:"name"`
				File     string  `json:"file"`
				Interval float64 `json:"interval"`
				Rules    []struct {
					Name   string `json:"name"`
					Type   string `json:"type"`
					Health string `json:"health"`
					State  string `json:"state"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	get("/api/v1/rules", &rules)
	g := rules.Data.Groups
	if rules.Status != "success" || len(g) != 1 || g[0].Name != "jobs" || g[0].Interval != 1 || !strings.HasSuffix(g[0].File, "rules.yml") || len(g[0].Rules) != 2 {
		t.Fatalf("rules: %+v", rules)
	}
	if rr := g[0].Rules; rr[0].Type != "recording" || rr[0].Health != "ok" || rr[1].Type != "alerting" || rr[1].State != "firing" {
		t.Fatalf("rules: %+v", rr)
	}
	// The recorded series is queryable with PromQL.
	if code, body := query(t, r.base, "", `job:jobs_done:max{job="batch"}`); code != 200 || !strings.Contains(body, `"3"`) {
		t.Fatalf("recorded series: %d %s", code, body)
	}
}

// A bad rule file stops the server from starting, naming the file.
func TestBadRulesFileRefused(t *testing.T) {
	cfg := testConfig(t)
	file := filepath.Join(t.TempDir(), "bad.yml")
	os.WriteFile(file, []byte("groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: rate(\n"), 0o644)
	cfg.Rules.Files = []string{file}
	if _, err := New(cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "bad.yml") {
		t.Fatalf("New with a bad rule file: %v", err)
	}
}

// POST /-/reload picks up changed rule files and keeps the old rules
// when the new ones are invalid.
func TestReloadRules(t *testing.T) {
	cfg := testConfig(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "rules.yml")
	write := func(body string) {
		if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("groups:\n  - name: one\n    rules:\n      - record: a:b\n        expr: vector(1)\n")
	cfg.Rules.Files = []string{file}
	cfg.Anomaly.DefaultRules = false // the test counts groups
	r := start(t, cfg)
	r.srv.SetReloader(func() (config.Config, error) { return cfg, nil })
	groups := func() []string {
		var rules struct {
			Data struct {
				Groups []struct {
					Name string `json:"name"`
				} `json:"groups"`
			} `json:"data"`
		}
		resp, err := http.Get(r.base + "/api/v1/rules")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		json.NewDecoder(resp.Body).Decode(&rules)
		var out []string
		for _, g := range rules.Data.Groups {
			out = append(out, g.Name)
		}
		return out
	}
	reload := func() (int, string) {
		resp, err := http.Post(r.base+"/-/reload", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	write("groups:\n  - name: two\n    rules:\n      - record: a:b\n        expr: vector(2)\n")
	if code, body := reload(); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	if g := groups(); len(g) != 1 || g[0] != "two" {
		t.Fatalf("groups after reload: %v", g)
	}
	write("groups:\n  - name: three\n    rules:\n      - record: a:b\n        expr: vector(\n")
	if code, body := reload(); code != 500 || !strings.Contains(body, "rules.yml") || !strings.Contains(body, "previous configuration stays") {
		t.Fatalf("reload of a bad file: %d %s", code, body)
	}
	if g := groups(); len(g) != 1 || g[0] != "two" {
		t.Fatalf("groups after a failed reload: %v", g)
	}
	resp, _ := http.Get(r.base + "/-/reload")
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET /-/reload: %d", resp.StatusCode)
	}
}
