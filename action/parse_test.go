package action

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const goodFile = `actions:
  - name: rollback
    match: ['alertname="HighErrorRate"', 'severity=~"page|critical"']
    cooldown: 30m
    rate_limit: {count: 10, per: 1h}
    max_concurrency: 2
    timeout: 1.5s
    retries: 2
    retry_backoff: 2s
    http:
      url: 'https://deploy.example/api/rollback?service={{ .Labels.service | urlquery }}'
      headers: {Authorization: 'Bearer {{ env "DEPLOY_TOKEN" }}'}
      body: '{"service":{{ toJson .Labels.service }}}'
      success_status: [200, 202]
  - name: restart_unit
    match: ['alertname="UnitDown"']
    dry_run: true
    command:
      argv: [systemctl, restart, '{{ .Labels.unit }}']
      env: {FOO: bar}
      dir: /var/lib
    resolve:
      command: {argv: [systemctl, start, '{{ .Labels.unit }}']}
`

func TestParseGood(t *testing.T) {
	actions, err := Parse("good.yml", []byte(goodFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(actions) != 2 {
		t.Fatalf("got %d actions, want 2", len(actions))
	}
	rb, ru := actions[0], actions[1]
	if rb.Name != "rollback" || len(rb.Match) != 2 || rb.Cooldown != 30*time.Minute ||
		rb.RateLimit != (RateLimit{10, time.Hour}) || rb.MaxConcurrency != 2 || rb.Timeout != 1500*time.Millisecond ||
		rb.Retries != 2 || rb.RetryBackoff != 2*time.Second || rb.Source != "good.yml:2" {
		t.Errorf("rollback parsed as %+v", rb)
	}
	if rb.Fire.Kind() != "http" || rb.Fire.HTTP.Headers["Authorization"] == "" || len(rb.Fire.HTTP.SuccessStatus) != 2 || rb.Resolve != nil {
		t.Errorf("rollback step parsed as %+v", rb.Fire.HTTP)
	}
	if !matches(rb.Match, map[string]string{"alertname": "HighErrorRate", "severity": "critical"}) ||
		matches(rb.Match, map[string]string{"alertname": "HighErrorRate", "severity": "info"}) {
		t.Error("rollback matchers do not match as written")
	}
	if !ru.DryRun || ru.Cooldown != DefaultCooldown || ru.Fire.Kind() != "command" || ru.Resolve == nil ||
		ru.Resolve.Kind() != "command" || ru.Fire.Command.Dir != "/var/lib" || ru.Fire.Command.Env["FOO"] != "bar" {
		t.Errorf("restart_unit parsed as %+v", ru)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, body := range []string{"", "# nothing\n", "actions: []\n", "actions:\n"} {
		actions, err := Parse("empty.yml", []byte(body))
		if err != nil || len(actions) != 0 {
			t.Errorf("Parse(%q) = %v, %v; want no actions and no error", body, actions, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	const head = "actions:\n  - name: a\n    match: ['alertname=\"X\"']\n"
	f := func(name, body string, want ...string) {
		t.Helper()
		_, err := Parse("bad.yml", []byte(body))
		if err == nil {
			t.Errorf("%s: no error", name)
			return
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", name, err, w)
			}
		}
	}
	f("unknown field", head+"    command: {argv: [true]}\n    colldown: 5m\n",
		`bad.yml:5:5: action "a": unknown field "colldown" in an action`)
	f("unknown nested field", head+"    command: {argv: [true], shel: true}\n",
		`bad.yml:4:29: action "a": unknown field "shel" in command`)
	f("both http and command", head+"    command: {argv: [true]}\n    http: {url: 'http://x'}\n",
		`bad.yml:2:5: action "a": set exactly one of http and command, not both`)
	f("neither", head,
		`bad.yml:2:5: action "a": set one of http and command`)
	f("bad matcher", "actions:\n  - name: a\n    match: ['alertname=\"X\"', 'severity=~\"(\"']\n    command: {argv: [true]}\n",
		`bad.yml:3:30: action "a": match[1]: bad matcher`)
	f("no matcher", "actions:\n  - name: a\n    command: {argv: [true]}\n",
		`bad.yml:2:5: action "a": match: at least one matcher is required`)
	f("bad template", head+"    command:\n      argv: [echo, '{{ .Labels.x ']\n",
		`bad.yml:5:20: action "a": command.argv[1]: bad template`)
	f("unknown function", head+"    http: {url: 'http://x/{{ nope .Labels.x }}'}\n",
		`bad.yml:4:17: action "a": http.url: bad template`, `"nope" not defined`)
	f("env from labels", head+"    http: {url: 'http://x/', headers: {X-Token: '{{ env .Labels.var }}'}}\n",
		`bad.yml:4:49: action "a": http.headers.X-Token: bad template: env must be called with one quoted variable name`)
	f("shell with argv", head+"    command: {argv: [echo, hi], shell: true}\n",
		`bad.yml:4:21: action "a": command.argv: with shell: true, argv must be one string`)
	f("negative duration", head+"    command: {argv: [true]}\n    cooldown: -5m\n",
		`bad.yml:5:15: action "a": cooldown: must not be negative`)
	f("zero timeout", head+"    command: {argv: [true]}\n    timeout: 0s\n",
		`bad.yml:5:14: action "a": timeout: must be positive`)
	f("not a duration", head+"    command: {argv: [true]}\n    timeout: soon\n",
		`timeout: "soon" is not a duration`)
	f("too many retries", head+"    command: {argv: [true]}\n    retries: 99\n",
		`bad.yml:5:14: action "a": retries: must be between 0 and 10`)
	f("rate limit without per", head+"    command: {argv: [true]}\n    rate_limit: {count: 3}\n",
		`bad.yml:5:17: action "a": rate_limit.per: must be a positive duration`)
	f("bad name", "actions:\n  - name: 'a b'\n    match: ['x=\"1\"']\n    command: {argv: [true]}\n",
		`bad.yml:2:11: action "a b": name: "a b" is not a valid action name`)
	f("relative dir", head+"    command: {argv: [true], dir: tmp}\n",
		`bad.yml:4:34: action "a": command.dir: "tmp" must be an absolute path`)
	f("url scheme", head+"    http: {url: 'ftp://x/'}\n",
		`bad.yml:4:17: action "a": http.url: URL "ftp://x/" must start with http:// or https://`)
	f("bad method", head+"    http: {url: 'http://x/', method: FETCH}\n",
		`http.method: "FETCH" is not an HTTP method`)
	f("empty resolve", head+"    command: {argv: [true]}\n    resolve: {}\n",
		`bad.yml:5:14: action "a": resolve: set one of http and command (or leave resolve out)`)
	f("duplicate name", "actions:\n  - name: a\n    match: ['x=\"1\"']\n    command: {argv: [true]}\n  - name: a\n    match: ['x=\"1\"']\n    command: {argv: [true]}\n",
		`bad.yml:5:5: action "a": name already used by the action at line 2`)
	f("bool", head+"    command: {argv: [true]}\n    dry_run: maybe\n",
		`bad.yml:5:14: action "a": dry_run: must be true or false`)
	f("yaml syntax", "actions:\n  - name: a\n    match: 'x\n",
		`bad.yml:3: invalid YAML: found unexpected end of stream`)
	f("top level", "action:\n  - name: a\n",
		`bad.yml:1:1: unknown field "action" in the file`)
	f("not a list", "actions: {name: a}\n",
		`bad.yml:1:10: actions must be a list of actions`)
}

func TestParseReturnsEveryError(t *testing.T) {
	body := `actions:
  - name: a
    match: ['x=~"("']
    command: {argv: [true]}
  - name: b
    match: ['x="1"']
    cooldown: -1m
    command: {argv: [true]}
  - name: c
    match: ['x="1"']
    http: {url: 'http://x/{{'}
`
	_, err := Parse("many.yml", []byte(body))
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		t.Fatalf("error %v is not a joined error", err)
	}
	var lines []int
	for _, e := range joined.Unwrap() {
		var pe *ParseError
		if !errors.As(e, &pe) {
			t.Fatalf("error %v is not a *ParseError", e)
		}
		lines = append(lines, pe.Line)
	}
	if want := []int{3, 7, 11}; len(lines) != len(want) || lines[0] != 3 || lines[1] != 7 || lines[2] != 11 {
		t.Errorf("errors on lines %v, want %v:\n%v", lines, want, err)
	}
}

func TestLoadFiles(t *testing.T) {
	dir := t.TempDir()
	one := "actions:\n  - name: a\n    match: ['x=\"1\"']\n    command: {argv: [true]}\n"
	two := "actions:\n  - name: b\n    match: ['x=\"1\"']\n    command: {argv: [true]}\n  - name: a\n    match: ['x=\"2\"']\n    command: {argv: [true]}\n"
	if err := os.WriteFile(filepath.Join(dir, "1.yml"), []byte(one), 0o644); err != nil {
		t.Fatal(err)
	}
	actions, err := LoadFiles([]string{filepath.Join(dir, "*.yml")})
	if err != nil || len(actions) != 1 || actions[0].Name != "a" {
		t.Fatalf("LoadFiles = %v, %v; want action a", actions, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "2.yml"), []byte(two), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LoadFiles([]string{filepath.Join(dir, "*.yml")})
	if err == nil || !strings.Contains(err.Error(), "2.yml:5: action \"a\": name already used by the action at "+filepath.Join(dir, "1.yml")+":2") {
		t.Errorf("duplicate across files: got %v", err)
	}
	_, err = LoadFiles([]string{filepath.Join(dir, "missing.yml")})
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: got %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(goodFile))
	f.Add([]byte("actions:\n  - name: a\n    match: ['x=\"1\"']\n    command: {argv: ['{{ env \"X\" }}'], shell: true}\n"))
	f.Add([]byte("actions:\n  - &a {name: a, match: ['x=\"1\"'], http: {url: 'http://h/'}}\n  - *a\n"))
	f.Add([]byte("actions: [{name: b, rate_limit: {count: 1, per: 1d}, resolve: {http: {url: x}}}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		actions, err := Parse("fuzz.yml", data)
		if err != nil {
			if actions != nil {
				t.Fatal("actions returned with an error")
			}
			return
		}
		// Whatever parses must be runnable as it is.
		if _, err := compileAll(actions); err != nil {
			t.Fatalf("parsed actions do not compile: %v", err)
		}
	})
}
