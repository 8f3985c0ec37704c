package logql

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigilhq/vigil/storage/logs"
)

// pipeline runs a log pipeline over records. It holds per-line scratch
// state and caches, so it is used by one goroutine at a time.
type pipeline struct {
	matchers []*labels.Matcher
	// early are the line filters that come before any stage changing the
	// line: they run on the body before labels are built.
	early []*LineFilter
	rest  []stageRT

	streams  map[string]*streamInfo
	names    metadataNames
	lbls     lineLabels
	line     string
	hexBuf   []byte
	json     jsonScanner
	nameBuf  map[string]string // interned parsed label names
	tmplData map[string]string
	tmplCur  tmplLine
	tmplBuf  bytes.Buffer
}

type streamInfo struct {
	ok     bool
	labels []labels.Label
}

// stageRT is a stage as the pipeline runs it.
type stageRT interface {
	process(p *pipeline, rec *logs.Record) bool
}

// maxStreamCache bounds the per-query stream cache; past it streams are
// parsed again for every line.
const maxStreamCache = 100000

func newPipeline(e *LogExpr) *pipeline {
	p := &pipeline{
		matchers: e.Matchers,
		streams:  make(map[string]*streamInfo),
		names:    make(metadataNames),
		nameBuf:  make(map[string]string),
		tmplData: make(map[string]string),
	}
	lineChanged := false
	for _, s := range e.Stages {
		switch x := s.(type) {
		case *LineFilter:
			if !lineChanged {
				p.early = append(p.early, x)
				continue
			}
			p.rest = append(p.rest, lineFilterRT{x})
		case *JSONStage:
			p.rest = append(p.rest, jsonRT{x})
		case *LogfmtStage:
			p.rest = append(p.rest, logfmtRT{x})
		case *RegexpStage:
			p.rest = append(p.rest, regexpRT{x})
		case *PatternStage:
			p.rest = append(p.rest, patternRT{x})
		case *LabelFilterStage:
			p.rest = append(p.rest, labelFilterRT{x.Filter})
		case *LineFormatStage:
			lineChanged = true
			p.rest = append(p.rest, &lineFormatRT{t: newTemplate(x.Template, &p.tmplCur)})
		case *LabelFormatStage:
			rt := &labelFormatRT{items: x.Items, tmpls: make([]*template.Template, len(x.Items))}
			for i, it := range x.Items {
				if it.Template {
					rt.tmpls[i] = newTemplate(it.Src, &p.tmplCur)
				}
			}
			p.rest = append(p.rest, rt)
		case *DropStage:
			p.rest = append(p.rest, dropRT{x})
		case *DecolorizeStage:
			lineChanged = true
			p.rest = append(p.rest, decolorizeRT{})
		default:
			panic(fmt.Sprintf("BUG: unknown stage %T", s))
		}
	}
	return p
}

// stream returns the parsed stream of rec and whether it matches the
// selector, cached per distinct stream string.
func (p *pipeline) stream(s string) *streamInfo {
	if si, ok := p.streams[s]; ok {
		return si
	}
	ls, err := parseStream(s)
	si := &streamInfo{ok: err == nil, labels: ls}
	if si.ok {
		for _, m := range p.matchers {
			v := ""
			for _, l := range ls {
				if l.Name == m.Name {
					v = l.Value
					break
				}
			}
			if !m.Matches(v) {
				si.ok = false
				break
			}
		}
	}
	if len(p.streams) < maxStreamCache {
		p.streams[strings.Clone(s)] = si
	}
	return si
}

// process runs rec through the pipeline. On success the line is in
// p.line and its labels in p.lbls, both valid until the next call and
// possibly aliasing rec.
func (p *pipeline) process(rec *logs.Record) bool {
	si := p.stream(rec.Stream)
	if !si.ok {
		return false
	}
	for _, f := range p.early {
		if !f.matches(rec.Body) {
			return false
		}
	}
	p.line = rec.Body
	p.lbls.reset(si.labels)
	p.hexBuf = p.lbls.addMetadata(rec, p.names, p.hexBuf)
	for _, s := range p.rest {
		if !s.process(p, rec) {
			return false
		}
	}
	return true
}

