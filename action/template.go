package action

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
)

// templateData is what step templates see (documented in docs/actions.md).
type templateData struct {
	Status       string
	Labels       map[string]string
	Annotations  map[string]string
	StartsAt     time.Time
	EndsAt       time.Time
	Fingerprint  string
	GeneratorURL string
	Action       string
	DryRun       bool
}

// templateFuncs are Alertmanager's usual string helpers plus shellQuote
// and env. env reads the server's environment, which is why its argument
// must be a quoted name (checked by envRefs): an alert's labels must not
// choose which variable a template reads, and every value it can read is
// known in advance, so it can be redacted from audit records.
var templateFuncs = template.FuncMap{
	"toUpper":   strings.ToUpper,
	"toLower":   strings.ToLower,
	"trimSpace": strings.TrimSpace,
	"join": func(sep string, s []string) string {
		return strings.Join(s, sep)
	},
	"stringSlice": func(s ...string) []string { return s },
	"match":       regexp.MatchString,
	"reReplaceAll": func(pattern, repl, text string) (string, error) {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return "", err
		}
		return re.ReplaceAllString(text, repl), nil
	},
	"toJson": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"shellQuote": shellQuote,
	"env":        os.Getenv,
}

// shellQuote makes s one word for /bin/sh, whatever it contains.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// compileTemplate parses text as a step template. A missing label is an
// error when the template runs (missingkey=error), so a step never runs
// with an empty argument where a label was meant; `index .Labels "x"`
// reads an optional one. It returns the variables env reads.
func compileTemplate(name, text string) (*template.Template, []string, error) {
	t, err := template.New(name).Option("missingkey=error").Funcs(templateFuncs).Parse(text)
	if err != nil {
		return nil, nil, err
	}
	refs, err := envRefs(t)
	if err != nil {
		return nil, nil, err
	}
	return t, refs, nil
}

// execute runs t on data.
func execute(t *template.Template, data *templateData) (string, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// envRefs returns the variable names env is called with, and an error if
// env is called any other way than `env "NAME"`.
func envRefs(t *template.Template) ([]string, error) {
	var refs []string
	for _, tt := range t.Templates() {
		if tt.Tree == nil || tt.Tree.Root == nil {
			continue
		}
		if err := walkEnv(tt.Tree.Root, &refs); err != nil {
			return nil, err
		}
	}
	return refs, nil
}

func walkEnv(n parse.Node, refs *[]string) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := walkEnv(c, refs); err != nil {
				return err
			}
		}
	case *parse.ActionNode:
		return walkEnv(n.Pipe, refs)
	case *parse.IfNode:
		return walkBranch(&n.BranchNode, refs)
	case *parse.RangeNode:
		return walkBranch(&n.BranchNode, refs)
	case *parse.WithNode:
		return walkBranch(&n.BranchNode, refs)
	case *parse.TemplateNode:
		return walkEnv(n.Pipe, refs)
	case *parse.ChainNode:
		return walkEnv(n.Node, refs)
	case *parse.PipeNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Cmds {
			if err := walkEnv(c, refs); err != nil {
				return err
			}
		}
	case *parse.CommandNode:
		for i, arg := range n.Args {
			id, ok := arg.(*parse.IdentifierNode)
			if !ok {
				if err := walkEnv(arg, refs); err != nil {
					return err
				}
				continue
			}
			if id.Ident != "env" {
				continue
			}
			var name *parse.StringNode
			if i == 0 && len(n.Args) == 2 {
				name, _ = n.Args[1].(*parse.StringNode)
			}
			if name == nil {
				return fmt.Errorf(`env must be called with one quoted variable name, like {{ env "TOKEN" }}`)
			}
			if !validEnvName(name.Text) {
				return fmt.Errorf("env: %q is not a valid variable name", name.Text)
			}
			*refs = append(*refs, name.Text)
			return nil
		}
	}
	return nil
}

func walkBranch(b *parse.BranchNode, refs *[]string) error {
	if err := walkEnv(b.Pipe, refs); err != nil {
		return err
	}
	if err := walkEnv(b.List, refs); err != nil {
		return err
	}
	if b.ElseList != nil {
		return walkEnv(b.ElseList, refs)
	}
	return nil
}

// validEnvName reports whether s is a portable environment variable name.
func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
