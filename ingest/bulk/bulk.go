// Package bulk accepts log documents through the subset of
// Elasticsearch's _bulk API that log shippers use (Filebeat, Fluent Bit,
// Vector, Logstash), so their Elasticsearch output can point at Vigil:
// http://host:port/insert/elasticsearch, as with VictoriaLogs.
//
// Besides POST /_bulk and /{index}/_bulk, the handler answers the calls a
// shipper makes before its first bulk request: the cluster info document
// (version 8.9.0, with the X-Elastic-Product header the official clients
// check), a basic license, and the template, ILM policy, ingest pipeline
// and nodes endpoints of the shippers' setup steps, answered as if the
// resource exists or was created. Nothing of those is stored.
//
// Each document becomes one record: its message, time and level fields
// set the body, time and severity; every other field, nested objects
// flattened with dots, becomes an attribute. The stream is derived:
// service_name, level and the index.
package bulk

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vigilhq/vigil/ingest"
	"github.com/vigilhq/vigil/ingest/logline"
	"github.com/vigilhq/vigil/storage/logs"
)

// Options configure the handler.
type Options struct {
	Sink logline.Sink
	// Prefix is the path the handler is mounted under, such as
	// "/insert/elasticsearch"; requests may come with it or stripped.
	Prefix string
	// MaxRequestBytes bounds a body after decompression; 0 means 64 MiB.
	MaxRequestBytes int64
	Metrics         *ingest.Metrics // protocol "elasticsearch_bulk"; documents count as samples
	Logger          *slog.Logger
	// Now is the clock (observed times, took); nil means time.Now.
	Now func() time.Time
}

// Version is the Elasticsearch version the handler claims to be: shippers
// pick their request format by it, and 8.x means no mapping types.
const Version = "8.9.0"

const protocol = "elasticsearch_bulk"

// Fields are the document fields of a record's message, time and level.
var Fields = logline.Fields{
	Message: []string{"message", "log", "msg"},
	Time:    []string{"@timestamp", "timestamp", "time", "date"},
	Level:   []string{"log.level", "level", "severity"},
}

// serviceFields name a document's service (ECS, plain, Kubernetes
// metadata of Fluent Bit and Filebeat); without one the index is the
// service.
var serviceFields = []string{"service.name", "service", "kubernetes.labels.app", "app"}

// Handler serves the bulk API. It is safe for concurrent use.
type Handler struct {
	o   Options
	seq atomic.Int64 // _seq_no of the next stored document
}

