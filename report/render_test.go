package report

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
)

func built(t *testing.T) Report {
	t.Helper()
	rep, err := Build(context.Background(), testQuery(t), Request{
		Service: "checkout", From: from3, To: to3,
		Objective: 99.9, LatencyObjective: &LatencyObjective{Quantile: 0.99, Seconds: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestWriteJSON(t *testing.T) {
	rep := built(t)
	rep.LatencyP50 = nil
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, buf.Bytes())
	}
	for _, k := range []string{"service", "from", "to", "source", "total_requests", "error_count", "availability", "latency_p95", "objective_met", "error_budget_remaining", "latency_objective", "latency_objective_met", "queries", "daily"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no key %q in %s", k, buf.Bytes())
		}
	}
	if v, ok := m["latency_p50"]; !ok || v != nil {
		t.Errorf("latency_p50 = %v (present %v), want null", v, ok)
	}
	if m["objective_met"] != false || m["latency_objective_met"] != true || m["from"] != "2026-11-01T00:00:00Z" {
		t.Errorf("objective_met %v, latency_objective_met %v, from %v", m["objective_met"], m["latency_objective_met"], m["from"])
	}
	days, _ := m["daily"].([]any)
	if len(days) != 3 || days[0].(map[string]any)["date"] != "2026-11-01" {
		t.Errorf("daily = %v", m["daily"])
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || back.TotalRequests != rep.TotalRequests || back.Queries["total"] != rep.Queries["total"] {
		t.Errorf("round trip: %v, %+v", err, back)
	}
}

func TestWriteCSV(t *testing.T) {
	rep := built(t)
	rep.Service = "=HYPERLINK(\"http://x\")"
	var buf bytes.Buffer
	if err := rep.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records, want a header and one row: %q", len(recs), recs)
	}
	row := map[string]string{}
	for i, h := range recs[0] {
		row[h] = recs[1][i]
	}
	want := map[string]string{
		"service":                    "'=HYPERLINK(\"http://x\")",
		"from":                       "2026-11-01T00:00:00Z",
		"source":                     "spans",
		"total_requests":             "302400",
		"objective_percent":          "99.9",
		"objective_met":              "false",
		"latency_objective_quantile": "0.99",
		"latency_objective_met":      "true",
		"latency_p99_seconds":        csvNum(*rep.LatencyP99),
		"availability_percent":       csvNum(rep.Availability),
	}
	for k, v := range want {
		if row[k] != v {
			t.Errorf("%s = %q, want %q", k, row[k], v)
		}
	}

	// Unknown figures are empty cells, not zeros.
	rep.LatencyP50, rep.Objective, rep.ObjectiveMet, rep.LatencyObjective = nil, nil, nil, nil
	buf.Reset()
	if err := rep.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	recs, _ = csv.NewReader(&buf).ReadAll()
	for i, h := range recs[0] {
		if (h == "latency_p50_seconds" || h == "objective_percent" || h == "objective_met" || h == "latency_objective_seconds") && recs[1][i] != "" {
			t.Errorf("%s = %q, want empty", h, recs[1][i])
		}
	}
}

func TestWriteDailyCSV(t *testing.T) {
	rep := built(t)
	rep.Daily[2] = DayRow{Date: "2026-11-03", From: rep.Daily[2].From, To: rep.Daily[2].To, NoData: true}
	var buf bytes.Buffer
	if err := rep.WriteDailyCSV(&buf); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 || strings.Join(recs[0], ",") != "date,from,to,total_requests,error_count,availability_percent,no_data" {
		t.Fatalf("records = %q", recs)
	}
	if got := recs[1]; got[0] != "2026-11-01" || got[3] != "100800" || got[4] != "1440" || got[6] != "false" {
		t.Errorf("first day = %q", got)
	}
	if got := recs[3]; got[5] != "" || got[6] != "true" {
		t.Errorf("day without data = %q, want empty availability and no_data true", got)
	}
}

func TestWriteMarkdown(t *testing.T) {
	rep := built(t)
	var buf bytes.Buffer
	if err := rep.WriteMarkdown(&buf); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	for _, want := range []string{
		"# SLA report: checkout\n",
		"| Requests | 302,400 |\n",
		"| Availability | " + fmtPercent(rep.Availability) + " |\n",
		"| Availability objective | 99.9%: missed |\n",
		"| Latency p50 | 137.5 ms |\n",
		"| Latency objective | p99 ≤ 1 s: 912.5 ms, met |\n",
		"| Date | Requests | Errors | Availability |\n",
		"| 2026-11-01 | 100,800 | 1,440 | 98.5714% |\n",
		"- total: ` " + rep.Queries["total"] + " `\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}

	rep.Service = "<img src=x onerror=alert(1)>|x\n# y"
	buf.Reset()
	if err := rep.WriteMarkdown(&buf); err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(buf.String(), "\n\n")
	if want := `# SLA report: &lt;img src=x onerror=alert\(1\)&gt;\|x \# y`; first != want {
		t.Errorf("heading = %q, want %q", first, want)
	}
}

func TestMarkdownCode(t *testing.T) {
	for in, want := range map[string]string{
		"up":          "` up `",
		"a`b":         "`` a`b ``",
		"x{a=`b``c`}": "``` x{a=`b``c`} ```",
		"a\nb":        "` a b `",
	} {
		if got := mdCode(in); got != want {
			t.Errorf("mdCode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWriteHTML(t *testing.T) {
	rep := built(t)
	rep.Service = `<script>alert("x")</script>`
	var buf bytes.Buffer
	if err := rep.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if strings.Contains(page, "<script") {
		t.Errorf("the service name reached the page unescaped:\n%s", page)
	}
	for _, want := range []string{
		"<title>SLA report: &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</title>",
		"<tr><th>Requests</th><td>302,400</td></tr>",
		`<span class="missed">Availability objective missed</span>`,
		`<span class="met">Latency objective met</span>`,
		`<tr><td>2026-11-02</td>`,
		"<style>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	// Self-contained: nothing loaded from elsewhere.
	for _, bad := range []string{"<link", "src=", "http://", "https://"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
}

func TestFormatters(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{fmtCount(302400.8), "302,401"},
		{fmtCount(999), "999"},
		{fmtCount(-1234), "-1,234"},
		{fmtPercent(97.4), "97.4%"},
		{fmtPercent(99.99996), "99.9999%"},
		{fmtPercent(100), "100%"},
		{fmtPercent(-150.25), "-150.25%"},
		{fmtSeconds(0.1375), "137.5 ms"},
		{fmtSeconds(1.23456), "1.235 s"},
		{LatencyObjective{Quantile: 0.999, Seconds: 0.25}.String(), "p99.9:0.25"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
