package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// WriteJSON writes r as one indented JSON object.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteCSV writes the period's figures: one header row and one data row.
// The daily rows have other columns, so they are a separate file
// (WriteDailyCSV) rather than a second section that spreadsheet imports
// and csv readers would trip on. Numbers are plain decimals (percent and
// seconds as the headers say); unknown figures are empty cells.
func (r Report) WriteCSV(w io.Writer) error {
	lo := r.LatencyObjective
	if lo == nil {
		lo = &LatencyObjective{}
	}
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{
		"service", "from", "to", "source", "total_requests", "error_count", "availability_percent",
		"latency_p50_seconds", "latency_p95_seconds", "latency_p99_seconds",
		"objective_percent", "objective_met", "error_budget_remaining_percent",
		"latency_objective_quantile", "latency_objective_seconds", "latency_at_objective_seconds", "latency_objective_met",
	})
	_ = cw.Write([]string{
		csvText(r.Service), r.From.Format(time.RFC3339Nano), r.To.Format(time.RFC3339Nano), r.Source,
		csvNum(r.TotalRequests), csvNum(r.ErrorCount), csvNum(r.Availability),
		csvOpt(r.LatencyP50), csvOpt(r.LatencyP95), csvOpt(r.LatencyP99),
		csvOpt(r.Objective), csvBool(r.ObjectiveMet), csvOpt(r.ErrorBudgetRemaining),
		csvOpt(optIf(r.LatencyObjective != nil, lo.Quantile)), csvOpt(optIf(r.LatencyObjective != nil, lo.Seconds)),
		csvOpt(r.LatencyAtObjective), csvBool(r.LatencyObjectiveMet),
	})
	cw.Flush()
	return cw.Error()
}

// WriteDailyCSV writes one header row and a row per UTC day.
func (r Report) WriteDailyCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"date", "from", "to", "total_requests", "error_count", "availability_percent", "no_data"})
	for _, d := range r.Daily {
		_ = cw.Write([]string{
			d.Date, d.From.Format(time.RFC3339Nano), d.To.Format(time.RFC3339Nano),
			csvNum(d.TotalRequests), csvNum(d.ErrorCount), csvOpt(d.Availability), strconv.FormatBool(d.NoData),
		})
	}
	cw.Flush()
	return cw.Error()
}