// New returns the handler.
func New(o Options) *Handler {
	if o.MaxRequestBytes <= 0 {
		o.MaxRequestBytes = 64 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Prefix = strings.TrimSuffix(o.Prefix, "/")
	return &Handler{o: o}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	p := r.URL.Path
	if h.o.Prefix != "" && (p == h.o.Prefix || strings.HasPrefix(p, h.o.Prefix+"/")) {
		p = p[len(h.o.Prefix):]
	}
	p = "/" + strings.Trim(p, "/")
	seg := strings.Split(p[1:], "/")
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	put := r.Method == http.MethodPut || r.Method == http.MethodPost
	switch {
	case p == "/" && get:
		h.json(w, http.StatusOK, infoDoc())
	case p == "/_bulk" || (len(seg) == 2 && seg[1] == "_bulk" && !strings.HasPrefix(seg[0], "_")):
		if !put {
			w.Header().Set("Allow", "POST, PUT")
			h.fail(w, http.StatusMethodNotAllowed, "method_not_allowed_exception", fmt.Sprintf("Incorrect HTTP method for uri [%s] and method [%s], allowed: [POST, PUT]", r.URL.Path, r.Method))
			return
		}
		index := ""
		if len(seg) == 2 {
			index = seg[0]
		}
		h.bulk(w, r, index)
	case p == "/_license" && get:
		h.json(w, http.StatusOK, licenseDoc)
	case p == "/_xpack" && get:
		// Beats and Logstash ask which features (ILM) a cluster has.
		h.json(w, http.StatusOK, xpackDoc)
	case isSetup(seg) && (get || r.Method == http.MethodPut):
		h.setup(w, r, seg)
	default:
		h.fail(w, http.StatusNotFound, "resource_not_found_exception", fmt.Sprintf("no handler found for uri [%s] and method [%s]: Vigil answers only the _bulk API and the calls shippers make before it", r.URL.Path, r.Method))
	}
}

// isSetup reports whether seg is a path of a shipper's setup step: index
// and legacy templates, ILM policies, ingest pipelines, node info.
func isSetup(seg []string) bool {
	switch seg[0] {
	case "_index_template", "_template", "_nodes":
		return true
	case "_ilm":
		return len(seg) >= 2 && seg[1] == "policy"
	case "_ingest":
		return len(seg) >= 2 && seg[1] == "pipeline"
	}
	return false
}

// setup answers a setup step as if it succeeded: HEAD and GET find the
// resource (so Filebeat and Logstash skip installing it), PUT
// acknowledges it.
func (h *Handler) setup(w http.ResponseWriter, r *http.Request, seg []string) {
	name := ""
	if seg[0] == "_ilm" || seg[0] == "_ingest" {
		if len(seg) > 2 {
			name = seg[2]
		}
	} else if len(seg) > 1 {
		name = seg[1]
	}
	if r.Method == http.MethodPut {
		h.json(w, http.StatusOK, map[string]any{"acknowledged": true})
		return
	}
	var doc any
	switch seg[0] {
	case "_index_template":
		list := []any{}
		if name != "" {
			list = append(list, map[string]any{"name": name, "index_template": map[string]any{
				"index_patterns": []string{name + "*"}, "composed_of": []string{}, "template": map[string]any{}}})
		}
		doc = map[string]any{"index_templates": list}
	case "_template":
		doc = named(name, map[string]any{"order": 0, "index_patterns": []string{name + "*"}, "settings": map[string]any{}, "mappings": map[string]any{}, "aliases": map[string]any{}})
	case "_ilm":
		doc = named(name, map[string]any{"version": 1, "modified_date": "2023-07-19T00:00:00.000Z",
			"policy": map[string]any{"phases": map[string]any{"hot": map[string]any{"min_age": "0ms", "actions": map[string]any{}}}}})
	case "_ingest":
		doc = named(name, map[string]any{"description": "accepted and ignored by Vigil", "processors": []any{}})
	case "_nodes":
		doc = map[string]any{
			"_nodes":       map[string]int{"total": 1, "successful": 1, "failed": 0},
			"cluster_name": clusterName,
			"nodes": map[string]any{nodeID: map[string]any{
				"name": nodeName, "version": Version, "roles": []string{"master", "data", "ingest"},
				"http":   map[string]any{"publish_address": r.Host},
				"ingest": map[string]any{"processors": []any{}},
			}},
		}
	}
	h.json(w, http.StatusOK, doc)
}

func named(name string, v any) map[string]any {
	if name == "" {
		return map[string]any{}
	}
	return map[string]any{name: v}
}

const (
	clusterName = "vigil"
	nodeName    = "vigil"
	nodeID      = "vigil-node-0"
)

func infoDoc() map[string]any {
	return map[string]any{
		"name":         nodeName,
		"cluster_name": clusterName,
		"cluster_uuid": "vigil-cluster-0",
		"version": map[string]any{
			"number":                              Version,
			"build_flavor":                        "default",
			"build_type":                          "docker",
			"build_hash":                          "vigil",
			"build_date":                          "2023-07-19T14:43:58.555259655Z",
			"build_snapshot":                      false,
			"lucene_version":                      "9.7.0",
			"minimum_wire_compatibility_version":  "7.17.0",
			"minimum_index_compatibility_version": "7.0.0",
		},
		"tagline": "You Know, for Search",
	}
}

var licenseDoc = map[string]any{"license": map[string]any{
	"status": "active", "uid": "vigil-basic", "type": "basic",
	"issue_date": "2023-07-19T00:00:00.000Z", "issue_date_in_millis": 1689724800000,
	"max_nodes": 1000, "max_resource_units": nil, "issued_to": clusterName, "issuer": "elasticsearch",
	"start_date_in_millis": -1,
}}

var xpackDoc = map[string]any{
	"build":    map[string]any{"hash": "vigil", "date": "2023-07-19T14:43:58.555259655Z"},
	"license":  map[string]any{"uid": "vigil-basic", "type": "basic", "mode": "basic", "status": "active"},
	"features": map[string]any{"ilm": map[string]bool{"available": true, "enabled": true}},
}

// Item is the outcome of one action, as Elasticsearch reports it.
type Item struct {
	Index       string     `json:"_index"`
	ID          string     `json:"_id"`
	Version     int        `json:"_version,omitempty"`
	Result      string     `json:"result,omitempty"`
	Shards      *Shards    `json:"_shards,omitempty"`
	SeqNo       *int64     `json:"_seq_no,omitempty"`
	PrimaryTerm int        `json:"_primary_term,omitempty"`
	Status      int        `json:"status"`
	Error       *ItemError `json:"error,omitempty"`
}

// Shards is an item's shard tally: always one shard, written.
type Shards struct {
	Total      int `json:"total"`
	Successful int `json:"successful"`
	Failed     int `json:"failed"`
}

// ItemError says why an action failed.
type ItemError struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

// Response is the answer to a bulk request: Items has one single-key map
// per action, keyed by the action's name.
type Response struct {
	Took   int64             `json:"took"`
	Errors bool              `json:"errors"`
	Items  []map[string]Item `json:"items"`
}

func (h *Handler) bulk(w http.ResponseWriter, r *http.Request, index string) {
	start := h.o.Now()
	body, berr := ingest.ReadBody(r, h.o.MaxRequestBytes)
	if berr != nil {
		h.fail(w, berr.Status, bodyErrorType(berr.Status), berr.Msg)
		return
	}
	actions, err := Parse(body, index)
	if err != nil {
		var pe *ParseError
		if errors.As(err, &pe) {
			h.fail(w, http.StatusBadRequest, pe.Type, pe.Reason)
			return
		}
		h.fail(w, http.StatusBadRequest, "parse_exception", err.Error())
		return
	}
	batch := ingest.NewBatch(protocol)
	recs, items := h.Convert(actions, start, batch)
	if len(recs) > 0 {
		if err := h.o.Sink.Append(r.Context(), recs); err != nil {
			var le *logline.LimitError
			if errors.As(err, &le) {
				batch.Accepted -= min(le.Refused, batch.Accepted)
				batch.RejectReason("limit", le.Msg, le.Refused)
				if le.Refused >= len(recs) || len(le.Which) != le.Refused {
					batch.Record(h.o.Metrics)
					// Nothing was stored: the whole request is retried.
					h.fail(w, http.StatusTooManyRequests, "es_rejected_execution_exception", le.Msg)
					return
				}
				// Part was stored: as Elasticsearch, a 200 whose refused
				// items carry 429, which shippers retry alone.
				stored := storedItems(items)
				for _, k := range le.Which {
					if k < len(stored) {
						it := &items[stored[k]]
						*it = Item{Index: it.Index, ID: it.ID, Status: http.StatusTooManyRequests, Error: &ItemError{Type: "es_rejected_execution_exception", Reason: le.Msg}}
					}
				}
			} else {
				h.o.Logger.Error("cannot store log documents", "err", err)
				code := logline.HTTPStatus(err)
				typ := "exception"
				if code == http.StatusServiceUnavailable {
					typ = "unavailable_shards_exception"
				}
				h.fail(w, code, typ, "cannot store log documents: "+err.Error())
				return
			}
		}
	}
	batch.Record(h.o.Metrics)
	resp := Response{Took: max(h.o.Now().Sub(start).Milliseconds(), 0), Items: make([]map[string]Item, len(items))}
	for i, it := range items {
		if it.Status >= 300 {
			resp.Errors = true
		} else {
			seq := h.seq.Add(1) - 1
			it.SeqNo = &seq
		}
		resp.Items[i] = map[string]Item{actions[i].Name: it}
	}
	h.json(w, http.StatusOK, resp)
}

// storedItems maps the index of each record Convert made to its item.
func storedItems(items []Item) []int {
	var out []int
	for i, it := range items {
		if it.Status == http.StatusCreated {
			out = append(out, i)
		}
	}
	return out
}

// Convert turns parsed actions into records, one Item per action in
// order: index and create store their document (status 201); update and
// delete, an action without an index and a document that is not a JSON
// object fail alone (status 400), recorded in batch. Items of stored
// documents have no _seq_no yet.
func (h *Handler) Convert(actions []Action, now time.Time, batch *ingest.Batch) ([]logs.Record, []Item) {
	recs := make([]logs.Record, 0, len(actions))
	items := make([]Item, len(actions))
	opts := map[string]logline.Options{} // by index
	streams := map[string]string{}
	for i := range actions {
		a := &actions[i]
		it := &items[i]
		it.Index, it.ID = a.Index, a.ID
		fail := func(reason, typ, msg string) {
			it.Status, it.Error = http.StatusBadRequest, &ItemError{Type: typ, Reason: msg}
			batch.RejectReason(reason, fmt.Sprintf("line %d: %s", a.Line, msg), 1)
		}
		switch {
		case a.Name == "update" || a.Name == "delete":
			fail("unsupported_action", "illegal_argument_exception", fmt.Sprintf("the %s action is not supported: Vigil stores log documents append-only; send index or create", a.Name))
			continue
		case a.Index == "":
			fail("missing_index", "action_request_validation_exception", "Validation Failed: 1: index is missing; name it in the action's _index or the URL, /{index}/_bulk")
			continue
		}
		rec := logs.Record{ObservedTime: now}
		if !logline.ParseObject(&rec, string(a.Doc), Fields) {
			fail("invalid_document", "mapper_parsing_exception", fmt.Sprintf("failed to parse the document at line %d: %v", a.Line+1, whyNotDoc(a.Doc)))
			continue
		}
		rec.Service = a.Index
		for _, k := range serviceFields {
			if v := rec.Attributes[k]; v != "" {
				rec.Service = v
				break
			}
		}
		o, ok := opts[a.Index]
		if !ok {
			o = logline.Options{Now: now, ExtraLabels: map[string]string{"index": a.Index}, DefaultService: a.Index, Streams: streams}
			opts[a.Index] = o
		}
		logline.Finish(&rec, nil, o)
		recs = append(recs, rec)
		batch.Accepted++
		if it.ID == "" {
			it.ID = newID()
		}
		it.Version, it.Result, it.Status = 1, "created", http.StatusCreated
		it.Shards = &Shards{Total: 1, Successful: 1}
		it.PrimaryTerm = 1
	}
	return recs, items
}

// whyNotDoc says, in encoding/json's words, why a document line the
// in-place scanner refused is not one JSON object.
func whyNotDoc(doc []byte) error {
	t := bytes.TrimSpace(doc)
	if len(t) == 0 {
		return errors.New("the document line is empty")
	}
	if t[0] != '{' {
		return errors.New("the document is not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return fmt.Errorf("the document is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("the document line has data after its JSON object")
	}
	return errors.New("the document is not valid JSON")
}

// newID makes an _id as Elasticsearch's are shaped: 20 URL-safe base64
// characters.
func newID() string {
	var b [15]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func bodyErrorType(code int) string {
	switch code {
	case http.StatusRequestEntityTooLarge:
		return "content_too_long_exception"
	case http.StatusUnsupportedMediaType:
		return "media_type_header_exception"
	}
	return "parse_exception"
}

// errorDoc is Elasticsearch's shape of a whole-request error.
type errorDoc struct {
	Error struct {
		RootCause []ItemError `json:"root_cause"`
		Type      string      `json:"type"`
		Reason    string      `json:"reason"`
	} `json:"error"`
	Status int `json:"status"`
}

func (h *Handler) fail(w http.ResponseWriter, code int, typ, reason string) {
	var d errorDoc
	d.Error.RootCause = []ItemError{{typ, reason}}
	d.Error.Type, d.Error.Reason, d.Status = typ, reason, code
	h.json(w, code, d)
}

func (h *Handler) json(w http.ResponseWriter, code int, v any) {
	if h.o.Metrics != nil {
		h.o.Metrics.Requests.WithLabelValues(protocol, strconv.Itoa(code)).Inc()
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic("BUG: cannot encode a bulk API answer: " + err.Error())
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
}
