package action

import (
	"os"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
)

// The examples in docs/actions.md are valid: the rule files for
// Prometheus, the action files for Parse, and their templates render.
func TestDocsExamples(t *testing.T) {
	b, err := os.ReadFile("../docs/actions.md")
	if err != nil {
		t.Skip("docs/actions.md not found:", err)
	}
	alert := &templateData{Status: "firing", Labels: map[string]string{
		"alertname": "X", "instance": "host:9100", "service": "search", "name": "a.service", "pool": "p", "auto_rollback": "true",
	}, Annotations: map[string]string{}}
	var rules, actions int
	for _, block := range strings.Split(string(b), "```yaml\n")[1:] {
		block = block[:strings.Index(block, "```")]
		switch {
		case strings.HasPrefix(block, "# rules"):
			rules++
			if _, errs := rulefmt.Parse([]byte(block), false, model.UTF8Validation); len(errs) > 0 {
				t.Errorf("rules %v:\n%s", errs, block)
			}
		case strings.HasPrefix(block, "# actions"), strings.HasPrefix(block, "actions:"):
			as, err := Parse("docs/actions.md", []byte(block))
			if err != nil {
				t.Errorf("%v:\n%s", err, block)
			}
			for _, a := range as {
				actions++
				s, errs := compile(a)
				if len(errs) > 0 {
					t.Fatal(errs)
				}
				for _, step := range []*compiledStep{s.fire, s.resolve} {
					if step == nil {
						continue
					}
					if _, err := step.render(alert); err != nil {
						t.Errorf("action %s: %v", a.Name, err)
					}
				}
			}
		}
	}
	if rules != 4 || actions != 5 {
		t.Errorf("found %d rule files and %d actions, want the 4 examples and the format's", rules, actions)
	}
}