// WriteMarkdown writes a page for a wiki or a ticket: a summary table, a
// daily table and the queries.
func (r Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# SLA report: %s\n\n", mdText(r.Service))
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	for _, row := range r.summary() {
		fmt.Fprintf(&b, "| %s | %s |\n", row.Label, mdText(row.Value))
	}
	if len(r.Daily) > 0 {
		b.WriteString("\n## Daily (UTC)\n\n| Date | Requests | Errors | Availability |\n|---|--:|--:|--:|\n")
		for _, d := range r.dailyRows() {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", d.Date, d.Requests, d.Errors, d.Availability)
		}
	}
	b.WriteString("\n## Queries\n\nInstant PromQL queries at " + r.To.Format(time.RFC3339) + " (the daily ones at the end of each day):\n\n")
	for _, q := range r.queryList() {
		fmt.Fprintf(&b, "- %s: %s\n", q.Name, mdCode(q.Expr))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// row is a label and a rendered value, shared by Markdown and HTML.
type row struct{ Label, Value string }

func (r Report) summary() []row {
	rows := []row{
		{"Period", r.From.Format("2006-01-02 15:04 MST") + " to " + r.To.Format("2006-01-02 15:04 MST")},
		{"Source", sourceNames[r.Source]},
		{"Requests", fmtCount(r.TotalRequests)},
		{"Errors", fmtCount(r.ErrorCount)},
		{"Availability", fmtPercent(r.Availability)},
	}
	if r.Objective != nil {
		rows = append(rows,
			row{"Availability objective", fmtPercent(*r.Objective) + ": " + metWord(r.ObjectiveMet)},
			row{"Error budget remaining", fmtPercent(*r.ErrorBudgetRemaining)})
	} else {
		rows = append(rows, row{"Availability objective", "none"})
	}
	for _, l := range []struct {
		name string
		v    *float64
	}{{"Latency p50", r.LatencyP50}, {"Latency p95", r.LatencyP95}, {"Latency p99", r.LatencyP99}} {
		rows = append(rows, row{l.name, fmtSecondsOpt(l.v)})
	}
	if lo := r.LatencyObjective; lo != nil {
		rows = append(rows, row{
			"Latency objective",
			"p" + fmtPercentile(lo.Quantile) + " ≤ " + fmtSeconds(lo.Seconds) + ": " + fmtSecondsOpt(r.LatencyAtObjective) + ", " + metWord(r.LatencyObjectiveMet),
		})
	}
	return rows
}

var sourceNames = map[string]string{
	SourceSpans:  "span metrics of the entry spans",
	SourceSLO:    "the SLO's request metrics",
	SourceCustom: "custom request metrics",
}

type dayView struct{ Date, Requests, Errors, Availability string }

func (r Report) dailyRows() []dayView {
	out := make([]dayView, len(r.Daily))
	for i, d := range r.Daily {
		v := dayView{Date: d.Date, Requests: fmtCount(d.TotalRequests), Errors: fmtCount(d.ErrorCount), Availability: "no requests"}
		switch {
		case d.NoData:
			v = dayView{Date: d.Date, Requests: "no data", Errors: "no data", Availability: "no data"}
		case d.Availability != nil:
			v.Availability = fmtPercent(*d.Availability)
		}
		out[i] = v
	}
	return out
}

type namedQuery struct{ Name, Expr string }

var queryOrder = []string{"total", "errors", "p50", "p95", "p99", "latency_objective", "daily_total", "daily_errors"}

func (r Report) queryList() []namedQuery {
	var out []namedQuery
	for _, k := range queryOrder {
		if e, ok := r.Queries[k]; ok {
			out = append(out, namedQuery{k, e})
		}
	}
	return out
}

func metWord(b *bool) string {
	switch {
	case b == nil:
		return "unknown"
	case *b:
		return "met"
	default:
		return "missed"
	}
}

// fmtCount rounds an extrapolated count for people: 302400.8 is 302,401.
func fmtCount(v float64) string {
	s := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// fmtPercent keeps four decimals, enough for "four nines", and never
// rounds a shortfall up to 100%.
func fmtPercent(v float64) string {
	s := strconv.FormatFloat(v, 'f', 4, 64)
	if s == "100.0000" && v < 100 {
		s = "99.9999"
	}
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		s = "0"
	}
	return s + "%"
}

func fmtSeconds(v float64) string {
	if v < 1 {
		return strconv.FormatFloat(math.Round(v*1e4)/10, 'f', -1, 64) + " ms"
	}
	return strconv.FormatFloat(math.Round(v*1e3)/1e3, 'f', -1, 64) + " s"
}

func fmtSecondsOpt(v *float64) string {
	if v == nil {
		return "unknown (no latency histogram data)"
	}
	return fmtSeconds(*v)
}

func csvNum(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func csvOpt(v *float64) string {
	if v == nil {
		return ""
	}
	return csvNum(*v)
}

func csvBool(b *bool) string {
	if b == nil {
		return ""
	}
	return strconv.FormatBool(*b)
}

func optIf(ok bool, v float64) *float64 {
	if !ok {
		return nil
	}
	return &v
}

// csvText keeps a spreadsheet from taking a text cell for a formula
// (a service named =HYPERLINK(...)), as OWASP advises: a leading quote.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// mdText escapes what Markdown would take for markup, table syntax or
// inline HTML, and folds newlines that would end a table row.
func mdText(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch c {
		case '\\', '`', '*', '_', '[', ']', '(', ')', '#', '|', '!', '~', '{', '}':
			b.WriteByte('\\')
			b.WriteRune(c)
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '\n', '\r':
			b.WriteByte(' ')
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// mdCode is a code span that holds any text: its fence is one backtick
// longer than the longest run inside.
func mdCode(s string) string {
	s = strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
	longest, run := 0, 0
	for _, c := range s {
		if c == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	return fence + " " + s + " " + fence
}
