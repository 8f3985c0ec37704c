package bulk

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigilhq/vigil/ingest"
	"github.com/vigilhq/vigil/ingest/logline"
	"github.com/vigilhq/vigil/storage/events"
	"github.com/vigilhq/vigil/storage/logs"
)

var now = time.Date(2024, 5, 1, 10, 20, 0, 0, time.UTC)

type memSink struct {
	mu   sync.Mutex
	recs []logs.Record
	err  error
}

func (m *memSink) Append(_ context.Context, recs []logs.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = append(m.recs, recs...)
	return m.err
}

const prefix = "/insert/elasticsearch"

func newHandler(sink logline.Sink, o Options) *Handler {
	o.Sink = sink
	o.Prefix = prefix
	o.Now = func() time.Time { return now }
	return New(o)
}

func do(h http.Handler, method, path string, body []byte, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/x-ndjson")
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// normalize decodes a bulk answer, checks every item's _id is an id
// (generated ones are 20 characters), and replaces generated ids by "ID".
func normalize(t *testing.T, w *httptest.ResponseRecorder, given ...string) any {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" || w.Header().Get("X-Elastic-Product") != "Elasticsearch" {
		t.Fatalf("headers %v", w.Header())
	}
	var v map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("answer %q is not JSON: %v", w.Body, err)
	}
	items, _ := v["items"].([]any)
	for _, it := range items {
		for _, res := range it.(map[string]any) {
			m := res.(map[string]any)
			id, _ := m["_id"].(string)
			switch {
			case contains(given, id):
			case len(id) == 20:
				m["_id"] = "ID"
			case m["status"] != 400.0:
				t.Fatalf("item %v has no generated _id", m)
			}
		}
	}
	return v
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

func mustJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad test JSON %q: %v", s, err)
	}
	return v
}

func created(action, index, id string, seq int) string {
	return fmt.Sprintf(`{%q:{"_index":%q,"_id":%q,"_version":1,"result":"created","_shards":{"total":1,"successful":1,"failed":0},"_seq_no":%d,"_primary_term":1,"status":201}}`, action, index, id, seq)
}

// A request as Filebeat 8 sends it: create actions into its data stream,
// ECS documents.
const filebeat = `{"create":{"_index":"filebeat-8.9.0"}}
{"@timestamp":"2024-05-01T10:11:12.345Z","log":{"offset":1024,"file":{"path":"/var/log/app/app.log"},"level":"error"},"message":"payment failed: card declined","input":{"type":"filestream"},"ecs":{"version":"8.0.0"},"host":{"name":"web-1"},"agent":{"type":"filebeat","version":"8.9.0","ephemeral_id":"6b0e6c3a-1d6e-4d1b-8d3c-5f0b0e3f3e11","id":"2f1c1c4e-3d3a-4f7b-9d4a-1c2b3a4d5e6f","name":"web-1"},"service":{"name":"checkout"},"trace":{"id":"0af7651916cd43dd8448eb211c80319c"}}
{"create":{"_index":"filebeat-8.9.0"}}
{"@timestamp":"2024-05-01T10:11:13.000Z","log":{"offset":1100,"file":{"path":"/var/log/app/app.log"}},"message":"retrying","input":{"type":"filestream"},"ecs":{"version":"8.0.0"},"host":{"name":"web-1"},"agent":{"type":"filebeat","version":"8.9.0","name":"web-1"}}
`

