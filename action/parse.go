package action

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// ParseError is one problem in an action file, at its place.
type ParseError struct {
	File   string
	Line   int // 0 when unknown
	Column int
	Msg    string
}

func (e *ParseError) Error() string {
	switch {
	case e.Line == 0:
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	case e.Column == 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// LoadFiles parses the action files that the patterns (paths or globs)
// name. A pattern that matches no file is an error, so a typo does not
// silently load no actions. Every problem of every file is returned,
// joined; each is a *ParseError or names its file.
func LoadFiles(patterns []string) ([]Action, error) {
	var errs []error
	var all []Action
	where := map[string]string{}
	for _, pat := range patterns {
		files, err := filepath.Glob(pat)
		if err != nil {
			errs = append(errs, fmt.Errorf("action files %q: %w", pat, err))
			continue
		}
		if len(files) == 0 {
			errs = append(errs, fmt.Errorf("action files %q: no such file", pat))
			continue
		}
		for _, f := range files {
			actions, err := ParseFile(f)
			if err != nil {
				errs = append(errs, err)
			}
			for _, a := range actions {
				if prev, ok := where[a.Name]; ok {
					errs = append(errs, fmt.Errorf("%s: action %q: name already used by the action at %s", a.Source, a.Name, prev))
					continue
				}
				where[a.Name] = a.Source
				all = append(all, a)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return all, nil
}

// ParseFile parses one action file.
func ParseFile(path string) ([]Action, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read action file: %w", err)
	}
	return Parse(path, data)
}

// yamlLine finds the line in a yaml.v3 syntax error.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// Parse parses an action file's contents; file names it in errors. It
// returns every problem found (joined *ParseErrors), or the validated
// actions. An empty file has no actions.
func Parse(file string, data []byte) ([]Action, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := err.Error()
		line := 0
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = strings.TrimPrefix(msg, m[0])
		}
		return nil, &ParseError{File: file, Line: line, Msg: "invalid YAML: " + msg}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil
	}
	p := &parser{file: file}
	root := deref(doc.Content[0])
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, nil
	}
	top := p.fields(root, "", "the file", "actions")
	var actions []Action
	names := map[string]int{}
	if list := top["actions"]; list != nil {
		list = deref(list)
		if list.Kind != yaml.SequenceNode {
			if !isNull(list) {
				p.errorf(list, "actions must be a list of actions")
			}
		} else {
			for _, n := range list.Content {
				a, ok := p.action(deref(n))
				if !ok {
					continue
				}
				if line, dup := names[a.Name]; dup {
					p.errorf(n, "action %q: name already used by the action at line %d", a.Name, line)
					continue
				}
				names[a.Name] = n.Line
				actions = append(actions, a)
			}
		}
	}
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return actions, nil
}

// parser walks an action file's nodes, collecting every problem.
type parser struct {
	file string
	errs []error

	// Of the action being parsed: its name (for messages), the value node
	// of each field path, and the paths whose values were already refused.
	name string
	pos  map[string]*yaml.Node
	bad  map[string]bool
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if p.name != "" {
		msg = fmt.Sprintf("action %q: %s", p.name, msg)
	}
	p.errs = append(p.errs, &ParseError{File: p.file, Line: n.Line, Column: n.Column, Msg: msg})
}

// fail reports a problem with the value at path.
func (p *parser) fail(path string, n *yaml.Node, format string, args ...any) {
	if p.bad != nil {
		p.bad[path] = true
	}
	if path != "" {
		format = path + ": " + format
	}
	p.errorf(n, format, args...)
}

// deref follows aliases (bounded, in case of a cycle).
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; i < 16 && n != nil && n.Kind == yaml.AliasNode && n.Alias != nil; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// fields returns the values of mapping n by key, reporting unknown and
// repeated keys. path prefixes the keys in p.pos ("http." and so on);
// what names the mapping in messages.
func (p *parser) fields(n *yaml.Node, path, what string, known ...string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		if p.bad != nil {
			p.bad[strings.TrimSuffix(path, ".")] = true
		}
		p.errorf(n, "%s must be a mapping", what)
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		key := k.Value
		switch {
		case k.Kind != yaml.ScalarNode:
			p.errorf(k, "%s: keys must be strings", what)
		case !slices.Contains(known, key):
			p.errorf(k, "unknown field %q in %s (known: %s)", key, what, strings.Join(known, ", "))
		case out[key] != nil:
			p.errorf(k, "field %q repeated in %s", key, what)
		default:
			out[key] = v
			if p.pos != nil {
				p.pos[path+key] = deref(v)
			}
		}
	}
	return out
}

