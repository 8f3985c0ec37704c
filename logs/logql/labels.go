package logql

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigilhq/vigil/storage/logs"
)

// Error label names and values, as Loki names them.
const (
	ErrorLabel        = "__error__"
	ErrorDetailsLabel = "__error_details__"

	errJSONParser       = "JSONParserErr"
	errLabelFilter      = "LabelFilterErr"
	errSampleExtraction = "SampleExtractionErr"
	errTemplateFormat   = "TemplateFormatErr"
)

// lineLabels is the label set of one line inside the pipeline: unsorted
// name/value pairs with unique names, reused from line to line.
type lineLabels struct {
	ls     []labels.Label
	stream []labels.Label // the stream labels, sorted by name
}

func (l *lineLabels) reset(stream []labels.Label) {
	l.ls = append(l.ls[:0], stream...)
	l.stream = stream
}

func (l *lineLabels) get(name string) (string, bool) {
	for i := range l.ls {
		if l.ls[i].Name == name {
			return l.ls[i].Value, true
		}
	}
	return "", false
}

func (l *lineLabels) set(name, value string) {
	for i := range l.ls {
		if l.ls[i].Name == name {
			l.ls[i].Value = value
			return
		}
	}
	l.ls = append(l.ls, labels.Label{Name: name, Value: value})
}

// setIfAbsent adds a label unless the name is taken (structured metadata
// never overrides stream labels).
func (l *lineLabels) setIfAbsent(name, value string) {
	if _, ok := l.get(name); !ok {
		l.ls = append(l.ls, labels.Label{Name: name, Value: value})
	}
}

func (l *lineLabels) del(name string) {
	for i := range l.ls {
		if l.ls[i].Name == name {
			l.ls = slices.Delete(l.ls, i, i+1)
			return
		}
	}
}

func (l *lineLabels) isStream(name string) bool {
	_, ok := slices.BinarySearchFunc(l.stream, name, func(a labels.Label, n string) int { return strings.Compare(a.Name, n) })
	return ok
}

// setParsed adds a label a parser stage extracted: a name that is a
// stream label gets the _extracted suffix, as in Loki; otherwise the
// parsed value replaces structured metadata or an earlier parser's.
func (l *lineLabels) setParsed(name, value string) {
	if l.isStream(name) {
		name += "_extracted"
	}
	l.set(name, value)
}

func (l *lineLabels) hasErr() bool {
	v, _ := l.get(ErrorLabel)
	return v != ""
}

// setErr records the first pipeline error of the line.
func (l *lineLabels) setErr(kind, details string) {
	if l.hasErr() {
		return
	}
	l.set(ErrorLabel, kind)
	if details != "" {
		l.set(ErrorDetailsLabel, details)
	}
}

// sorted returns the labels with non-empty values sorted by name in dst.
func (l *lineLabels) sorted(dst []labels.Label) []labels.Label {
	dst = dst[:0]
	for _, x := range l.ls {
		if x.Value != "" {
			dst = append(dst, x)
		}
	}
	slices.SortFunc(dst, func(a, b labels.Label) int { return strings.Compare(a.Name, b.Name) })
	return dst
}

// appendKey encodes sorted labels as a map key.
func appendKey(dst []byte, ls []labels.Label) []byte {
	for _, x := range ls {
		dst = append(dst, x.Name...)
		dst = append(dst, 0xff)
		dst = append(dst, x.Value...)
		dst = append(dst, 0xfe)
	}
	return dst
}

// toLabels copies sorted labels into a labels.Labels that owns its
// strings (values may alias a record's body).
func toLabels(ls []labels.Label) labels.Labels {
	b := labels.NewScratchBuilder(len(ls))
	for _, x := range ls {
		b.Add(strings.Clone(x.Name), strings.Clone(x.Value))
	}
	return b.Labels()
}

// parseStream reads a stream in its canonical text form, {a="1", b="2"}
// (names may be quoted), into labels sorted by name.
func parseStream(s string) ([]labels.Label, error) {
	t := strings.TrimSpace(s)
	if len(t) < 2 || t[0] != '{' || t[len(t)-1] != '}' {
		return nil, fmt.Errorf("cannot parse stream %q: not in {name=\"value\"} form", s)
	}
	t = strings.TrimSpace(t[1 : len(t)-1])
	var out []labels.Label
	for t != "" {
		var name string
		if t[0] == '"' {
			v, n, err := lexString(t)
			if err != nil {
				return nil, fmt.Errorf("cannot parse stream %q: %v", s, err)
			}
			name, t = v, t[n:]
		} else {
			i := strings.IndexByte(t, '=')
			if i <= 0 {
				return nil, fmt.Errorf("cannot parse stream %q: missing '='", s)
			}
			name, t = strings.TrimSpace(t[:i]), t[i:]
		}
		t = strings.TrimSpace(t)
		if t == "" || t[0] != '=' {
			return nil, fmt.Errorf("cannot parse stream %q: missing '=' after %s", s, name)
		}
		t = strings.TrimSpace(t[1:])
		if t == "" || t[0] != '"' {
			return nil, fmt.Errorf("cannot parse stream %q: value of %s is not quoted", s, name)
		}
		v, n, err := lexString(t)
		if err != nil {
			return nil, fmt.Errorf("cannot parse stream %q: %v", s, err)
		}
		out = append(out, labels.Label{Name: name, Value: v})
		t = strings.TrimSpace(t[n:])
		if t != "" {
			if t[0] != ',' {
				return nil, fmt.Errorf("cannot parse stream %q: missing ',' after %s", s, name)
			}
			t = strings.TrimSpace(t[1:])
		}
	}
	slices.SortFunc(out, func(a, b labels.Label) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// metadataNames caches sanitised attribute names.
type metadataNames map[string]string

func (m metadataNames) name(k string) string {
	if isLabelName(k) {
		return k
	}
	if v, ok := m[k]; ok {
		return v
	}
	v := sanitizeName(k)
	if len(m) < 10000 {
		m[k] = v
	}
	return v
}

// addMetadata adds a record's structured metadata after its stream
// labels: resource and record attributes (names sanitised), trace_id
// and span_id in lowercase hex, and detected_level.
func (l *lineLabels) addMetadata(rec *logs.Record, names metadataNames, hexBuf []byte) []byte {
	for k, v := range rec.Resource {
		l.setIfAbsent(names.name(k), v)
	}
	for k, v := range rec.Attributes {
		l.setIfAbsent(names.name(k), v)
	}
	if rec.HasTrace() {
		hexBuf = hex.AppendEncode(hexBuf[:0], rec.TraceID[:])
		l.setIfAbsent("trace_id", string(hexBuf))
	}
	if rec.SpanID != [8]byte{} {
		hexBuf = hex.AppendEncode(hexBuf[:0], rec.SpanID[:])
		l.setIfAbsent("span_id", string(hexBuf))
	}
	l.setIfAbsent("detected_level", logs.LevelOf(rec.SeverityNumber))
	return hexBuf
}

// parseLabelFloat reads a label value for a numeric filter or unwrap.
func parseLabelFloat(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, fmt.Errorf("cannot parse %q as a number", s)
	}
	return v, nil
}
