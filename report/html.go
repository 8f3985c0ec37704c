package report

import (
	"html/template"
	"io"
	"time"
)

// The page has no external assets and no script, so it can be mailed or
// archived as one file; html/template escapes every value.
var pageTemplate = template.Must(template.New("sla").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>SLA report: {{.Service}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1d1d1f; }
h1 { font-size: 1.5rem; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.7rem; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.met { color: #1a7f37; font-weight: 600; }
.missed { color: #cf222e; font-weight: 600; }
code { font-size: 0.85rem; word-break: break-all; }
</style>
</head>
<body>
<h1>SLA report: {{.Service}}</h1>
<table>
{{range .Summary}}<tr><th>{{.Label}}</th><td>{{.Value}}</td></tr>
{{end}}</table>
{{if .Verdicts}}<p>{{range .Verdicts}}<span class="{{.Class}}">{{.Text}}</span> {{end}}</p>
{{end}}{{if .Daily}}<h2>Daily (UTC)</h2>
<table>
<tr><th>Date</th><th>Requests</th><th>Errors</th><th>Availability</th></tr>
{{range .Daily}}<tr><td>{{.Date}}</td><td class="n">{{.Requests}}</td><td class="n">{{.Errors}}</td><td class="n">{{.Availability}}</td></tr>
{{end}}</table>
{{end}}<h2>Queries</h2>
<p>Instant PromQL queries at {{.At}} (the daily ones at the end of each day):</p>
<ul>
{{range .Queries}}<li>{{.Name}}: <code>{{.Expr}}</code></li>
{{end}}</ul>
</body>
</html>
`))

type verdict struct{ Class, Text string }

// WriteHTML writes a self-contained HTML page.
func (r Report) WriteHTML(w io.Writer) error {
	var verdicts []verdict
	add := func(what string, met *bool) {
		if met != nil {
			verdicts = append(verdicts, verdict{Class: metWord(met), Text: what + " objective " + metWord(met)})
		}
	}
	add("Availability", r.ObjectiveMet)
	add("Latency", r.LatencyObjectiveMet)
	return pageTemplate.Execute(w, struct {
		Service  string
		Summary  []row
		Verdicts []verdict
		Daily    []dayView
		At       string
		Queries  []namedQuery
	}{r.Service, r.summary(), verdicts, r.dailyRows(), r.To.Format(time.RFC3339), r.queryList()})
}
