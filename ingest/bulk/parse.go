package bulk

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Action is one action of a bulk body: its action line and, for index,
// create and update, the document line after it.
type Action struct {
	// Name is the action: "index", "create", "update" or "delete".
	Name string
	// Index and ID are the action line's _index and _id (empty when not
	// given); Index falls back to the index of the URL.
	Index, ID string
	// Doc is the document line, nil for delete. It aliases the body.
	Doc []byte
	// Line is the 1-based line number of the action line.
	Line int
}

// actionMeta is what Vigil reads of an action line's object; _type,
// pipeline, routing, require_alias and the rest are accepted and ignored.
type actionMeta struct {
	Index string `json:"_index"`
	ID    string `json:"_id"`
}

// ParseError says the body is not a bulk body; the request is refused as
// a whole, as Elasticsearch does, since the lines after a malformed action
// cannot be told apart.
type ParseError struct {
	Type   string // Elasticsearch's error type
	Reason string
}

func (e *ParseError) Error() string { return e.Reason }

// Parse splits an NDJSON bulk body into its actions. Blank lines between
// actions are skipped; the last line need not end in a newline. index is
// the index named by the URL, used by actions without _index. Documents
// are not decoded here: a bad document fails its own item, not the body.
func Parse(body []byte, index string) ([]Action, error) {
	var out []Action
	line := 0
	next := func() ([]byte, bool) {
		if len(body) == 0 {
			return nil, false
		}
		l := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			l, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line++
		return bytes.TrimSuffix(l, []byte("\r")), true
	}
	for {
		l, ok := next()
		if !ok {
			break
		}
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		a, err := parseAction(l, line)
		if err != nil {
			return out, err
		}
		if a.Index == "" {
			a.Index = index
		}
		if a.Name != "delete" {
			doc, ok := next()
			if !ok {
				return out, &ParseError{"illegal_argument_exception", fmt.Sprintf("cannot parse bulk body: the %s action at line %d is not followed by a document line", a.Name, a.Line)}
			}
			a.Doc = doc
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, &ParseError{"action_request_validation_exception", "Validation Failed: 1: no requests added;"}
	}
	return out, nil
}

func parseAction(l []byte, line int) (Action, error) {
	malformed := func(why string) error {
		return &ParseError{"illegal_argument_exception", fmt.Sprintf("Malformed action/metadata line [%d]: %s; an action line is {\"create\":{\"_index\":\"...\"}} or {\"index\":{...}}", line, why)}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(l, &m); err != nil {
		return Action{}, malformed("not a JSON object: " + err.Error())
	}
	if len(m) != 1 {
		return Action{}, malformed(fmt.Sprintf("want exactly one action, found %d fields", len(m)))
	}
	a := Action{Line: line}
	var raw json.RawMessage
	for a.Name, raw = range m {
	}
	switch a.Name {
	case "index", "create", "update", "delete":
	default:
		return Action{}, malformed(fmt.Sprintf("unknown action %q, want create, index, update or delete", a.Name))
	}
	var meta actionMeta
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return Action{}, malformed(fmt.Sprintf("the %s action's value is not an object", a.Name))
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return Action{}, malformed(fmt.Sprintf("_index and _id must be strings: %v", err))
	}
	a.Index, a.ID = meta.Index, meta.ID
	return a, nil
}