func TestFilebeat(t *testing.T) {
	sink := &memSink{}
	m := ingest.NewMetrics(nil)
	h := newHandler(sink, Options{Metrics: m})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(filebeat))
	zw.Close()
	// Filebeat compresses with gzip by default since 8.x.
	w := do(h, http.MethodPost, prefix+"/_bulk", gz.Bytes(), "Content-Encoding", "gzip")
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	want := mustJSON(t, `{"took":0,"errors":false,"items":[`+created("create", "filebeat-8.9.0", "ID", 0)+`,`+created("create", "filebeat-8.9.0", "ID", 1)+`]}`)
	if got := normalize(t, w); !reflect.DeepEqual(got, want) {
		t.Fatalf("answer %s\nwant %v", w.Body, want)
	}
	if len(sink.recs) != 2 {
		t.Fatalf("stored %d", len(sink.recs))
	}
	r0, r1 := sink.recs[0], sink.recs[1]
	if r0.Body != "payment failed: card declined" || !r0.Time.Equal(time.Date(2024, 5, 1, 10, 11, 12, 345e6, time.UTC)) ||
		r0.SeverityNumber != 17 || r0.SeverityText != "error" || r0.Service != "checkout" || !r0.HasTrace() ||
		r0.Stream != `{index="filebeat-8.9.0", level="error", service_name="checkout"}` {
		t.Fatalf("r0 = %+v", r0)
	}
	for k, v := range map[string]string{"host.name": "web-1", "agent.type": "filebeat", "log.file.path": "/var/log/app/app.log",
		"input.type": "filestream", "ecs.version": "8.0.0", "log.offset": "1024", "service.name": "checkout"} {
		if r0.Attributes[k] != v {
			t.Errorf("r0.Attributes[%q] = %q, want %q", k, r0.Attributes[k], v)
		}
	}
	for _, k := range []string{"message", "@timestamp", "log.level", "trace.id"} {
		if _, ok := r0.Attributes[k]; ok {
			t.Errorf("r0 keeps %q as an attribute", k)
		}
	}
	// Without a service field, the index is the service.
	if r1.Service != "filebeat-8.9.0" || r1.SeverityNumber != 0 || r1.Stream != `{index="filebeat-8.9.0", level="unknown", service_name="filebeat-8.9.0"}` {
		t.Fatalf("r1 = %+v", r1)
	}
	if n := testutil.ToFloat64(m.Samples.WithLabelValues("elasticsearch_bulk")); n != 2 {
		t.Fatalf("samples %v, want 2", n)
	}
}

func TestFluentBit(t *testing.T) {
	// Suppress_Type_Name On: create actions; Off: index actions with
	// _type _doc. Both to the URL's prefix without it stripped, and
	// with it stripped (as a mux mounting the handler may do).
	body := `{"create":{"_index":"fluent-bit"}}
{"@timestamp":"2024-05-01T10:11:12.123456789Z","log":"GET /healthz 200","stream":"stdout","kubernetes":{"pod_name":"api-7d9c","namespace_name":"shop","labels":{"app":"api"},"container_name":"api"}}
{"index":{"_index":"fluent-bit","_type":"_doc"}}
{"@timestamp":"2024-05-01T10:11:12.5Z","log":"warn: slow query","level":"warn"}
`
	for _, path := range []string{prefix + "/_bulk", "/_bulk"} {
		sink := &memSink{}
		h := newHandler(sink, Options{})
		w := do(h, http.MethodPost, path, []byte(body))
		want := mustJSON(t, `{"took":0,"errors":false,"items":[`+created("create", "fluent-bit", "ID", 0)+`,`+created("index", "fluent-bit", "ID", 1)+`]}`)
		if got := normalize(t, w); w.Code != 200 || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		r0, r1 := sink.recs[0], sink.recs[1]
		if r0.Body != "GET /healthz 200" || r0.Time.Nanosecond() != 123456789 || r0.Service != "api" ||
			r0.Attributes["kubernetes.pod_name"] != "api-7d9c" || r0.Attributes["stream"] != "stdout" {
			t.Fatalf("r0 = %+v", r0)
		}
		if r1.Body != "warn: slow query" || r1.SeverityNumber != 13 || r1.Service != "fluent-bit" || r1.Attributes != nil {
			t.Fatalf("r1 = %+v", r1)
		}
	}
}