var actionFields = []string{"name", "match", "dry_run", "cooldown", "rate_limit", "max_concurrency",
	"timeout", "retries", "retry_backoff", "http", "command", "resolve"}

// action parses one action and validates it. ok is false if anything
// was wrong (and reported).
func (p *parser) action(n *yaml.Node) (Action, bool) {
	p.name, p.pos, p.bad = "", map[string]*yaml.Node{}, map[string]bool{}
	defer func() { p.name, p.pos, p.bad = "", nil, nil }()
	before := len(p.errs)
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "name" {
				if v := deref(n.Content[i+1]); v.Kind == yaml.ScalarNode {
					p.name = v.Value
				}
			}
		}
	}
	f := p.fields(n, "", "an action", actionFields...)
	a := Action{Source: fmt.Sprintf("%s:%d", p.file, n.Line), Cooldown: DefaultCooldown}
	if v := f["name"]; v != nil {
		a.Name = p.str("name", v)
	}
	if v := f["match"]; v != nil {
		for i, s := range p.strList("match", v) {
			m, err := labels.ParseMatcher(s)
			if err != nil {
				p.bad["match"] = true // not also "at least one matcher is required"
				p.fail(fmt.Sprintf("match[%d]", i), p.pos[fmt.Sprintf("match[%d]", i)], "bad matcher %q: %v", s, err)
				continue
			}
			a.Match = append(a.Match, m)
		}
	}
	if v := f["dry_run"]; v != nil {
		a.DryRun = p.bool("dry_run", v)
	}
	if v := f["cooldown"]; v != nil {
		a.Cooldown = p.duration("cooldown", v, true)
	}
	if v := f["rate_limit"]; v != nil {
		rf := p.fields(v, "rate_limit.", "rate_limit", "count", "per")
		if c := rf["count"]; c != nil {
			a.RateLimit.Count = p.int("rate_limit.count", c)
		}
		if per := rf["per"]; per != nil {
			a.RateLimit.Per = p.duration("rate_limit.per", per, false)
		}
		if a.RateLimit == (RateLimit{}) && len(rf) == 0 && !p.bad["rate_limit"] {
			p.fail("rate_limit", deref(v), "set count and per, or leave rate_limit out")
		}
	}
	if v := f["max_concurrency"]; v != nil {
		if a.MaxConcurrency = p.int("max_concurrency", v); a.MaxConcurrency == 0 && !p.bad["max_concurrency"] {
			p.fail("max_concurrency", deref(v), "must be at least 1")
		}
	}
	if v := f["timeout"]; v != nil {
		a.Timeout = p.duration("timeout", v, false)
	}
	if v := f["retries"]; v != nil {
		a.Retries = p.int("retries", v)
	}
	if v := f["retry_backoff"]; v != nil {
		a.RetryBackoff = p.duration("retry_backoff", v, false)
	}
	a.Fire.HTTP = p.httpStep("http.", f["http"])
	a.Fire.Command = p.commandStep("command.", f["command"])
	if v := f["resolve"]; v != nil {
		rf := p.fields(v, "resolve.", "resolve", "http", "command")
		a.Resolve = &Step{HTTP: p.httpStep("resolve.http.", rf["http"]), Command: p.commandStep("resolve.command.", rf["command"])}
	}
	_, cerrs := compile(a)
	for _, e := range cerrs {
		var fe *fieldError
		if !errors.As(e, &fe) {
			p.errorf(n, "%v", e)
			continue
		}
		field := strings.TrimSuffix(fe.field, ".")
		if p.refused(field) {
			continue // already reported where the value was read
		}
		node := n
		if pn := p.nodeFor(field); pn != nil {
			node = pn
		}
		msg := fe.msg
		if field != "" {
			msg = field + ": " + msg
		}
		p.errorf(node, "%s", msg)
	}
	return a, len(p.errs) == before
}

// refused reports whether field, or a field containing it, had a value
// that was refused while reading.
func (p *parser) refused(field string) bool {
	for f := field; f != ""; f = parentField(f) {
		if p.bad[f] {
			return true
		}
	}
	return false
}

// nodeFor is the value node of field or of the nearest field containing
// it.
func (p *parser) nodeFor(field string) *yaml.Node {
	for f := field; f != ""; f = parentField(f) {
		if n := p.pos[f]; n != nil {
			return n
		}
	}
	return nil
}

