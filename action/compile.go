package action

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/template"
)

// spec is a validated action with its templates parsed. It is immutable:
// a reload builds new specs, and queued runs keep the one they were
// queued with.
type spec struct {
	Action
	fire    *compiledStep
	resolve *compiledStep
}

// compiledStep is a Step with its templates parsed.
type compiledStep struct {
	kind string // "http" or "command"

	method  string
	url     *template.Template
	headers []namedTemplate // sorted by name
	body    *template.Template
	success []int

	argv  []*template.Template
	shell bool
	env   []namedTemplate // sorted by name
	dir   string

	// envRefs are the server variables the templates read with env; their
	// values are redacted from audit records.
	envRefs []string
}

type namedTemplate struct {
	name string
	t    *template.Template
}

// fieldError is a problem with one field of an action; the parser turns
// the field into a file position.
type fieldError struct {
	field string // like "http.url" or "command.argv[1]"; "" for the action
	msg   string
}

func (e *fieldError) Error() string {
	if e.field == "" {
		return e.msg
	}
	return e.field + ": " + e.msg
}

// compile validates a (applying defaults) and parses its templates. The
// errors are *fieldError.
func compile(a Action) (*spec, []error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &fieldError{field: field, msg: fmt.Sprintf(format, args...)})
	}
	if !validName(a.Name) {
		bad("name", "%q is not a valid action name: use letters, digits, '_' and '-'", a.Name)
	}
	if len(a.Match) == 0 {
		bad("match", "at least one matcher is required (an action must not run for every alert)")
	}
	for i, m := range a.Match {
		if m == nil {
			bad(fmt.Sprintf("match[%d]", i), "empty matcher")
		}
	}
	if a.Cooldown < 0 {
		bad("cooldown", "must not be negative")
	}
	if a.RateLimit != (RateLimit{}) {
		if a.RateLimit.Count < 1 || a.RateLimit.Count > MaxRateLimitCount {
			bad("rate_limit.count", "must be between 1 and %d, not %d", MaxRateLimitCount, a.RateLimit.Count)
		}
		if a.RateLimit.Per <= 0 {
			bad("rate_limit.per", "must be a positive duration")
		}
	}
	if a.MaxConcurrency == 0 {
		a.MaxConcurrency = DefaultMaxConcurrency
	}
	if a.MaxConcurrency < 1 || a.MaxConcurrency > MaxConcurrency {
		bad("max_concurrency", "must be between 1 and %d, not %d", MaxConcurrency, a.MaxConcurrency)
	}
	if a.Timeout == 0 {
		a.Timeout = DefaultTimeout
	}
	if a.Timeout < 0 || a.Timeout > MaxTimeout {
		bad("timeout", "must be positive and at most %s, not %s", MaxTimeout, a.Timeout)
	}
	if a.Retries < 0 || a.Retries > MaxRetries {
		bad("retries", "must be between 0 and %d, not %d", MaxRetries, a.Retries)
	}
	if a.RetryBackoff == 0 {
		a.RetryBackoff = DefaultRetryBackoff
	}
	if a.RetryBackoff < 0 || a.RetryBackoff > MaxRetryBackoff {
		bad("retry_backoff", "must be positive and at most %s, not %s", MaxRetryBackoff, a.RetryBackoff)
	}
	s := &spec{Action: a}
	var stepErrs []error
	s.fire, stepErrs = compileStep("", a.Fire)
	errs = append(errs, stepErrs...)
	if a.Resolve != nil {
		s.resolve, stepErrs = compileStep("resolve.", *a.Resolve)
		errs = append(errs, stepErrs...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

// compileAll compiles actions whose names must be unique. The error
// names each action and its source.
func compileAll(actions []Action) ([]*spec, error) {
	var errs []error
	specs := make([]*spec, 0, len(actions))
	seen := map[string]string{}
	for _, a := range actions {
		where := fmt.Sprintf("action %q", a.Name)
		if a.Source != "" {
			where = a.Source + ": " + where
		}
		if prev, ok := seen[a.Name]; ok {
			errs = append(errs, fmt.Errorf("%s: name already used by the action at %s", where, prev))
		}
		seen[a.Name] = a.Source
		s, cerrs := compile(a)
		for _, e := range cerrs {
			errs = append(errs, fmt.Errorf("%s: %w", where, e))
		}
		if s != nil {
			specs = append(specs, s)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return specs, nil
}

func compileStep(prefix string, st Step) (*compiledStep, []error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &fieldError{field: prefix + field, msg: fmt.Sprintf(format, args...)})
	}
	tmpl := func(field, text string) *template.Template {
		t, _, err := compileTemplate(prefix+field, text)
		if err != nil {
			bad(field, "bad template: %v", err)
		}
		return t
	}
	c := &compiledStep{kind: st.Kind()}
	switch {
	case st.HTTP != nil && st.Command != nil:
		bad("", "set exactly one of http and command, not both")
		return nil, errs
	case st.HTTP == nil && st.Command == nil:
		if prefix == "" {
			bad("", "set one of http and command")
		} else {
			bad("", "set one of http and command (or leave resolve out)")
		}
		return nil, errs
	case st.HTTP != nil:
		h := st.HTTP
		c.method = strings.ToUpper(h.Method)
		if c.method == "" {
			c.method = http.MethodPost
		}
		if !slices.Contains([]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}, c.method) {
			bad("http.method", "%q is not an HTTP method", h.Method)
		}
		if h.URL == "" {
			bad("http.url", "required")
		} else if c.url = tmpl("http.url", h.URL); c.url != nil && !strings.Contains(h.URL, "{{") {
			// A URL without template actions can be checked now rather
			// than when the alert fires.
			if err := checkURL(h.URL); err != nil {
				bad("http.url", "%v", err)
			}
		}
		for _, name := range sortedKeys(h.Headers) {
			if !validHeaderName(name) {
				bad("http.headers."+name, "%q is not a valid header name", name)
				continue
			}
			if t := tmpl("http.headers."+name, h.Headers[name]); t != nil {
				c.headers = append(c.headers, namedTemplate{name, t})
			}
		}
		if h.Body != "" {
			c.body = tmpl("http.body", h.Body)
		}
		for i, code := range h.SuccessStatus {
			if code < 100 || code > 599 {
				bad(fmt.Sprintf("http.success_status[%d]", i), "%d is not an HTTP status code", code)
			}
		}
		c.success = slices.Clone(h.SuccessStatus)
	default:
		cmd := st.Command
		c.shell = cmd.Shell
		c.dir = cmd.Dir
		switch {
		case len(cmd.Argv) == 0:
			bad("command.argv", "required: the program and its arguments")
		case cmd.Shell && len(cmd.Argv) != 1:
			bad("command.argv", "with shell: true, argv must be one string (the script for /bin/sh -c), not %d", len(cmd.Argv))
		case cmd.Argv[0] == "":
			bad("command.argv[0]", "the program must not be empty")
		}
		for i, arg := range cmd.Argv {
			if t := tmpl(fmt.Sprintf("command.argv[%d]", i), arg); t != nil {
				c.argv = append(c.argv, t)
			}
		}
		for _, name := range sortedKeys(cmd.Env) {
			if !validEnvName(name) {
				bad("command.env."+name, "%q is not a valid environment variable name", name)
				continue
			}
			if t := tmpl("command.env."+name, cmd.Env[name]); t != nil {
				c.env = append(c.env, namedTemplate{name, t})
			}
		}
		if cmd.Dir != "" && !filepath.IsAbs(cmd.Dir) {
			bad("command.dir", "%q must be an absolute path", cmd.Dir)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	c.envRefs = c.collectEnvRefs()
	return c, nil
}

func (c *compiledStep) collectEnvRefs() []string {
	var all []*template.Template
	all = append(all, c.url, c.body)
	all = append(all, c.argv...)
	for _, h := range c.headers {
		all = append(all, h.t)
	}
	for _, e := range c.env {
		all = append(all, e.t)
	}
	var refs []string
	for _, t := range all {
		if t == nil {
			continue
		}
		r, _ := envRefs(t) // checked when compiled
		refs = append(refs, r...)
	}
	slices.Sort(refs)
	return slices.Compact(refs)
}

// checkURL accepts absolute http and https URLs.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("bad URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("URL %q must start with http:// or https://", u.Redacted())
	}
	if u.Host == "" {
		return fmt.Errorf("URL %q has no host", u.Redacted())
	}
	return nil
}

// validHeaderName accepts RFC 9110 tokens.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