func TestVector(t *testing.T) {
	body := `{"create":{"_index":"vector-2024.05.01","_id":"given-1"}}
{"timestamp":"2024-05-01T10:11:12.000001Z","message":"user logged in","host":"vec-1","source_type":"file","file":"/var/log/auth.log","service":"auth"}
`
	sink := &memSink{}
	h := newHandler(sink, Options{})
	w := do(h, http.MethodPut, prefix+"/vector-ignored/_bulk", []byte(body))
	want := mustJSON(t, `{"took":0,"errors":false,"items":[`+created("create", "vector-2024.05.01", "given-1", 0)+`]}`)
	if got := normalize(t, w, "given-1"); w.Code != 200 || !reflect.DeepEqual(got, want) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	r := sink.recs[0]
	if r.Body != "user logged in" || r.Time.Nanosecond() != 1000 || r.Service != "auth" || r.Attributes["source_type"] != "file" ||
		r.Stream != `{index="vector-2024.05.01", level="unknown", service_name="auth"}` {
		t.Fatalf("r = %+v", r)
	}
}

func TestMixedItems(t *testing.T) {
	body := `{"index":{"_id":"a"}}
{"message":"ok","app":"shop"}
{"index":{}}
"just a string"
{"create":{}}
{"message": broken}
{"delete":{"_id":"x"}}

{"update":{"_id":"y"}}
{"doc":{"message":"changed"}}
{"create":{"_index":"other"}}
{"no":"message field"}
{"index":{}}
[1,2]
`
	sink := &memSink{}
	m := ingest.NewMetrics(nil)
	h := newHandler(sink, Options{Metrics: m})
	w := do(h, http.MethodPost, prefix+"/logs/_bulk", []byte(body))
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var resp Response
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	if !resp.Errors || len(resp.Items) != 7 {
		t.Fatalf("answer %s", w.Body)
	}
	for i, c := range []struct {
		action, index string
		status        int
		errType       string
		reason        string
	}{
		{"index", "logs", 201, "", ""},
		{"index", "logs", 400, "mapper_parsing_exception", "line 4: the document is not a JSON object"},
		{"create", "logs", 400, "mapper_parsing_exception", "line 6: the document is not valid JSON"},
		{"delete", "logs", 400, "illegal_argument_exception", "the delete action is not supported"},
		{"update", "logs", 400, "illegal_argument_exception", "the update action is not supported"},
		{"create", "other", 201, "", ""},
		{"index", "logs", 400, "mapper_parsing_exception", "not a JSON object"},
	} {
		it, ok := resp.Items[i][c.action]
		if !ok || len(resp.Items[i]) != 1 || it.Index != c.index || it.Status != c.status {
			t.Errorf("item %d = %+v, want %s %s %d", i, resp.Items[i], c.action, c.index, c.status)
			continue
		}
		if c.errType == "" {
			if it.Error != nil || it.Result != "created" {
				t.Errorf("item %d = %+v", i, it)
			}
			continue
		}
		if it.Error == nil || it.Error.Type != c.errType || !strings.Contains(it.Error.Reason, c.reason) || it.SeqNo != nil {
			t.Errorf("item %d error = %+v, want %s with %q", i, it.Error, c.errType, c.reason)
		}
	}
	if resp.Items[0]["index"].ID != "a" || resp.Items[4]["update"].ID != "y" {
		t.Errorf("ids not kept: %s", w.Body)
	}
	if len(sink.recs) != 2 || sink.recs[0].Service != "shop" || sink.recs[1].Body != `{"no":"message field"}` || sink.recs[1].Service != "other" {
		t.Fatalf("stored %+v", sink.recs)
	}
	if n := testutil.ToFloat64(m.Rejected.WithLabelValues("elasticsearch_bulk", "unsupported_action")); n != 2 {
		t.Errorf("unsupported_action counted %v, want 2", n)
	}
	// No index anywhere: the item fails alone.
	w = do(h, http.MethodPost, prefix+"/_bulk", []byte("{\"index\":{}}\n{\"message\":\"x\"}\n{\"index\":{\"_index\":\"i\"}}\n{\"message\":\"y\"}\n"))
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || len(resp.Items) != 2 || resp.Items[0]["index"].Status != 400 ||
		!strings.Contains(resp.Items[0]["index"].Error.Reason, "index is missing") || resp.Items[1]["index"].Status != 201 {
		t.Fatalf("missing index: %s", w.Body)
	}
}

