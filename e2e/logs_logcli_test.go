package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// logcli runs Grafana's logcli against v and returns its stdout.
func logcli(t *testing.T, v *vigil, args ...string) string {
	t.Helper()
	bin := tool(t, "logcli", goBin("logcli"))
	cmd := exec.Command(bin, append([]string{"--addr=" + v.URL, "--quiet"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("logcli %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// TestLogsLogcli: Loki's own command-line client queries Vigil: lines
// with their labels, label names and values, series, and a metric query.
func TestLogsLogcli(t *testing.T) {
	v := startVigil(t)
	now := time.Now()
	logsIngestPushLoki(t, v.URL,
		logsIngestLokiStream{Stream: map[string]string{"job": "checkout", "env": "prod"}, Values: [][]any{
			{logsAPINs(now.Add(-3 * time.Second)), "order 1 created"},
			{logsAPINs(now.Add(-2 * time.Second)), "order 2 failed: card declined"},
		}},
		logsIngestLokiStream{Stream: map[string]string{"job": "payments", "env": "prod"}, Values: [][]any{
			{logsAPINs(now.Add(-1 * time.Second)), "charge ok"},
		}},
	)

	// Lines, newest first, as JSON lines with their labels.
	out := logcli(t, v, "query", "--since=10m", "--output=jsonl", "--include-common-labels", `{env="prod"} |= "order"`)
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var e struct {
			Labels map[string]string `json:"labels"`
			Line   string            `json:"line"`
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("logcli jsonl output %q: %v", l, err)
		}
		if e.Labels["job"] != "checkout" || e.Labels["service_name"] != "checkout" {
			t.Errorf("labels of %q: %v", e.Line, e.Labels)
		}
		lines = append(lines, e.Line)
	}
	if want := []string{"order 2 failed: card declined", "order 1 created"}; strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Errorf("logcli query lines %q, want %q", lines, want)
	}

	if got := strings.Fields(logcli(t, v, "labels", "--since=10m")); strings.Join(got, ",") != "env,job,service_name" {
		t.Errorf("logcli labels: %q", got)
	}
	if got := strings.Fields(logcli(t, v, "labels", "--since=10m", "job")); strings.Join(got, ",") != "checkout,payments" {
		t.Errorf("logcli labels job: %q", got)
	}
	series := strings.TrimSpace(logcli(t, v, "series", "--since=10m", `{env="prod"}`))
	if want := "{env=\"prod\", job=\"checkout\", service_name=\"checkout\"}\n{env=\"prod\", job=\"payments\", service_name=\"payments\"}"; series != want {
		t.Errorf("logcli series:\n%s\nwant\n%s", series, want)
	}

	// A metric query: logcli prints the vector as JSON.
	out = logcli(t, v, "instant-query", `sum by (job) (count_over_time({env="prod"}[10m]))`)
	var vec []struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	}
	if err := json.Unmarshal([]byte(out), &vec); err != nil {
		t.Fatalf("logcli instant-query output %q: %v", out, err)
	}
	got := map[string]any{}
	for _, s := range vec {
		got[s.Metric["job"]] = s.Value[1]
	}
	if got["checkout"] != "2" || got["payments"] != "1" || len(got) != 2 {
		t.Errorf("logcli instant-query: %v", got)
	}

	// A bad query: logcli exits non-zero with Loki's message.
	cmd := exec.Command(goBinOr("logcli"), "--addr="+v.URL, "query", `{env="prod"} | unpack`)
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), `unsupported: "| unpack"`) {
		t.Errorf("logcli with an unsupported query: %v\n%s", err, b)
	}
}

func goBinOr(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return goBin(name)
}
