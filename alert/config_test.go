package alert

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadConfigErrorsNameFileAndLine(t *testing.T) {
	f := func(name, yml, want string) {
		t.Helper()
		path := writeFile(t, t.TempDir(), "alertmanager.yml", yml)
		want = strings.ReplaceAll(want, "FILE", path)
		if _, err := LoadConfig(path); err == nil || err.Error() != want {
			t.Errorf("%s: LoadConfig error\n got %v\nwant %s", name, err, want)
		}
		if err := CheckConfig(path); err == nil || err.Error() != want {
			t.Errorf("%s: CheckConfig error\n got %v\nwant %s", name, err, want)
		}
	}
	f("type error", `
route:
  receiver: a
  group_by: 5
receivers:
  - name: a
`, "FILE: yaml: unmarshal errors:\n  line 4: cannot unmarshal !!int `5` into []string")
	f("unknown field", `
route:
  receiver: a
receivers:
  - name: a
    webhook_config:
      - url: http://example.com/
`, "FILE: yaml: unmarshal errors:\n  line 6: field webhook_config not found in type config.plain")
	f("undefined receiver", `
route:
  receiver: a
  routes:
    - matchers: [team="db"]
      receiver: dba
receivers:
  - name: a
`, `FILE:6: undefined receiver "dba" used in route`)
	f("undefined time interval", `
route:
  receiver: a
  routes:
    - receiver: a
      mute_time_intervals: [nights]
receivers:
  - name: a
`, `FILE:6: undefined time interval "nights" used in route`)
	f("invalid duration", `
route:
  receiver: a
  group_wait: soon
receivers:
  - name: a
`, `FILE:4: not a valid duration string: "soon"`)
	f("YAML syntax", "route:\n  receiver: a\n\treceivers: []\n", "FILE: yaml: line 3: found a tab character that violates indentation")
}

// Alertmanager's own loader panics on a null child route; loading it is
// an error instead, so that Reload of such a file keeps the server up.
func TestLoadConfigNullRoute(t *testing.T) {
	path := writeFile(t, t.TempDir(), "alertmanager.yml", "route:\n  receiver: a\n  routes:\n    -\nreceivers:\n  - name: a\n")
	_, err := LoadConfig(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+": cannot validate the configuration") {
		t.Errorf("LoadConfig = %v, want an error naming the file", err)
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.yml")
	if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("LoadConfig of a missing file: %v, want an error naming it", err)
	}
}

func TestCheckConfigTemplates(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "bad.tmpl", `{{ define "x" }}{{ .Foo `)
	path := writeFile(t, dir, "alertmanager.yml", "route:\n  receiver: a\ntemplates: ['*.tmpl']\nreceivers:\n  - name: a\n")
	// The configuration itself loads; amtool check-config also parses
	// the templates, relative to the file.
	if _, err := LoadConfig(path); err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	err := CheckConfig(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+": templates: ") || !strings.Contains(err.Error(), "bad.tmpl:1") {
		t.Errorf("CheckConfig = %v, want the file, then the template and its line", err)
	}
}

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if c.Route.Receiver != "default" || len(c.Receivers) != 1 || len(c.Receivers[0].WebhookConfigs) != 0 {
		t.Errorf("default configuration routes to %q with %d receivers", c.Route.Receiver, len(c.Receivers))
	}
}

func TestReload(t *testing.T) {
	t.Parallel()
	sink := newWebhookSink(t)
	dir := t.TempDir()
	conf := writeFile(t, dir, "alertmanager.yml", hookConfig(sink, apiConfig))
	am := startAM(t, Options{ConfigFile: conf}, "")
	running := am.Config()

	f := func(name, yml, wantErr string) {
		t.Helper()
		bad := writeFile(t, dir, name+".yml", hookConfig(sink, yml))
		err := am.Reload(bad)
		if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("Reload(%s) = %v, want an error naming the file and %q", name, err, wantErr)
		}
		if am.Config() != running {
			t.Errorf("Reload(%s) replaced the running configuration", name)
		}
	}
	f("undefined-receiver", "route:\n  receiver: nobody\nreceivers:\n  - name: hook\n", `undefined receiver "nobody"`)
	f("not-yaml", "route: [\n", "yaml: ")
	// It loads, but its template does not parse: that fails when the
	// configuration is applied, still before the running one is stopped.
	writeFile(t, dir, "broken.tmpl", `{{ define "x" }}{{ .Foo `)
	f("broken-template", "route:\n  receiver: hook\ntemplates: ['broken.tmpl']\nreceivers:\n  - name: hook\n", "templates: ")

	// Still routing with the running configuration.
	put(t, am, firing("alertname", "AfterBadReload", "instance", "one"))
	sink.wait(t, "hook", 1)

	// A valid file replaces it.
	next := writeFile(t, dir, "next.yml", strings.NewReplacer("receiver: hook", "receiver: next", "name: hook", "name: next", "/hook", "/next").
		Replace(hookConfig(sink, apiConfig)))
	if err := am.Reload(next); err != nil {
		t.Fatalf("Reload of a valid file: %v", err)
	}
	if am.Config() == running || am.Config().Route.Receiver != "next" {
		t.Fatalf("Reload did not apply the new configuration")
	}
	put(t, am, firing("alertname", "AfterReload", "instance", "two"))
	if got := sink.wait(t, "next", 1)[0]; got.Receiver != "next" {
		t.Errorf("after reload sent to %q", got.Receiver)
	}
}

// The configuration file is read from disk an operator edits; whatever
// it holds, loading fails with an error naming the file, or succeeds.
func FuzzLoadConfig(f *testing.F) {
	f.Add([]byte(defaultConfig))
	f.Add([]byte(apiConfig))
	f.Add([]byte("route:\n  receiver: a\n  routes:\n    - receiver: 'b'\nreceivers:\n  - name: a\n"))
	f.Add([]byte("route:\n  receiver: a\n  group_wait: \"x\"\n"))
	dir := f.TempDir()
	path := filepath.Join(dir, "alertmanager.yml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadConfig(path); err != nil && !strings.HasPrefix(err.Error(), path+":") {
			t.Errorf("error does not start with the file name: %v", err)
		}
	})
}

func TestLineOf(t *testing.T) {
	data := []byte(`route:
  receiver: a # not "dba"
  routes:
    - receiver: 'dba'
inhibit_rules:
  - equal: [cluster, "zone"]
`)
	f := func(name string, want int) {
		t.Helper()
		if got := lineOf(data, name); got != want {
			t.Errorf("lineOf(%q) = %d, want %d", name, got, want)
		}
	}
	f("dba", 4)     // quoted, and not in the comment of line 2
	f("cluster", 6) // first in a flow list
	f("zone", 6)    // later in a flow list, quoted
	f("absent", 0)
}