func TestRequestErrors(t *testing.T) {
	h := newHandler(&memSink{}, Options{MaxRequestBytes: 1024})
	for _, c := range []struct {
		name, method, path, body string
		code                     int
		typ, reason              string
	}{
		{"empty", "POST", prefix + "/_bulk", "\n\n", 400, "action_request_validation_exception", "no requests added"},
		{"not ndjson", "POST", prefix + "/_bulk", "hello\n", 400, "illegal_argument_exception", "Malformed action/metadata line [1]"},
		{"two actions in one line", "POST", prefix + "/_bulk", `{"index":{},"create":{}}`, 400, "illegal_argument_exception", "exactly one action"},
		{"unknown action", "POST", prefix + "/_bulk", "{\"upsert\":{}}\n{}\n", 400, "illegal_argument_exception", `unknown action "upsert"`},
		{"action not an object", "POST", prefix + "/_bulk", "{\"index\":1}\n{}\n", 400, "illegal_argument_exception", "not an object"},
		{"_id not a string", "POST", prefix + "/_bulk", "{\"index\":{\"_id\":5}}\n{}\n", 400, "illegal_argument_exception", "must be strings"},
		{"no document", "POST", prefix + "/x/_bulk", "{\"index\":{}}\n{\"message\":\"a\"}\n{\"create\":{}}", 400, "illegal_argument_exception", "at line 3 is not followed by a document line"},
		{"too large", "POST", prefix + "/_bulk", strings.Repeat(" ", 2000), 413, "content_too_long_exception", "limit of 1024"},
		{"GET bulk", "GET", prefix + "/_bulk", "", 405, "method_not_allowed_exception", "allowed: [POST, PUT]"},
		{"unknown path", "GET", prefix + "/_search", "", 404, "resource_not_found_exception", "no handler found for uri [/insert/elasticsearch/_search] and method [GET]"},
		{"delete template", "DELETE", prefix + "/_index_template/x", "", 404, "resource_not_found_exception", "no handler"},
	} {
		w := do(h, c.method, c.path, []byte(c.body))
		var d errorDoc
		err := json.Unmarshal(w.Body.Bytes(), &d)
		if w.Code != c.code || err != nil || d.Status != c.code || d.Error.Type != c.typ || !strings.Contains(d.Error.Reason, c.reason) ||
			len(d.Error.RootCause) != 1 || d.Error.RootCause[0] != (ItemError{c.typ, d.Error.Reason}) {
			t.Errorf("%s: %d %s, want %d %s with %q", c.name, w.Code, w.Body, c.code, c.typ, c.reason)
		}
	}
}

func TestSinkErrors(t *testing.T) {
	body := []byte("{\"create\":{\"_index\":\"a\"}}\n{\"message\":\"x\"}\n")
	for _, c := range []struct {
		err    error
		code   int
		typ    string
		reason string
	}{
		{&logline.LimitError{Refused: 1, Msg: "ingestion rate limit of 1 MiB/s exceeded for service a"}, 429, "es_rejected_execution_exception", "ingestion rate limit of 1 MiB/s exceeded for service a"},
		{fmt.Errorf("cannot write WAL: %w", events.ErrDiskFull), 503, "unavailable_shards_exception", "cannot store log documents"},
		{errors.New("boom"), 500, "exception", "cannot store log documents: boom"},
	} {
		w := do(newHandler(&memSink{err: c.err}, Options{}), http.MethodPost, prefix+"/_bulk", body)
		var d errorDoc
		if err := json.Unmarshal(w.Body.Bytes(), &d); err != nil || w.Code != c.code || d.Status != c.code || d.Error.Type != c.typ || d.Error.Reason != c.reason && !strings.HasPrefix(d.Error.Reason, c.reason) {
			t.Errorf("%v: %d %s", c.err, w.Code, w.Body)
		}
	}
}

