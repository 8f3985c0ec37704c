package slo

import (
	"os"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
)

// FuzzParse feeds arbitrary spec files to Parse. It must never panic, and
// whatever it accepts must compile into rules Prometheus accepts: a spec
// that passes `vigil check slo` but breaks the rule manager would be worse
// than one refused.
func FuzzParse(f *testing.F) {
	golden, err := os.ReadFile("testdata/checkout.yml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(golden),
		validSLO,
		strings.Replace(validSLO, "99.9", "100.5", 1),
		validSLO + "    labels: &l {team: a}\n    alerting: {page: {labels: *l}, ticket: {annotations: {summary: '{{ $value }}'}}}\n",
		"slos:\n  - name: x\n    service: y\n    objective: 99\n    sli: {latency: {metric: h, selector: '{a=\"b\"}', threshold: 0.25}}\n",
		"slos:\n  - name: x\n    sli: {events: {bad: 'sum(rate(e[{{ .window }}])) # c', total: 'sum(rate(t[{{.window}}]))'}}\n",
		"slos: [*a]\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		slos, err := Parse(data, "fuzz.yml")
		if err != nil {
			if slos != nil {
				t.Fatal("SLOs returned with an error")
			}
			return
		}
		out, err := RuleFile(slos)
		if err != nil {
			t.Fatalf("Parse accepted a spec that does not compile: %v", err)
		}
		if _, errs := rulefmt.Parse(out, false, model.LegacyValidation); len(errs) > 0 {
			t.Fatalf("Parse accepted a spec whose rules Prometheus refuses: %v\n%s", errs, out)
		}
	})
}
