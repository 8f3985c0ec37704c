package action

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
)

// rendered is a step with its templates executed: exactly what one run
// sends or executes.
type rendered struct {
	kind string

	method string
	url    string
	header http.Header
	body   string
	// success lists the status codes that count as success; nil: 2xx.
	success []int

	argv  []string // the program and its arguments, after the shell wrapper
	shell bool
	env   []string // KEY=VALUE, the whole environment of the process
	names []string // the names of the configured env variables
	dir   string

	redact *strings.Replacer
}

// Target is the rendered form of a step as audit records keep it:
// everything needed to see what ran, except header and environment
// values, which may hold credentials.
type Target struct {
	Method      string   `json:"method,omitempty"`
	URL         string   `json:"url,omitempty"`
	HeaderNames []string `json:"header_names,omitempty"`
	// Body is the request body, cut to the output limit.
	Body     string   `json:"body,omitempty"`
	Argv     []string `json:"argv,omitempty"`
	Shell    bool     `json:"shell,omitempty"`
	EnvNames []string `json:"env_names,omitempty"`
	Dir      string   `json:"dir,omitempty"`
}

// minSecretLen is the shortest value that is redacted: replacing every
// "1" or "on" in an output would make it unreadable, and values that
// short are not credentials.
const minSecretLen = 4

// render executes the step's templates on data.
func (c *compiledStep) render(data *templateData) (_ *rendered, err error) {
	r := &rendered{kind: c.kind, shell: c.shell, dir: c.dir}
	var secrets []string
	for _, name := range c.envRefs {
		secrets = append(secrets, os.Getenv(name))
	}
	defer func() {
		// A template error may quote what it rendered.
		if err != nil {
			err = errors.New(newRedactor(secrets).Replace(err.Error()))
		}
	}()
	switch c.kind {
	case "http":
		r.method = c.method
		r.success = c.success
		u, err := execute(c.url, data)
		if err != nil {
			return nil, fmt.Errorf("cannot render http.url: %w", err)
		}
		if err := checkURL(u); err != nil {
			return nil, fmt.Errorf("rendered http.url: %w", err)
		}
		r.url = u
		r.header = http.Header{}
		for _, h := range c.headers {
			v, err := execute(h.t, data)
			if err != nil {
				return nil, fmt.Errorf("cannot render header %s: %w", h.name, err)
			}
			if strings.ContainsAny(v, "\r\n") {
				return nil, fmt.Errorf("header %s renders to a value with a line break", h.name)
			}
			r.header.Set(h.name, v)
			if sensitiveName(h.name) {
				secrets = append(secrets, v)
			}
		}
		if c.body != nil {
			b, err := execute(c.body, data)
			if err != nil {
				return nil, fmt.Errorf("cannot render http.body: %w", err)
			}
			r.body = b
		}
	case "command":
		for i, t := range c.argv {
			a, err := execute(t, data)
			if err != nil {
				return nil, fmt.Errorf("cannot render command.argv[%d]: %w", i, err)
			}
			r.argv = append(r.argv, a)
		}
		if len(r.argv) == 0 || r.argv[0] == "" {
			return nil, fmt.Errorf("command.argv[0] renders to an empty program name")
		}
		if c.shell {
			r.argv = []string{"/bin/sh", "-c", r.argv[0]}
		}
		env := map[string]string{}
		for _, k := range []string{"PATH", "HOME"} {
			if v, ok := os.LookupEnv(k); ok {
				env[k] = v
			}
		}
		for _, e := range c.env {
			v, err := execute(e.t, data)
			if err != nil {
				return nil, fmt.Errorf("cannot render command.env.%s: %w", e.name, err)
			}
			env[e.name] = v
			r.names = append(r.names, e.name)
			if sensitiveName(e.name) {
				secrets = append(secrets, v)
			}
		}
		for _, k := range sortedKeys(env) {
			r.env = append(r.env, k+"="+env[k])
		}
	default:
		panic("BUG: step of unknown kind " + c.kind)
	}
	r.redact = newRedactor(secrets)
	return r, nil
}

// target is the audited form of r.
func (r *rendered) target() Target {
	t := Target{Method: r.method, Shell: r.shell, Dir: r.dir}
	if r.url != "" {
		t.URL = r.redact.Replace(redactURL(r.url))
	}
	for name := range r.header {
		t.HeaderNames = append(t.HeaderNames, name)
	}
	slices.Sort(t.HeaderNames)
	if r.body != "" {
		b := newCappedBuffer(outputLimit)
		b.Write([]byte(r.body))
		t.Body = r.redact.Replace(b.String())
	}
	for _, a := range r.argv {
		t.Argv = append(t.Argv, r.redact.Replace(a))
	}
	t.EnvNames = slices.Clone(r.names)
	return t
}

// redactURL hides a password in the URL's user information.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Redacted()
}

// sensitiveName reports whether a header or variable name suggests a
// credential, so its value is redacted from outputs that echo it (the
// value itself is never audited).
func sensitiveName(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"auth", "token", "secret", "key", "password", "passwd", "cookie", "credential", "session"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// newRedactor replaces each secret with "<redacted>", the longest first
// so that a secret containing another is hidden whole.
func newRedactor(secrets []string) *strings.Replacer {
	var keep []string
	for _, s := range secrets {
		if len(s) >= minSecretLen {
			keep = append(keep, s)
		}
		// A bearer header's token alone may be echoed too.
		if _, tok, ok := strings.Cut(s, " "); ok && len(tok) >= minSecretLen {
			keep = append(keep, tok)
		}
	}
	slices.SortFunc(keep, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	keep = slices.Compact(keep)
	pairs := make([]string, 0, 2*len(keep))
	for _, s := range keep {
		pairs = append(pairs, s, "<redacted>")
	}
	return strings.NewReplacer(pairs...)
}