func TestInfoAndSetup(t *testing.T) {
	h := newHandler(&memSink{}, Options{})
	info := mustJSON(t, `{"name":"vigil","cluster_name":"vigil","cluster_uuid":"vigil-cluster-0","version":{"number":"8.9.0","build_flavor":"default","build_type":"docker","build_hash":"vigil","build_date":"2023-07-19T14:43:58.555259655Z","build_snapshot":false,"lucene_version":"9.7.0","minimum_wire_compatibility_version":"7.17.0","minimum_index_compatibility_version":"7.0.0"},"tagline":"You Know, for Search"}`)
	for _, path := range []string{prefix + "/", prefix, "/"} {
		w := do(h, http.MethodGet, path, nil)
		var got any
		json.Unmarshal(w.Body.Bytes(), &got)
		if w.Code != 200 || w.Header().Get("X-Elastic-Product") != "Elasticsearch" || !reflect.DeepEqual(got, info) {
			t.Errorf("GET %s: %d %v %s", path, w.Code, w.Header(), w.Body)
		}
	}
	if w := do(h, http.MethodHead, prefix+"/", nil); w.Code != 200 || w.Header().Get("X-Elastic-Product") != "Elasticsearch" {
		t.Errorf("HEAD /: %d %v", w.Code, w.Header())
	}
	for _, c := range []struct {
		method, path, want string
	}{
		{"GET", "/_license", `{"license":{"status":"active","uid":"vigil-basic","type":"basic","issue_date":"2023-07-19T00:00:00.000Z","issue_date_in_millis":1689724800000,"max_nodes":1000,"max_resource_units":null,"issued_to":"vigil","issuer":"elasticsearch","start_date_in_millis":-1}}`},
		{"GET", "/_xpack", `{"build":{"hash":"vigil","date":"2023-07-19T14:43:58.555259655Z"},"license":{"uid":"vigil-basic","type":"basic","mode":"basic","status":"active"},"features":{"ilm":{"available":true,"enabled":true}}}`},
		{"GET", "/_index_template/filebeat-8.9.0", `{"index_templates":[{"name":"filebeat-8.9.0","index_template":{"index_patterns":["filebeat-8.9.0*"],"composed_of":[],"template":{}}}]}`},
		{"PUT", "/_index_template/filebeat-8.9.0", `{"acknowledged":true}`},
		{"HEAD", "/_index_template/logstash", ``},
		{"GET", "/_template/logstash", `{"logstash":{"order":0,"index_patterns":["logstash*"],"settings":{},"mappings":{},"aliases":{}}}`},
		{"PUT", "/_template/logstash", `{"acknowledged":true}`},
		{"GET", "/_ilm/policy/filebeat", `{"filebeat":{"version":1,"modified_date":"2023-07-19T00:00:00.000Z","policy":{"phases":{"hot":{"min_age":"0ms","actions":{}}}}}}`},
		{"PUT", "/_ilm/policy/filebeat", `{"acknowledged":true}`},
		{"GET", "/_ingest/pipeline/filebeat-8.9.0-nginx-access-pipeline", `{"filebeat-8.9.0-nginx-access-pipeline":{"description":"accepted and ignored by Vigil","processors":[]}}`},
		{"PUT", "/_ingest/pipeline/p", `{"acknowledged":true}`},
		{"GET", "/_nodes/http", `{"_nodes":{"total":1,"successful":1,"failed":0},"cluster_name":"vigil","nodes":{"vigil-node-0":{"name":"vigil","version":"8.9.0","roles":["master","data","ingest"],"http":{"publish_address":"example.com"},"ingest":{"processors":[]}}}}`},
	} {
		w := do(h, c.method, prefix+c.path, nil)
		if w.Code != 200 || w.Header().Get("X-Elastic-Product") != "Elasticsearch" {
			t.Errorf("%s %s: %d", c.method, c.path, w.Code)
			continue
		}
		if c.want == "" {
			continue
		}
		var got any
		json.Unmarshal(w.Body.Bytes(), &got)
		if !reflect.DeepEqual(got, mustJSON(t, c.want)) {
			t.Errorf("%s %s: %s\nwant %s", c.method, c.path, w.Body, c.want)
		}
	}
	if w := do(h, "GET", prefix+"/_ilm/other", nil); w.Code != 404 {
		t.Errorf("GET /_ilm/other: %d, want 404", w.Code)
	}
}

