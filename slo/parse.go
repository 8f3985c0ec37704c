package slo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// ParseFile reads and validates one spec file; see Parse.
func ParseFile(path string) ([]SLO, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read SLO file: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes and validates a spec file's content; filename is only used
// in errors. Unknown fields are errors. It returns every problem found, each
// as "file:line: slos[i] (name): what is wrong", joined with errors.Join,
// and no SLOs unless there are no problems. Empty input holds no SLOs.
func Parse(data []byte, filename string) ([]SLO, error) {
	d := &decoder{file: filename}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, d.yamlError(err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, d.yamlError(err)
	default:
		return nil, fmt.Errorf("%s:%d: a spec file holds one YAML document; put every SLO in its slos list", filename, next.Line)
	}

	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = resolve(root.Content[0])
	}
	if isNull(root) {
		return nil, nil
	}
	top := d.mapping(root, "the file", "slos")
	var slos []SLO
	if kv, ok := top["slos"]; ok {
		slos = d.slos(kv.val)
	} else if top != nil {
		d.errorf(root, "the file has no slos list")
	}

	seen := map[string]int{}
	for _, s := range slos {
		for _, p := range s.problems() {
			if !s.src.bad[p.field] {
				d.add(s.line(p.field), s.errorf(p.field, "%s", p.msg))
			}
		}
		if s.Name == "" {
			continue
		}
		if line, dup := seen[s.Name]; dup {
			d.add(s.line("name"), s.errorf("name", "name %q is already used at line %d; SLO names must be unique", s.Name, line))
		} else {
			seen[s.Name] = s.line("name")
		}
	}
	if len(d.errs) > 0 {
		// In file order, however they were found.
		slices.SortStableFunc(d.errs, func(a, b lineError) int { return a.line - b.line })
		errs := make([]error, len(d.errs))
		for i, e := range d.errs {
			errs[i] = e.err
		}
		return nil, errors.Join(errs...)
	}
	return slos, nil
}

