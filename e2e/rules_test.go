package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRulesPromtoolAndSIGHUP: a rule file promtool accepts runs in Vigil
// as in Prometheus (its groups on /api/v1/rules, its records queryable),
// and SIGHUP loads the edited file.
func TestRulesPromtoolAndSIGHUP(t *testing.T) {
	promtool := tool(t, "promtool")
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yml")
	write := func(body string) {
		if err := os.WriteFile(rules, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`groups:
  - name: first
    interval: 1s
    rules:
      - record: vigil:answer
        expr: vector(42)
      - alert: AlwaysOn
        expr: vigil:answer > 0
        labels: {severity: info}
        annotations: {summary: "the answer is {{ $value }}"}
`)
	if out, err := exec.Command(promtool, "check", "rules", rules).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "vigil.yml")
	if err := os.WriteFile(cfg, []byte("rules:\n  files: ["+rules+"]\n# The test counts rule groups: no built-in anomaly group.\nanomaly:\n  default_rules: false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	v := startVigil(t, withArgs("--config", cfg))

	groupNames := func() string {
		var d struct {
			Groups []struct {
				Name string `json:"name"`
			} `json:"groups"`
		}
		apiGet(t, v.URL, "/api/v1/rules", nil, &d)
		var names []string
		for _, g := range d.Groups {
			names = append(names, g.Name)
		}
		return strings.Join(names, ",")
	}
	eventually(t, 60*time.Second, func() string {
		var d struct {
			Alerts []struct {
				State       string            `json:"state"`
				Annotations map[string]string `json:"annotations"`
			} `json:"alerts"`
		}
		apiGet(t, v.URL, "/api/v1/alerts", nil, &d)
		if len(d.Alerts) != 1 || d.Alerts[0].State != "firing" || d.Alerts[0].Annotations["summary"] != "the answer is 42" {
			return "alerts: " + strings.TrimSpace(strings.Join([]string{groupNames()}, ""))
		}
		return ""
	})
	if g := groupNames(); g != "first" {
		t.Fatalf("groups %q", g)
	}
	// promtool queries the recorded series through Vigil's API.
	out, err := exec.Command(promtool, "query", "instant", v.URL, "vigil:answer").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "42") {
		t.Fatalf("promtool query: %v\n%s", err, out)
	}

	write(strings.Replace(strings.Replace(readFile(t, rules), "first", "second", 1), "vector(42)", "vector(7)", 1))
	if out, err := exec.Command(promtool, "check", "rules", rules).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if err := v.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() string {
		if g := groupNames(); g != "second" {
			return "groups after SIGHUP: " + g
		}
		return ""
	})
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