// Seq numbers grow across requests, as a shard's do.
func TestSeqNo(t *testing.T) {
	h := newHandler(&memSink{}, Options{})
	body := []byte("{\"index\":{\"_index\":\"a\"}}\n{}\n")
	for i := range int64(3) {
		var resp Response
		w := do(h, http.MethodPost, prefix+"/_bulk", body)
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || resp.Items[0]["index"].SeqNo == nil || *resp.Items[0]["index"].SeqNo != i {
			t.Fatalf("request %d: %s", i, w.Body)
		}
	}
}

func FuzzBulk(f *testing.F) {
	f.Add([]byte(filebeat), "")
	f.Add([]byte("{\"index\":{}}\n{\"a\":{\"b\":[1,{\"c\":null}]}}\n{\"delete\":{}}\n{\"update\":{}}\n{}\n"), "logs")
	f.Add([]byte("{\"create\":{\"_index\":\"\"}}\nnull\n\r\n{\"index\":{}}\n{}garbage"), "x")
	f.Fuzz(func(t *testing.T, body []byte, index string) {
		actions, perr := Parse(body, index)
		for _, a := range actions {
			if a.Doc == nil && a.Name != "delete" {
				t.Fatalf("action %+v without a document", a)
			}
		}
		sink := &memSink{}
		h := newHandler(sink, Options{})
		batch := ingest.NewBatch(protocol)
		recs, items := h.Convert(actions, now, batch)
		if len(items) != len(actions) || len(recs) != batch.Accepted || batch.Accepted+batch.Rejected() != len(actions) {
			t.Fatalf("%d actions gave %d items, %d records, batch %d+%d", len(actions), len(items), len(recs), batch.Accepted, batch.Rejected())
		}
		for _, r := range recs {
			if r.Service == "" || r.Time.IsZero() || !strings.Contains(r.Stream, "index=") {
				t.Fatalf("unfinished record %+v", r)
			}
		}
		// Through HTTP: a whole-request error exactly when Parse failed,
		// else one item per action.
		w := do(h, http.MethodPost, prefix+"/_bulk", body)
		if index != "" {
			return
		}
		if perr != nil {
			if w.Code != 400 {
				t.Fatalf("parse error %v answered %d", perr, w.Code)
			}
			return
		}
		var resp Response
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &resp) != nil || len(resp.Items) != len(actions) {
			t.Fatalf("%d actions: %d %s", len(actions), w.Code, w.Body)
		}
	})
}

// A limit that refuses part of a batch answers as Elasticsearch does when
// some items are rejected: 200, errors true, 429 on the refused items
// only, so shippers retry just those.
func TestPartialLimitRefusesItems(t *testing.T) {
	body := []byte("{\"create\":{\"_index\":\"a\"}}\n{\"message\":\"x\"}\n{\"delete\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{\"create\":{\"_index\":\"a\"}}\n{\"message\":\"y\"}\n{\"create\":{\"_index\":\"a\"}}\n{\"message\":\"z\"}\n")
	sink := &memSink{err: &logline.LimitError{Refused: 1, Which: []int{1}, Msg: "per-stream rate limit exceeded"}}
	w := do(newHandler(sink, Options{}), http.MethodPost, prefix+"/_bulk", body)
	var resp struct {
		Errors bool                         `json:"errors"`
		Items  []map[string]json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || w.Code != 200 || !resp.Errors || len(resp.Items) != 4 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var statuses []int
	for _, it := range resp.Items {
		for _, raw := range it {
			var x struct {
				Status int `json:"status"`
				Error  *struct {
					Type string `json:"type"`
				} `json:"error"`
			}
			_ = json.Unmarshal(raw, &x)
			statuses = append(statuses, x.Status)
			if x.Status == 429 && (x.Error == nil || x.Error.Type != "es_rejected_execution_exception") {
				t.Errorf("refused item without its error: %s", raw)
			}
		}
	}
	// Records are x, y, z; the sink refused its record 1 (y), the
	// fourth line's document, which is item 2.
	if want := []int{201, 400, 429, 201}; !slices.Equal(statuses, want) {
		t.Fatalf("item statuses = %v, want %v", statuses, want)
	}
}