// LoadFiles parses every file the globs match and checks that SLO names are
// unique across them. A pattern without glob characters must name an
// existing file; a glob may match nothing.
func LoadFiles(globs []string) ([]SLO, error) {
	var files []string
	var errs []error
	for _, g := range globs {
		m, err := filepath.Glob(g)
		if err != nil {
			errs = append(errs, fmt.Errorf("cannot expand SLO file pattern %q: %w", g, err))
			continue
		}
		if m == nil && !hasMeta(g) {
			errs = append(errs, fmt.Errorf("cannot read SLO file %s: no such file", g))
		}
		files = append(files, m...)
	}
	slices.Sort(files)
	files = slices.Compact(files)

	var all []SLO
	byName := map[string]SLO{}
	for _, f := range files {
		slos, err := ParseFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, s := range slos {
			if prev, dup := byName[s.Name]; dup {
				errs = append(errs, s.errorf("name", "name %q is already used at %s:%d; SLO names must be unique across files", s.Name, prev.File, prev.line("name")))
				continue
			}
			byName[s.Name] = s
			all = append(all, s)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return all, nil
}

func hasMeta(path string) bool { return strings.ContainsAny(path, `*?[\`) }

// decoder walks the YAML node tree itself rather than unmarshalling into
// structs: that is how every error gets its line, how unknown and repeated
// keys are caught everywhere, and how one bad field does not hide the next.
type decoder struct {
	file string
	errs []lineError
}

type lineError struct {
	line int
	err  error
}

func (d *decoder) add(line int, err error) { d.errs = append(d.errs, lineError{line, err}) }

type keyValue struct{ key, val *yaml.Node }

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.add(n.Line, fmt.Errorf("%s:%d: %s", d.file, n.Line, fmt.Sprintf(format, args...)))
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns yaml.v3's "yaml: line 3: …" into "file:3: …".
func (d *decoder) yamlError(err error) error {
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("%s:%s: invalid YAML: %s", d.file, m[1], m[2])
	}
	return fmt.Errorf("%s: invalid YAML: %w", d.file, err)
}

// resolve follows aliases, so `labels: *common` works like the anchored
// node written out. yaml.v3 refuses an anchor that contains itself, so the
// walk ends.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// mapping returns the entries of a mapping node by key, reporting a node
// that is not a mapping, unknown keys and repeated keys. what names the
// node in errors.
func (d *decoder) mapping(n *yaml.Node, what string, known ...string) map[string]keyValue {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s must be a mapping with keys %s", what, strings.Join(known, ", "))
		return nil
	}
	out := make(map[string]keyValue, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, "%s: keys must be plain names", what)
			continue
		}
		switch _, dup := out[k.Value]; {
		case !slices.Contains(known, k.Value):
			d.errorf(k, "%s: unknown field %q (known: %s)", what, k.Value, strings.Join(known, ", "))
		case dup:
			d.errorf(k, "%s: %s is given twice", what, k.Value)
		default:
			out[k.Value] = keyValue{k, v}
		}
	}
	return out
}

func (d *decoder) slos(n *yaml.Node) []SLO {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "slos must be a list")
		return nil
	}
	out := make([]SLO, 0, len(n.Content))
	for i, item := range n.Content {
		out = append(out, d.slo(resolve(item), i))
	}
	return out
}

// sloDecoder decodes the fields of one SLO, recording where each was and
// which failed to decode.
type sloDecoder struct {
	*decoder
	s *SLO
}

func (d *decoder) slo(n *yaml.Node, index int) SLO {
	s := SLO{File: d.file, Line: n.Line, src: &source{index: index, pos: map[string]int{}, bad: map[string]bool{}}}
	sd := sloDecoder{d, &s}
	// The name goes into every error about this SLO, so it is read first.
	what := fmt.Sprintf("slos[%d]", index)
	if name := scalarValue(n, "name"); name != "" {
		what += " (" + name + ")"
	}
	f := d.mapping(n, what, "name", "service", "description", "objective", "window", "labels", "sli", "alerting")
	if f == nil {
		// Not a mapping: that one error says it all.
		for _, field := range []string{"name", "service", "objective", "sli"} {
			s.src.bad[field] = true
		}
		return s
	}
	s.Name = sd.str(f, "name")
	s.Service = sd.str(f, "service")
	s.Description = sd.str(f, "description")
	if kv, ok := sd.field(f, "objective"); ok {
		s.Objective = sd.number(kv, "objective")
	}
	if kv, ok := sd.field(f, "window"); ok {
		s.Window = sd.duration(kv, "window")
	}
	s.Labels = sd.labels(f, "labels")
	if kv, ok := sd.field(f, "sli"); ok {
		sd.sli(kv.val, what)
	}
	if kv, ok := sd.field(f, "alerting"); ok {
		sd.alerting(kv.val, what)
	}
	return s
}

// scalarValue is the text of key in mapping n, or "".
func scalarValue(n *yaml.Node, key string) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k.Kind == yaml.ScalarNode && k.Value == key && v.Kind == yaml.ScalarNode {
			return v.Value
		}
	}
	return ""
}

// field looks key up in f, recording its line under path key.
func (sd sloDecoder) field(f map[string]keyValue, path string) (keyValue, bool) {
	key := path[strings.LastIndexByte(path, '.')+1:]
	kv, ok := f[key]
	if ok {
		sd.s.src.pos[path] = kv.key.Line
		if isNull(kv.val) {
			return kv, false
		}
	}
	return kv, ok
}

func (sd sloDecoder) fail(path, format string, args ...any) {
	sd.s.src.bad[path] = true
	sd.add(sd.s.line(path), sd.s.errorf(path, format, args...))
}

// str decodes a scalar as text. A number or boolean is taken as written,
// so `service: 42` is the service "42".
func (sd sloDecoder) str(f map[string]keyValue, path string) string {
	kv, ok := sd.field(f, path)
	if !ok {
		return ""
	}
	if kv.val.Kind != yaml.ScalarNode {
		sd.fail(path, "%s must be a string", path)
		return ""
	}
	return kv.val.Value
}

func (sd sloDecoder) number(kv keyValue, path string) float64 {
	var v float64
	if kv.val.Kind != yaml.ScalarNode {
		sd.fail(path, "%s must be a number", path)
		return 0
	}
	if kv.val.Tag == "!!str" || kv.val.Decode(&v) != nil {
		hint := ""
		if strings.HasSuffix(strings.TrimSpace(kv.val.Value), "%") {
			hint = " (write 99.9 for 99.9%)"
		}
		sd.fail(path, "%s %s is not a number%s", path, strconv.Quote(kv.val.Value), hint)
		return 0
	}
	return v
}

func (sd sloDecoder) duration(kv keyValue, path string) model.Duration {
	if kv.val.Kind == yaml.ScalarNode {
		if d, err := model.ParseDuration(kv.val.Value); err == nil {
			return d
		}
	}
	sd.fail(path, "%s %q is not a duration such as 30d or 4w", path, kv.val.Value)
	// A failed window is left at the default so that the rest still validates.
	return 0
}

func (sd sloDecoder) labels(f map[string]keyValue, path string) map[string]string {
	kv, ok := sd.field(f, path)
	if !ok {
		return nil
	}
	if kv.val.Kind != yaml.MappingNode {
		sd.fail(path, "%s must be a mapping of names to values", path)
		return nil
	}
	out := make(map[string]string, len(kv.val.Content)/2)
	for i := 0; i+1 < len(kv.val.Content); i += 2 {
		k, v := resolve(kv.val.Content[i]), resolve(kv.val.Content[i+1])
		sd.s.src.pos[path+"."+k.Value] = k.Line
		switch _, dup := out[k.Value]; {
		case k.Kind != yaml.ScalarNode || v.Kind != yaml.ScalarNode:
			sd.fail(path+"."+k.Value, "%s: %s must map a name to a plain value", path, k.Value)
		case dup:
			sd.fail(path+"."+k.Value, "%s: %s is given twice", path, k.Value)
		default:
			out[k.Value] = v.Value
		}
	}
	return out
}

func (sd sloDecoder) sli(n *yaml.Node, what string) {
	f := sd.mapping(n, what+": sli", "events", "latency")
	if f == nil {
		sd.s.src.bad["sli"] = true
		return
	}
	if kv, ok := sd.field(f, "sli.events"); ok {
		e := &EventsSLI{}
		sd.s.SLI.Events = e
		if ef := sd.mapping(kv.val, what+": sli.events", "good", "bad", "total"); ef != nil {
			e.Good = sd.str(ef, "sli.events.good")
			e.Bad = sd.str(ef, "sli.events.bad")
			e.Total = sd.str(ef, "sli.events.total")
		} else {
			sd.s.src.bad["sli.events"] = true
			sd.s.src.bad["sli.events.total"] = true
		}
	}
	if kv, ok := sd.field(f, "sli.latency"); ok {
		l := &LatencySLI{}
		sd.s.SLI.Latency = l
		if lf := sd.mapping(kv.val, what+": sli.latency", "metric", "selector", "threshold"); lf != nil {
			l.Metric = sd.str(lf, "sli.latency.metric")
			l.Selector = sd.str(lf, "sli.latency.selector")
			if tkv, ok := sd.field(lf, "sli.latency.threshold"); ok {
				l.Threshold = sd.number(tkv, "sli.latency.threshold")
			}
		} else {
			sd.s.src.bad["sli.latency.metric"] = true
			sd.s.src.bad["sli.latency.threshold"] = true
		}
	}
}

func (sd sloDecoder) alerting(n *yaml.Node, what string) {
	f := sd.mapping(n, what+": alerting", "page", "ticket", "disabled")
	if f == nil {
		return
	}
	for _, sev := range []struct {
		name string
		spec *AlertSpec
	}{{"page", &sd.s.Alerting.Page}, {"ticket", &sd.s.Alerting.Ticket}} {
		path := "alerting." + sev.name
		kv, ok := sd.field(f, path)
		if !ok {
			continue
		}
		af := sd.mapping(kv.val, what+": "+path, "labels", "annotations")
		if af == nil {
			continue
		}
		sev.spec.Labels = sd.labels(af, path+".labels")
		sev.spec.Annotations = sd.labels(af, path+".annotations")
	}
	if kv, ok := sd.field(f, "alerting.disabled"); ok {
		var b bool
		if kv.val.Kind != yaml.ScalarNode || kv.val.Tag != "!!bool" || kv.val.Decode(&b) != nil {
			sd.fail("alerting.disabled", "alerting.disabled %q must be true or false", kv.val.Value)
		}
		sd.s.Alerting.Disabled = b
	}
}