// parentField strips the last ".x" or "[i]" of a field path.
func parentField(f string) string {
	if strings.HasSuffix(f, "]") {
		if i := strings.LastIndexByte(f, '['); i >= 0 {
			return f[:i]
		}
	}
	if i := strings.LastIndexByte(f, '.'); i >= 0 {
		return f[:i]
	}
	return ""
}

func (p *parser) httpStep(path string, n *yaml.Node) *HTTPStep {
	if n == nil {
		return nil
	}
	f := p.fields(n, path, strings.TrimSuffix(path, "."), "method", "url", "headers", "body", "success_status")
	h := &HTTPStep{}
	if v := f["method"]; v != nil {
		h.Method = p.str(path+"method", v)
	}
	if v := f["url"]; v != nil {
		h.URL = p.str(path+"url", v)
	}
	if v := f["headers"]; v != nil {
		h.Headers = p.strMap(path+"headers", v)
	}
	if v := f["body"]; v != nil {
		h.Body = p.str(path+"body", v)
	}
	if v := f["success_status"]; v != nil {
		v = deref(v)
		if v.Kind != yaml.SequenceNode {
			p.fail(path+"success_status", v, "must be a list of status codes")
		} else {
			for i, c := range v.Content {
				field := fmt.Sprintf("%ssuccess_status[%d]", path, i)
				p.pos[field] = deref(c)
				h.SuccessStatus = append(h.SuccessStatus, p.int(field, c))
			}
		}
	}
	return h
}

func (p *parser) commandStep(path string, n *yaml.Node) *CommandStep {
	if n == nil {
		return nil
	}
	f := p.fields(n, path, strings.TrimSuffix(path, "."), "argv", "shell", "env", "dir")
	c := &CommandStep{}
	if v := f["argv"]; v != nil {
		c.Argv = p.strList(path+"argv", v)
	}
	if v := f["shell"]; v != nil {
		c.Shell = p.bool(path+"shell", v)
	}
	if v := f["env"]; v != nil {
		c.Env = p.strMap(path+"env", v)
	}
	if v := f["dir"]; v != nil {
		c.Dir = p.str(path+"dir", v)
	}
	return c
}

// str reads a scalar as text: `argv: [sleep, 30]` means "30". Null is "".
func (p *parser) str(path string, n *yaml.Node) string {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		p.fail(path, n, "must be a string")
		return ""
	}
	if n.Tag == "!!null" {
		return ""
	}
	return n.Value
}

func (p *parser) bool(path string, n *yaml.Node) bool {
	n = deref(n)
	var b bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
		p.fail(path, n, "must be true or false, not %q", n.Value)
	}
	return b
}

func (p *parser) int(path string, n *yaml.Node) int {
	n = deref(n)
	var i int
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&i) != nil {
		p.fail(path, n, "must be an integer, not %q", n.Value)
		return 0
	}
	if i < 0 {
		p.fail(path, n, "must not be negative")
		return 0
	}
	return i
}

// duration reads "5m", "1h30m", "2d" (Prometheus) or "1.5s" (Go).
func (p *parser) duration(path string, n *yaml.Node, zeroOK bool) time.Duration {
	n = deref(n)
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.fail(path, n, "must be a duration like 30s or 5m")
		return 0
	}
	var d time.Duration
	if md, err := model.ParseDuration(n.Value); err == nil {
		d = time.Duration(md)
	} else if gd, err := time.ParseDuration(n.Value); err == nil {
		d = gd
	} else {
		p.fail(path, n, "%q is not a duration like 30s or 5m", n.Value)
		return 0
	}
	switch {
	case d < 0:
		p.fail(path, n, "must not be negative, not %s", n.Value)
		return 0
	case d == 0 && !zeroOK:
		p.fail(path, n, "must be positive")
		return 0
	}
	return d
}

func (p *parser) strList(path string, n *yaml.Node) []string {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		p.fail(path, n, "must be a list of strings")
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for i, c := range n.Content {
		field := fmt.Sprintf("%s[%d]", path, i)
		p.pos[field] = deref(c)
		out = append(out, p.str(field, c))
	}
	return out
}

func (p *parser) strMap(path string, n *yaml.Node) map[string]string {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		p.fail(path, n, "must be a mapping of names to strings")
		return nil
	}
	out := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := deref(n.Content[i])
		field := path + "." + k.Value
		if _, dup := out[k.Value]; dup {
			p.fail(field, k, "repeated")
			continue
		}
		p.pos[field] = deref(n.Content[i+1])
		out[k.Value] = p.str(field, n.Content[i+1])
	}
	return out
}