func (p *pipeline) intern(b []byte) string {
	if s, ok := p.nameBuf[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(p.nameBuf) < 10000 {
		p.nameBuf[s] = s
	}
	return s
}

func (f *LineFilter) matches(line string) bool {
	switch f.Op {
	case "|=":
		for _, v := range f.Values {
			if strings.Contains(line, v) {
				return true
			}
		}
		return false
	case "!=":
		for _, v := range f.Values {
			if strings.Contains(line, v) {
				return false
			}
		}
		return true
	case "|~":
		for _, re := range f.res {
			if re.MatchString(line) {
				return true
			}
		}
		return false
	default: // !~
		for _, re := range f.res {
			if re.MatchString(line) {
				return false
			}
		}
		return true
	}
}

type lineFilterRT struct{ f *LineFilter }

func (s lineFilterRT) process(p *pipeline, _ *logs.Record) bool { return s.f.matches(p.line) }

type jsonRT struct{ s *JSONStage }

func (s jsonRT) process(p *pipeline, rec *logs.Record) bool {
	isJSON := looksLikeJSONObject(p.line)
	if !isJSON && len(rec.Attributes) > 0 {
		// The JSON fields were parsed at ingest: they are labels
		// already. Expressions read the flattened attributes.
		for _, f := range s.s.Fields {
			if v, ok := rec.Attributes[pathKey(f.path)]; ok {
				p.lbls.setParsed(f.Label, v)
			}
		}
		return true
	}
	if len(s.s.Fields) > 0 {
		for _, f := range s.s.Fields {
			v, found, err := jsonLookup(&p.json, p.line, f.path)
			if err != nil {
				p.lbls.setErr(errJSONParser, "cannot parse line as JSON")
				return true
			}
			if found {
				p.lbls.setParsed(f.Label, v)
			}
		}
		return true
	}
	// Collect first so a line that turns out invalid adds nothing.
	n := len(p.lbls.ls)
	var pending [32]labels.Label
	extra := pending[:0]
	err := jsonFields(&p.json, p.line, func(key []byte, value string) {
		extra = append(extra, labels.Label{Name: p.intern(key), Value: value})
	})
	if err != nil {
		p.lbls.ls = p.lbls.ls[:n]
		p.lbls.setErr(errJSONParser, "cannot parse line as JSON")
		return true
	}
	for _, x := range extra {
		p.lbls.setParsed(x.Name, x.Value)
	}
	return true
}

// pathKey is the attribute key ingest gives the field at path: keys
// joined with dots ("" when the path has an array index).
func pathKey(path []pathElem) string {
	if len(path) == 1 && path[0].index < 0 {
		return path[0].key
	}
	var b strings.Builder
	for i, e := range path {
		if e.index >= 0 {
			return ""
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(e.key)
	}
	return b.String()
}

func looksLikeJSONObject(s string) bool {
	s = strings.TrimLeft(s, " \t\r\n")
	return len(s) > 0 && s[0] == '{'
}

type logfmtRT struct{ s *LogfmtStage }

func (s logfmtRT) process(p *pipeline, _ *logs.Record) bool {
	logfmtPairs(p.line, func(key, value string) {
		if len(s.s.Fields) == 0 {
			p.lbls.setParsed(p.names.name(key), value)
			return
		}
		for _, f := range s.s.Fields {
			if f.Expr == key {
				p.lbls.setParsed(f.Label, value)
			}
		}
	})
	return true
}

type regexpRT struct{ s *RegexpStage }

func (s regexpRT) process(p *pipeline, _ *logs.Record) bool {
	m := s.s.re.FindStringSubmatchIndex(p.line)
	if m == nil {
		return true
	}
	for i, name := range s.s.re.SubexpNames() {
		if name == "" || m[2*i] < 0 {
			continue
		}
		p.lbls.setParsed(name, p.line[m[2*i]:m[2*i+1]])
	}
	return true
}

type patternRT struct{ s *PatternStage }

func (s patternRT) process(p *pipeline, _ *logs.Record) bool {
	s.s.pat.match(p.line, p.lbls.setParsed)
	return true
}

type labelFilterRT struct{ f LabelFilter }

func (s labelFilterRT) process(p *pipeline, _ *logs.Record) bool {
	return evalFilter(s.f, &p.lbls)
}

// evalFilter applies a label filter. A value that does not convert for a
// numeric, duration or bytes comparison sets __error__=LabelFilterErr
// and keeps the line, as Loki does; lines that already carry an error
// pass numeric comparisons untouched, so only | __error__... drops them.
func evalFilter(f LabelFilter, l *lineLabels) bool {
	switch x := f.(type) {
	case *StringFilter:
		v, _ := l.get(x.Matcher.Name)
		return x.Matcher.Matches(v)
	case *NumberFilter:
		if l.hasErr() {
			return true
		}
		s, ok := l.get(x.Name)
		if !ok {
			return false
		}
		var v float64
		var err error
		switch x.Kind {
		case KindNumber:
			v, err = parseLabelFloat(s)
		case KindDuration:
			v, err = durationSeconds(s)
		case KindBytes:
			v, err = parseBytes(s)
		}
		if err != nil {
			l.setErr(errLabelFilter, err.Error())
			return true
		}
		return compare(x.Op, v, x.Value)
	case *BinaryFilter:
		if x.And {
			return evalFilter(x.L, l) && evalFilter(x.R, l)
		}
		return evalFilter(x.L, l) || evalFilter(x.R, l)
	}
	panic(fmt.Sprintf("BUG: unknown label filter %T", f))
}

func compare(op string, a, b float64) bool {
	switch op {
	case ">":
		return a > b
	case ">=":
		return a >= b
	case "<":
		return a < b
	case "<=":
		return a <= b
	case "==":
		return a == b
	case "!=":
		return a != b
	}
	panic("BUG: unknown comparison " + op)
}

// maxTemplateOutput bounds what one template execution may write.
const maxTemplateOutput = 1 << 20

type limitedBuffer struct{ b *bytes.Buffer }

func (w limitedBuffer) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > maxTemplateOutput {
		return 0, fmt.Errorf("template output exceeds %d bytes", maxTemplateOutput)
	}
	return w.b.Write(p)
}

// runTemplate executes t over the line's labels.
func (p *pipeline) runTemplate(t *template.Template, rec *logs.Record) (string, error) {
	clear(p.tmplData)
	for _, x := range p.lbls.ls {
		p.tmplData[x.Name] = x.Value
	}
	p.tmplCur = tmplLine{line: p.line, ts: rec.Time}
	p.tmplBuf.Reset()
	if err := t.Execute(limitedBuffer{&p.tmplBuf}, p.tmplData); err != nil {
		return "", err
	}
	return p.tmplBuf.String(), nil
}

type lineFormatRT struct{ t *template.Template }

func (s *lineFormatRT) process(p *pipeline, rec *logs.Record) bool {
	out, err := p.runTemplate(s.t, rec)
	if err != nil {
		p.lbls.setErr(errTemplateFormat, err.Error())
		return true
	}
	p.line = out
	return true
}

type labelFormatRT struct {
	items []LabelFmt
	tmpls []*template.Template
}

func (s *labelFormatRT) process(p *pipeline, rec *logs.Record) bool {
	// Templates see the labels as they were before this stage.
	var vals [8]string
	out := vals[:0]
	for i, it := range s.items {
		if !it.Template {
			v, _ := p.lbls.get(it.Src)
			out = append(out, v)
			continue
		}
		v, err := p.runTemplate(s.tmpls[i], rec)
		if err != nil {
			p.lbls.setErr(errTemplateFormat, err.Error())
			out = append(out, "")
			continue
		}
		out = append(out, v)
	}
	for _, it := range s.items {
		if !it.Template && it.Src != it.Dst {
			p.lbls.del(it.Src)
		}
	}
	for i, it := range s.items {
		p.lbls.set(it.Dst, out[i])
	}
	return true
}

type dropRT struct{ s *DropStage }

func (s dropRT) process(p *pipeline, _ *logs.Record) bool {
	if !s.s.Keep {
		for _, it := range s.s.Items {
			v, ok := p.lbls.get(it.Name)
			if ok && (it.Matcher == nil || it.Matcher.Matches(v)) {
				p.lbls.del(it.Name)
			}
		}
		return true
	}
	kept := p.lbls.ls[:0]
	for _, x := range p.lbls.ls {
		for _, it := range s.s.Items {
			if it.Name == x.Name && (it.Matcher == nil || it.Matcher.Matches(x.Value)) {
				kept = append(kept, x)
				break
			}
		}
	}
	p.lbls.ls = kept
	return true
}

type decolorizeRT struct{}

func (decolorizeRT) process(p *pipeline, _ *logs.Record) bool {
	if strings.IndexByte(p.line, 0x1b) >= 0 {
		p.line = decolorize(p.line)
	}
	return true
}

// decolorize removes ANSI escape sequences (CSI ... final byte).
func decolorize(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
				j++
			}
			i = j
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
