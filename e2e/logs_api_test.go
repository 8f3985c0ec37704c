package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The Loki query API as Grafana and logcli read it: the JSON shapes of
// Loki's documentation, decoded field by field with structs of our own,
// against a fixed data set pushed through Loki's push API (JSON) and
// JSON lines.

// logsAPIEnvelope is every JSON answer of the query endpoints.
type logsAPIEnvelope struct {
	Status string          `json:"status"`
	Data   json.RawMessage `json:"data"`
}

// logsAPIQueryData is data of /query and /query_range.
type logsAPIQueryData struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
	Stats      json.RawMessage `json:"stats"`
}

// logsAPIStream is one element of a "streams" result: values are
// [string Unix ns, string line] pairs.
type logsAPIStream struct {
	Stream map[string]string   `json:"stream"`
	Values [][]json.RawMessage `json:"values"`
}

// logsAPISeries is one element of a "matrix" result: values are
// [float Unix s, string value] pairs.
type logsAPISeries struct {
	Metric map[string]string   `json:"metric"`
	Values [][]json.RawMessage `json:"values"`
}

// logsAPISample is one element of a "vector" result.
type logsAPISample struct {
	Metric map[string]string `json:"metric"`
	Value  []json.RawMessage `json:"value"`
}

// logsAPIEntry is one decoded log line of a streams result.
type logsAPIEntry struct {
	TS     int64
	Line   string
	Labels map[string]string
}

// logsAPIPoint is one decoded point of a matrix or vector.
type logsAPIPoint struct {
	T float64
	V string
}

// logsAPIStrict decodes b into v refusing fields v does not have: Loki's
// result elements have exactly the documented fields.
func logsAPIStrict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("data after the JSON value")
	}
	return nil
}

// logsAPIGet GETs a path of v's HTTP listener and returns the status,
// the Content-Type and the body.
func logsAPIGet(t *testing.T, v *vigil, path string, p url.Values) (int, string, []byte) {
	t.Helper()
	u := v.URL + path
	if len(p) > 0 {
		u += "?" + p.Encode()
	}
	resp, err := insecureClient.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: cannot read body: %v", u, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// logsAPIData GETs a query endpoint, checks the envelope of a success
// (200, JSON, status "success") and returns data undecoded.
func logsAPIData(t *testing.T, v *vigil, path string, p url.Values) json.RawMessage {
	t.Helper()
	code, ct, b := logsAPIGet(t, v, path, p)
	if code != 200 {
		t.Fatalf("GET %s?%s: %d %s", path, p.Encode(), code, b)
	}
	if !strings.HasPrefix(ct, "application/json") {
		t.Errorf("GET %s: Content-Type %q, want application/json", path, ct)
	}
	var env logsAPIEnvelope
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("GET %s?%s: not JSON: %v: %.300s", path, p.Encode(), err, b)
	}
	if env.Status != "success" {
		t.Fatalf("GET %s?%s: status %q, want success: %.300s", path, p.Encode(), env.Status, b)
	}
	if len(env.Data) == 0 || string(env.Data) == "null" {
		t.Fatalf("GET %s?%s: data is %q: %.300s", path, p.Encode(), env.Data, b)
	}
	return env.Data
}

// logsAPIQuery runs /query or /query_range and checks what every answer
// has: a result type, a result that is an array (never null) and stats
// that are an object.
func logsAPIQuery(t *testing.T, v *vigil, path string, p url.Values) logsAPIQueryData {
	t.Helper()
	raw := logsAPIData(t, v, path, p)
	var d logsAPIQueryData
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s?%s: cannot decode data %.300s: %v", path, p.Encode(), raw, err)
	}
	if r := bytes.TrimSpace(d.Result); len(r) == 0 || r[0] != '[' {
		t.Errorf("%s?%s: data.result is %.100q, want an array (Grafana fails on null)", path, p.Encode(), r)
	}
	if s := bytes.TrimSpace(d.Stats); len(s) == 0 || s[0] != '{' {
		t.Errorf("%s?%s: data.stats is %.100q, want an object", path, p.Encode(), s)
	}
	return d
}

// logsAPIStreams decodes a "streams" result into its lines, checking each
// value is a pair of strings and the time a decimal Unix ns.
func logsAPIStreams(t *testing.T, what string, d logsAPIQueryData) ([]logsAPIStream, []logsAPIEntry) {
	t.Helper()
	if d.ResultType != "streams" {
		t.Fatalf("%s: resultType %q, want streams", what, d.ResultType)
	}
	var streams []logsAPIStream
	if err := logsAPIStrict(d.Result, &streams); err != nil {
		t.Fatalf("%s: cannot decode streams %.300s: %v", what, d.Result, err)
	}
	var out []logsAPIEntry
	for _, s := range streams {
		if len(s.Stream) == 0 {
			t.Errorf("%s: a stream with no labels", what)
		}
		if len(s.Values) == 0 {
			t.Errorf("%s: stream %v has no values", what, s.Stream)
		}
		for _, val := range s.Values {
			if len(val) != 2 {
				t.Fatalf("%s: value %s has %d elements, want [ns, line]", what, val, len(val))
			}
			var ts, line string
			if err := json.Unmarshal(val[0], &ts); err != nil {
				t.Fatalf("%s: timestamp %s is not a JSON string: %v", what, val[0], err)
			}
			if err := json.Unmarshal(val[1], &line); err != nil {
				t.Fatalf("%s: line %s is not a JSON string: %v", what, val[1], err)
			}
			n, err := strconv.ParseInt(ts, 10, 64)
			if err != nil {
				t.Fatalf("%s: timestamp %q is not decimal Unix ns: %v", what, ts, err)
			}
			out = append(out, logsAPIEntry{TS: n, Line: line, Labels: s.Stream})
		}
	}
	return streams, out
}

// logsAPIPointOf decodes a [float seconds, "value"] pair.
func logsAPIPointOf(t *testing.T, what string, p []json.RawMessage) logsAPIPoint {
	t.Helper()
	if len(p) != 2 {
		t.Fatalf("%s: point %s has %d elements, want [seconds, value]", what, p, len(p))
	}
	var pt logsAPIPoint
	if err := json.Unmarshal(p[0], &pt.T); err != nil {
		t.Fatalf("%s: point time %s is not a JSON number: %v", what, p[0], err)
	}
	if err := json.Unmarshal(p[1], &pt.V); err != nil {
		t.Fatalf("%s: point value %s is not a JSON string: %v", what, p[1], err)
	}
	return pt
}

func logsAPIMatrix(t *testing.T, what string, d logsAPIQueryData) []logsAPISeries {
	t.Helper()
	if d.ResultType != "matrix" {
		t.Fatalf("%s: resultType %q, want matrix", what, d.ResultType)
	}
	var m []logsAPISeries
	if err := logsAPIStrict(d.Result, &m); err != nil {
		t.Fatalf("%s: cannot decode matrix %.300s: %v", what, d.Result, err)
	}
	return m
}

func logsAPIVector(t *testing.T, what string, d logsAPIQueryData) []logsAPISample {
	t.Helper()
	if d.ResultType != "vector" {
		t.Fatalf("%s: resultType %q, want vector", what, d.ResultType)
	}
	var vec []logsAPISample
	if err := logsAPIStrict(d.Result, &vec); err != nil {
		t.Fatalf("%s: cannot decode vector %.300s: %v", what, d.Result, err)
	}
	return vec
}

// logsAPILines is the lines of entries in the order given.
func logsAPILines(es []logsAPIEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Line
	}
	return out
}

// logsAPISortedLines is the lines of entries, oldest first.
func logsAPISortedLines(es []logsAPIEntry) []string {
	es = slices.Clone(es)
	slices.SortStableFunc(es, func(a, b logsAPIEntry) int { return int(a.TS - b.TS) })
	return logsAPILines(es)
}

func logsAPINs(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) }

// logsIngestLokiStream is one stream of a Loki JSON push: values are
// [ns, line] or [ns, line, {structured metadata}].
type logsIngestLokiStream struct {
	Stream map[string]string `json:"stream"`
	Values [][]any           `json:"values"`
}

// logsIngestPushLoki pushes streams as Loki JSON and wants 204.
func logsIngestPushLoki(t *testing.T, base string, streams ...logsIngestLokiStream) {
	t.Helper()
	if err := logsIngestTryPushLoki(base, streams...); err != nil {
		t.Fatal(err)
	}
}

// logsIngestTryPushLoki is logsIngestPushLoki returning the failure, for
// goroutines.
func logsIngestTryPushLoki(base string, streams ...logsIngestLokiStream) error {
	b, err := json.Marshal(map[string]any{"streams": streams})
	if err != nil {
		return fmt.Errorf("cannot encode push: %w", err)
	}
	resp, err := insecureClient.Post(base+"/loki/api/v1/push", "application/json", bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("cannot push: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("POST /loki/api/v1/push: %d %s, want 204", resp.StatusCode, body)
	}
	return nil
}

// logsIngestPushJSONLines posts objects as JSON lines with the query
// parameters p and wants 204.
func logsIngestPushJSONLines(t *testing.T, base string, p url.Values, objs ...map[string]any) {
	t.Helper()
	var body bytes.Buffer
	for _, o := range objs {
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		body.Write(b)
		body.WriteByte('\n')
	}
	resp, err := insecureClient.Post(base+"/insert/jsonline?"+p.Encode(), "application/x-ndjson", &body)
	if err != nil {
		t.Fatalf("cannot post JSON lines: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST /insert/jsonline: %d %s, want 204", resp.StatusCode, b)
	}
}

// logsAPIDataSet is the fixed data set of TestLogsAPIShapes: eleven lines
// 10 s apart from t0+10s, over three services.
type logsAPIDataSet struct {
	t0      time.Time
	traceID string
	lines   []string // by time, oldest first
}

// logsAPILoad pushes the data set:
//
//	k  service    level  source     line
//	1  checkout   info   loki       logfmt, order_id=1
//	2  inventory  debug  jsonline   JSON, sku=A1
//	3  checkout   info   loki       logfmt, order_id=2
//	4  payments   warn   loki(app)  JSON, latency_ms=900
//	5  checkout   error  loki       logfmt, order_id=2, trace_id metadata
//	6  inventory  info   jsonline   JSON, sku=A1, trace_id field
//	7  checkout   info   loki       logfmt, order_id=1
//	8  payments   warn   loki(app)  JSON, latency_ms=120
//	9  checkout   error  loki       logfmt, order_id=3
//	10 inventory  error  jsonline   JSON, sku=B2
//	11 checkout   info   loki       logfmt, order_id=4
func logsAPILoad(t *testing.T, v *vigil) logsAPIDataSet {
	t.Helper()
	ds := logsAPIDataSet{t0: time.Now().Truncate(time.Minute).Add(-10 * time.Minute), traceID: uiRandomHex(t, 16)}
	at := func(k int) time.Time { return ds.t0.Add(time.Duration(k) * 10 * time.Second) }
	ns := func(k int) string { return logsAPINs(at(k)) }
	ds.lines = []string{
		`level=info msg="order placed" order_id=1 duration_ms=12`,
		`stock checked`,
		`level=info msg="order placed" order_id=2 duration_ms=40`,
		`{"msg":"slow card","latency_ms":900}`,
		`level=error msg="payment failed" order_id=2`,
		`stock reserved`,
		`level=info msg="order shipped" order_id=1`,
		`{"msg":"retrying card","latency_ms":120}`,
		`level=error msg="inventory timeout" order_id=3`,
		`reservation failed`,
		`level=info msg="order placed" order_id=4 duration_ms=7`,
	}
	line := func(k int) string { return ds.lines[k-1] }
	logsIngestPushLoki(t, v.URL,
		logsIngestLokiStream{
			Stream: map[string]string{"service_name": "checkout", "level": "info", "env": "e2e"},
			Values: [][]any{{ns(1), line(1)}, {ns(3), line(3)}, {ns(7), line(7)}, {ns(11), line(11)}},
		},
		logsIngestLokiStream{
			Stream: map[string]string{"service_name": "checkout", "level": "error", "env": "e2e"},
			Values: [][]any{{ns(5), line(5), map[string]string{"trace_id": ds.traceID}}, {ns(9), line(9)}},
		},
		logsIngestLokiStream{
			Stream: map[string]string{"app": "payments", "level": "warn"},
			Values: [][]any{{ns(4), line(4)}, {ns(8), line(8)}},
		},
	)
	obj := func(k int, level, sku string, extra map[string]any) map[string]any {
		o := map[string]any{"time": at(k).Format(time.RFC3339Nano), "level": level, "msg": line(k), "sku": sku}
		maps.Copy(o, extra)
		return o
	}
	logsIngestPushJSONLines(t, v.URL, url.Values{"service": {"inventory"}},
		obj(2, "debug", "A1", nil),
		obj(6, "info", "A1", map[string]any{"trace_id": ds.traceID}),
		obj(10, "error", "B2", nil),
	)
	return ds
}

func TestLogsAPIShapes(t *testing.T) {
	v := startVigil(t, withArgs("--host-metrics=false"))
	ds := logsAPILoad(t, v)
	t0, end := ds.t0, ds.t0.Add(10*time.Minute)
	all := `{service_name=~".+"}`
	rangeOf := func(q string, extra ...string) url.Values {
		p := url.Values{"query": {q}, "start": {logsAPINs(t0)}, "end": {logsAPINs(end)}}
		for i := 0; i+1 < len(extra); i += 2 {
			p.Set(extra[i], extra[i+1])
		}
		return p
	}
	linesOf := func(ks ...int) []string {
		var out []string
		for _, k := range ks {
			out = append(out, ds.lines[k-1])
		}
		return out
	}

	// Lines are queryable once their push is acknowledged; the poll only
	// absorbs a slow machine.
	eventually(t, 30*time.Second, func() string {
		_, es := logsAPIStreams(t, "all lines", logsAPIQuery(t, v, "/loki/api/v1/query_range", rangeOf(all)))
		if len(es) != len(ds.lines) {
			return fmt.Sprintf("%d lines stored, want %d", len(es), len(ds.lines))
		}
		return ""
	})

	t.Run("log query", func(t *testing.T) {
		for _, dir := range []string{"backward", "forward"} {
			p := rangeOf(`{service_name="checkout"}`, "direction", dir, "limit", "100")
			streams, es := logsAPIStreams(t, dir, logsAPIQuery(t, v, "/loki/api/v1/query_range", p))
			if got, want := logsAPISortedLines(es), linesOf(1, 3, 5, 7, 9, 11); !slices.Equal(got, want) {
				t.Errorf("%s: lines %q, want %q", dir, got, want)
			}
			levels := map[string]int{}
			for _, s := range streams {
				if s.Stream["service_name"] != "checkout" || s.Stream["env"] != "e2e" {
					t.Errorf("%s: stream labels %v, want service_name=checkout and env=e2e", dir, s.Stream)
				}
				levels[s.Stream["level"]] += len(s.Values)
				ok := slices.IsSortedFunc(s.Values, func(a, b []json.RawMessage) int {
					x, _ := strconv.ParseInt(strings.Trim(string(a[0]), `"`), 10, 64)
					y, _ := strconv.ParseInt(strings.Trim(string(b[0]), `"`), 10, 64)
					if dir == "backward" {
						x, y = y, x
					}
					return int(x - y)
				})
				if !ok {
					t.Errorf("%s: values of %v are not in %s order", dir, s.Stream, dir)
				}
			}
			if !maps.Equal(levels, map[string]int{"info": 4, "error": 2}) {
				t.Errorf("%s: lines by stream level %v, want info 4 and error 2", dir, levels)
			}
		}
		// limit keeps the newest lines backward, the oldest forward,
		// across streams.
		for _, tc := range []struct {
			dir  string
			want []string
		}{
			{"backward", linesOf(9, 10, 11)},
			{"forward", linesOf(1, 2, 3)},
		} {
			_, es := logsAPIStreams(t, tc.dir+" limit 3", logsAPIQuery(t, v, "/loki/api/v1/query_range", rangeOf(all, "direction", tc.dir, "limit", "3")))
			if got := logsAPISortedLines(es); !slices.Equal(got, tc.want) {
				t.Errorf("%s limit 3: lines %q, want %q", tc.dir, got, tc.want)
			}
		}
		// The Loki push stream keeps its labels, with service_name added
		// from app (and the per-line detected_level field, as Loki adds
		// it, if any).
		streams, _ := logsAPIStreams(t, "payments", logsAPIQuery(t, v, "/loki/api/v1/query_range", rangeOf(`{service_name="payments"}`)))
		for _, s := range streams {
			if dl, ok := s.Stream["detected_level"]; ok && dl != "warn" {
				t.Errorf("payments: detected_level %q, want warn", dl)
			}
			delete(s.Stream, "detected_level")
		}
		if len(streams) != 1 || !maps.Equal(streams[0].Stream, map[string]string{"app": "payments", "level": "warn", "service_name": "payments"}) {
			var got []map[string]string
			for _, s := range streams {
				got = append(got, s.Stream)
			}
			t.Errorf("payments streams %v, want one stream {app=payments, level=warn, service_name=payments}", got)
		}
	})

	t.Run("parsers and line fields", func(t *testing.T) {
		for _, tc := range []struct {
			q     string
			want  []string
			label [2]string // a label every result stream must carry
		}{
			{`{service_name="checkout"} | logfmt | order_id="2"`, linesOf(3, 5), [2]string{"order_id", "2"}},
			{`{service_name="payments"} | json | latency_ms > 500`, linesOf(4), [2]string{"latency_ms", "900"}},
			{`{service_name="inventory"} | sku="A1"`, linesOf(2, 6), [2]string{"sku", "A1"}},
			{all + ` | trace_id="` + ds.traceID + `"`, linesOf(5, 6), [2]string{"trace_id", ds.traceID}},
			{`{service_name="checkout"} |= "order placed" != "order_id=4"`, linesOf(1, 3), [2]string{"service_name", "checkout"}},
		} {
			streams, es := logsAPIStreams(t, tc.q, logsAPIQuery(t, v, "/loki/api/v1/query_range", rangeOf(tc.q)))
			if got := logsAPISortedLines(es); !slices.Equal(got, tc.want) {
				t.Errorf("%s: lines %q, want %q", tc.q, got, tc.want)
			}
			for _, s := range streams {
				if s.Stream[tc.label[0]] != tc.label[1] {
					t.Errorf("%s: stream %v has no %s=%q", tc.q, s.Stream, tc.label[0], tc.label[1])
				}
			}
		}
	})

	t.Run("metric query range", func(t *testing.T) {
		q := `sum by (level) (count_over_time({service_name="checkout"}[1m]))`
		m := logsAPIMatrix(t, q, logsAPIQuery(t, v, "/loki/api/v1/query_range", rangeOf(q, "step", "60")))
		// With a 1m range and a 60 s step the windows tile the range, so
		// the points of a level add up to its lines.
		sums := map[string]float64{}
		for _, s := range m {
			if len(s.Metric) != 1 {
				t.Errorf("series %v: want only the level label", s.Metric)
			}
			for _, raw := range s.Values {
				p := logsAPIPointOf(t, q, raw)
				off := p.T - float64(t0.Unix())
				if off < 0 || p.T > float64(end.Unix()) || math.Mod(off, 60) != 0 {
					t.Errorf("%v: point at %v, want a multiple of 60 s from %d up to %d", s.Metric, p.T, t0.Unix(), end.Unix())
				}
				f, err := strconv.ParseFloat(p.V, 64)
				if err != nil {
					t.Errorf("%v: value %q: %v", s.Metric, p.V, err)
				}
				sums[s.Metric["level"]] += f
			}
		}
		if !maps.Equal(sums, map[string]float64{"info": 4, "error": 2}) {
			t.Errorf("%s: counts by level %v, want info 4, error 2", q, sums)
		}
		// A bare Prometheus duration is a step too.
		if m := logsAPIMatrix(t, q, logsAPIQuery(t, v, "/loki/api/v1/query_range", rangeOf(q, "step", "1m"))); len(m) != 2 {
			t.Errorf("step=1m: %d series, want 2", len(m))
		}
	})

	t.Run("instant query", func(t *testing.T) {
		q := `sum by (service_name) (count_over_time({service_name=~".+"}[1h]))`
		vec := logsAPIVector(t, q, logsAPIQuery(t, v, "/loki/api/v1/query", url.Values{"query": {q}, "time": {logsAPINs(end)}}))
		got := map[string]string{}
		for _, s := range vec {
			p := logsAPIPointOf(t, q, s.Value)
			if p.T != float64(end.Unix()) {
				t.Errorf("%v: sample at %v, want the query time %d", s.Metric, p.T, end.Unix())
			}
			got[s.Metric["service_name"]] = p.V
		}
		if want := map[string]string{"checkout": "6", "inventory": "3", "payments": "2"}; !maps.Equal(got, want) {
			t.Errorf("%s = %v, want %v", q, got, want)
		}
		// Grafana's data source health check.
		hc := `vector(1)+vector(1)`
		vec = logsAPIVector(t, hc, logsAPIQuery(t, v, "/loki/api/v1/query", url.Values{"query": {hc}}))
		if len(vec) != 1 || len(vec[0].Metric) != 0 || logsAPIPointOf(t, hc, vec[0].Value).V != "2" {
			t.Errorf("%s = %+v, want one sample {} 2", hc, vec)
		}
	})

	t.Run("labels series and stats", func(t *testing.T) {
		window := url.Values{"start": {logsAPINs(t0)}, "end": {logsAPINs(end)}}
		var names []string
		if err := json.Unmarshal(logsAPIData(t, v, "/loki/api/v1/labels", window), &names); err != nil {
			t.Fatal(err)
		}
		// Stream labels only: line fields (trace_id, sku) are not index
		// labels, as in Loki.
		if want := []string{"app", "env", "level", "service_name"}; !slices.Equal(names, want) {
			t.Errorf("/labels = %q, want %q", names, want)
		}
		var values []string
		if err := json.Unmarshal(logsAPIData(t, v, "/loki/api/v1/label/service_name/values", window), &values); err != nil {
			t.Fatal(err)
		}
		if want := []string{"checkout", "inventory", "payments"}; !slices.Equal(values, want) {
			t.Errorf("/label/service_name/values = %q, want %q", values, want)
		}
		p := maps.Clone(window)
		p.Set("query", `{service_name="checkout"}`)
		if err := json.Unmarshal(logsAPIData(t, v, "/loki/api/v1/label/level/values", p), &values); err != nil {
			t.Fatal(err)
		}
		if want := []string{"error", "info"}; !slices.Equal(values, want) {
			t.Errorf("/label/level/values for checkout = %q, want %q", values, want)
		}

		p = maps.Clone(window)
		p["match[]"] = []string{`{service_name="checkout"}`, `{app="payments"}`}
		var series []map[string]string
		if err := logsAPIStrict(logsAPIData(t, v, "/loki/api/v1/series", p), &series); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range series {
			got = append(got, fmt.Sprint(s))
		}
		slices.Sort(got)
		want := []string{
			fmt.Sprint(map[string]string{"app": "payments", "level": "warn", "service_name": "payments"}),
			fmt.Sprint(map[string]string{"env": "e2e", "level": "error", "service_name": "checkout"}),
			fmt.Sprint(map[string]string{"env": "e2e", "level": "info", "service_name": "checkout"}),
		}
		if !slices.Equal(got, want) {
			t.Errorf("/series = %q, want %q", got, want)
		}

		// /index/stats is a bare object, not in the envelope.
		p = maps.Clone(window)
		p.Set("query", `{service_name="checkout"}`)
		code, ct, b := logsAPIGet(t, v, "/loki/api/v1/index/stats", p)
		if code != 200 || !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("/index/stats: %d %s %s", code, ct, b)
		}
		var stats struct {
			Streams *int64 `json:"streams"`
			Chunks  *int64 `json:"chunks"`
			Entries *int64 `json:"entries"`
			Bytes   *int64 `json:"bytes"`
		}
		if err := logsAPIStrict(b, &stats); err != nil {
			t.Fatalf("/index/stats %s: %v", b, err)
		}
		switch {
		case stats.Streams == nil || stats.Chunks == nil || stats.Entries == nil || stats.Bytes == nil:
			t.Errorf("/index/stats %s: want streams, chunks, entries and bytes", b)
		case *stats.Streams != 2:
			t.Errorf("/index/stats %s: streams %d, want 2", b, *stats.Streams)
		case *stats.Entries != 0 && *stats.Entries != 6, *stats.Chunks < 0, *stats.Bytes < 0:
			t.Errorf("/index/stats %s: entries want 6 (or 0: not counted)", b)
		}
	})

	t.Run("time formats", func(t *testing.T) {
		// 35 s to 75 s after t0 holds lines 4 to 7, whichever way the
		// bounds are written.
		a, b := t0.Add(35*time.Second), t0.Add(75*time.Second)
		zone := time.FixedZone("e2e", 2*3600+30*60)
		for _, tc := range []struct{ name, start, end string }{
			{"Unix ns", logsAPINs(a), logsAPINs(b)},
			{"Unix s", strconv.FormatInt(a.Unix(), 10), strconv.FormatInt(b.Unix(), 10)},
			{"float s", strconv.FormatInt(a.Unix(), 10) + ".0", strconv.FormatInt(b.Unix(), 10) + ".5"},
			{"RFC 3339", a.UTC().Format(time.RFC3339), b.In(zone).Format(time.RFC3339)},
			{"RFC 3339 ns", a.In(zone).Format(time.RFC3339Nano), b.UTC().Format(time.RFC3339Nano)},
		} {
			p := url.Values{"query": {all}, "start": {tc.start}, "end": {tc.end}, "direction": {"forward"}}
			_, es := logsAPIStreams(t, tc.name, logsAPIQuery(t, v, "/loki/api/v1/query_range", p))
			if got, want := logsAPISortedLines(es), linesOf(4, 5, 6, 7); !slices.Equal(got, want) {
				t.Errorf("%s (start=%s end=%s): lines %q, want %q", tc.name, tc.start, tc.end, got, want)
			}
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name, path string
			p          url.Values
			prefix     string // the body starts with it
			contains   string // and contains it
		}{
			{"bad LogQL", "/loki/api/v1/query_range", rangeOf(`{service_name="checkout"`), "parse error", ""},
			{"bad LogQL instant", "/loki/api/v1/query", url.Values{"query": {`sum(count_over_time({a="b"}[1m])`}}, "parse error", ""},
			{"unsupported stage", "/loki/api/v1/query_range", rangeOf(`{service_name="checkout"} | unpack`), "", "unpack"},
			{"unsupported function", "/loki/api/v1/query", url.Values{"query": {`absent(count_over_time({a="b"}[1m]))`}}, "", "absent"},
			{"missing query", "/loki/api/v1/query_range", url.Values{"start": {logsAPINs(t0)}}, "", "query"},
			{"missing instant query", "/loki/api/v1/query", nil, "", "query"},
			{"bad step", "/loki/api/v1/query_range", rangeOf(`count_over_time({a="b"}[1m])`, "step", "often"), "", "step"},
			{"zero step", "/loki/api/v1/query_range", rangeOf(`count_over_time({a="b"}[1m])`, "step", "0"), "", "step"},
			{"bad start", "/loki/api/v1/query_range", url.Values{"query": {all}, "start": {"yesterday"}}, "", "start"},
			{"bad limit", "/loki/api/v1/query_range", rangeOf(all, "limit", "-1"), "", "limit"},
			{"bad direction", "/loki/api/v1/query_range", rangeOf(all, "direction", "sideways"), "", "direction"},
			{"series without match", "/loki/api/v1/series", nil, "", "match"},
			{"bad selector", "/loki/api/v1/series", url.Values{"match[]": {`{service_name=`}}, "", ""},
		} {
			code, ct, b := logsAPIGet(t, v, tc.path, tc.p)
			body := string(b)
			switch {
			case code != 400:
				t.Errorf("%s: %d %q, want 400", tc.name, code, body)
			case !strings.HasPrefix(ct, "text/plain"):
				t.Errorf("%s: Content-Type %q, want text/plain (Loki's errors are plain text)", tc.name, ct)
			case json.Valid(b):
				t.Errorf("%s: body is JSON %q, want plain text", tc.name, body)
			case !strings.HasPrefix(body, tc.prefix) || !strings.Contains(body, tc.contains):
				t.Errorf("%s: body %q, want it to start with %q and contain %q", tc.name, body, tc.prefix, tc.contains)
			case strings.TrimSpace(body) == "":
				t.Errorf("%s: empty error message", tc.name)
			}
		}
	})

	t.Run("empty results are arrays", func(t *testing.T) {
		none := `{service_name="nosuch"}`
		for _, tc := range []struct {
			name, path string
			p          url.Values
			typ        string
		}{
			{"log query", "/loki/api/v1/query_range", rangeOf(none), "streams"},
			{"metric range", "/loki/api/v1/query_range", rangeOf(`count_over_time(`+none+`[1m])`, "step", "60"), "matrix"},
			{"instant", "/loki/api/v1/query", url.Values{"query": {`count_over_time(` + none + `[1m])`}}, "vector"},
		} {
			d := logsAPIQuery(t, v, tc.path, tc.p)
			if d.ResultType != tc.typ || string(bytes.TrimSpace(d.Result)) != "[]" {
				t.Errorf("%s: resultType %q result %s, want %s []", tc.name, d.ResultType, d.Result, tc.typ)
			}
		}
		long := url.Values{"start": {"1000000000"}, "end": {"1000003600"}} // 2001: nothing stored
		for _, tc := range []struct {
			path string
			p    url.Values
		}{
			{"/loki/api/v1/labels", long},
			{"/loki/api/v1/label/service_name/values", long},
			{"/loki/api/v1/label/nosuch/values", nil},
			{"/loki/api/v1/series", url.Values{"match[]": {none}}},
		} {
			if d := logsAPIData(t, v, tc.path, tc.p); string(bytes.TrimSpace(d)) != "[]" {
				t.Errorf("%s?%s: data %s, want []", tc.path, tc.p.Encode(), d)
			}
		}
	})
}

// logsTailMessage is Loki's tail message: new lines by stream, and the
// lines the server could not send.
type logsTailMessage struct {
	Streams []struct {
		Stream map[string]string `json:"stream"`
		Values [][]string        `json:"values"`
	} `json:"streams"`
	DroppedEntries []struct {
		Labels    map[string]string `json:"labels"`
		Timestamp string            `json:"timestamp"`
	} `json:"dropped_entries"`
}

// logsTailConn is one live tail; read decodes its messages.
type logsTailConn struct {
	t    *testing.T
	conn *websocket.Conn
}

// logsTailDial opens a live tail of query from start (zero: the server's
// default). rcvbuf > 0 shrinks the socket's receive buffer, so a reader
// that stops reading makes the server's writes block soon.
func logsTailDial(t *testing.T, v *vigil, query string, start time.Time, limit, rcvbuf int) *logsTailConn {
	t.Helper()
	p := url.Values{"query": {query}, "limit": {strconv.Itoa(limit)}}
	if !start.IsZero() {
		p.Set("start", logsAPINs(start))
	}
	d := websocket.Dialer{HandshakeTimeout: 30 * time.Second}
	if rcvbuf > 0 {
		nd := net.Dialer{Control: func(network, address string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			})
			if err != nil {
				return err
			}
			return serr
		}}
		d.NetDialContext = nd.DialContext
		d.ReadBufferSize = 1024
	}
	u := "ws://" + strings.TrimPrefix(v.URL, "http://") + "/loki/api/v1/tail?" + p.Encode()
	conn, resp, err := d.Dial(u, nil)
	if err != nil {
		var body []byte
		if resp != nil {
			body, _ = io.ReadAll(resp.Body)
		}
		t.Fatalf("cannot open tail %s: %v %s", u, err, body)
	}
	conn.SetReadLimit(256 << 20)
	t.Cleanup(func() { conn.Close() })
	return &logsTailConn{t: t, conn: conn}
}

// read returns the next message, or fails the test at the deadline.
func (c *logsTailConn) read(deadline time.Time) logsTailMessage {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(deadline)
	typ, b, err := c.conn.ReadMessage()
	if err != nil {
		c.t.Fatalf("tail: cannot read a message: %v", err)
	}
	if typ != websocket.TextMessage {
		c.t.Fatalf("tail: message of type %d, want text", typ)
	}
	var m logsTailMessage
	if err := logsAPIStrict(b, &m); err != nil {
		c.t.Fatalf("tail: message is not Loki's tail shape: %v: %.300s", err, b)
	}
	for _, s := range m.Streams {
		for _, val := range s.Values {
			if len(val) != 2 {
				c.t.Fatalf("tail: value %q, want [ns, line]", val)
			}
			if _, err := strconv.ParseInt(val[0], 10, 64); err != nil {
				c.t.Fatalf("tail: timestamp %q is not Unix ns", val[0])
			}
		}
	}
	for _, d := range m.DroppedEntries {
		if _, err := strconv.ParseInt(d.Timestamp, 10, 64); err != nil || len(d.Labels) == 0 {
			c.t.Fatalf("tail: dropped entry %+v: want labels and a Unix ns timestamp", d)
		}
	}
	return m
}

// logsTailDropped is how many lines a message says were dropped. Each
// entry names one line, except Vigil's summary of the lines beyond those
// it names: labels {__dropped_unnamed__="N"} (api/lokiapi/tail.go).
func logsTailDropped(t *testing.T, m logsTailMessage) int {
	t.Helper()
	n := 0
	for _, d := range m.DroppedEntries {
		if s, ok := d.Labels["__dropped_unnamed__"]; ok {
			k, err := strconv.Atoi(s)
			if err != nil || k <= 0 {
				t.Fatalf("tail: summary dropped entry %v: want a positive count", d.Labels)
			}
			n += k
			continue
		}
		n++
	}
	return n
}

func TestLogsTail(t *testing.T) {
	v := startVigil(t, withArgs("--host-metrics=false"))
	now := time.Now()
	stream := map[string]string{"service_name": "tailsvc", "env": "e2e"}
	entries := func(at time.Time, lines ...string) [][]any {
		var out [][]any
		for i, l := range lines {
			out = append(out, []any{logsAPINs(at.Add(time.Duration(i) * time.Millisecond)), l})
		}
		return out
	}
	// Lines from before the tail opened: the matching ones come first.
	early := []string{"early-1 ERROR disk full", "early-2 ERROR disk full", "early-3 ERROR disk full"}
	logsIngestPushLoki(t, v.URL, logsIngestLokiStream{Stream: stream, Values: entries(now.Add(-2*time.Minute),
		early[0], "early ok", early[1], "early fine", early[2])})

	tail := logsTailDial(t, v, `{service_name="tailsvc"} |= "ERROR"`, now.Add(-5*time.Minute), 100, 0)

	live := []string{"live-1 ERROR timeout", "live-2 ERROR timeout", "live-3 ERROR timeout"}
	logsIngestPushLoki(t, v.URL,
		logsIngestLokiStream{Stream: stream, Values: entries(time.Now(), "live ok", live[0], "live fine", live[1])},
		// Another stream: the selector leaves it out even though the line matches.
		logsIngestLokiStream{Stream: map[string]string{"service_name": "other"}, Values: entries(time.Now(), "other ERROR")},
	)
	logsIngestPushLoki(t, v.URL, logsIngestLokiStream{Stream: stream, Values: entries(time.Now(), live[2], "more fine")})
	// A sentinel after one more batch of non-matching lines: once it
	// arrives, everything pushed before it was either sent or filtered.
	logsIngestPushLoki(t, v.URL, logsIngestLokiStream{Stream: stream, Values: entries(time.Now(), "last ok", "last fine")})
	logsIngestPushLoki(t, v.URL, logsIngestLokiStream{Stream: stream, Values: entries(time.Now(), "sentinel ERROR")})

	var got []string
	deadline := time.Now().Add(60 * time.Second)
	for !slices.Contains(got, "sentinel ERROR") {
		m := tail.read(deadline)
		if n := logsTailDropped(t, m); n > 0 {
			t.Fatalf("tail dropped %d lines of a handful: %+v", n, m.DroppedEntries)
		}
		for _, s := range m.Streams {
			if s.Stream["service_name"] != "tailsvc" || s.Stream["env"] != "e2e" {
				t.Errorf("tail: stream %v, want service_name=tailsvc env=e2e", s.Stream)
			}
			for _, val := range s.Values {
				got = append(got, val[1])
			}
		}
	}
	want := append(append(slices.Clone(early), live...), "sentinel ERROR")
	if !slices.Equal(got, want) {
		t.Errorf("tail lines in order of arrival %q, want %q (the earlier ones first, no line twice, none that does not match)", got, want)
	}

	t.Run("slow reader", func(t *testing.T) {
		logsTailSlowReader(t, v)
	})
}

// logsTailSlowReader opens a tail and stops reading while thousands of
// lines are pushed: every line must then be accounted for, sent or
// reported in dropped_entries, never lost silently.
func logsTailSlowReader(t *testing.T, v *vigil) {
	stream := map[string]string{"service_name": "flood"}
	tail := logsTailDial(t, v, `{service_name="flood"} |= "flood"`, time.Now(), 100, 4096)

	// Big lines fill the socket buffers between the server and this
	// reader, so the server's writer blocks and its queue overflows.
	// Pushing stops after 3 s: the server gives up on a write
	// blocked for 10 s.
	const perPush, pushes = 100, 200
	pad := strings.Repeat("x", 500)
	pushed := 0
	began := time.Now()
	for i := 0; i < pushes && time.Since(began) < 3*time.Second; i++ {
		var vals [][]any
		at := time.Now()
		for j := range perPush {
			vals = append(vals, []any{logsAPINs(at.Add(time.Duration(j))), fmt.Sprintf("flood %d %s", pushed+j, pad)})
		}
		logsIngestPushLoki(t, v.URL, logsIngestLokiStream{Stream: stream, Values: vals})
		pushed += perPush
	}

	seen := make(map[int]bool, pushed)
	dropped, messages := 0, 0
	deadline := time.Now().Add(90 * time.Second)
	for len(seen)+dropped < pushed {
		m := tail.read(deadline)
		messages++
		dropped += logsTailDropped(t, m)
		for _, s := range m.Streams {
			for _, val := range s.Values {
				var n int
				if _, err := fmt.Sscanf(val[1], "flood %d", &n); err != nil || n < 0 || n >= pushed {
					t.Fatalf("tail sent %.40q, which was not pushed", val[1])
				}
				if seen[n] {
					t.Fatalf("tail sent line %d twice", n)
				}
				seen[n] = true
			}
		}
	}
	// One more line: anything still in flight arrives before it.
	logsIngestPushLoki(t, v.URL, logsIngestLokiStream{Stream: stream, Values: [][]any{{logsAPINs(time.Now()), "flood end"}}})
	for end := false; !end; {
		m := tail.read(deadline)
		dropped += logsTailDropped(t, m)
		for _, s := range m.Streams {
			for _, val := range s.Values {
				if val[1] == "flood end" {
					end = true
					continue
				}
				t.Fatalf("tail sent %.40q after every pushed line was accounted for", val[1])
			}
		}
	}
	if len(seen)+dropped != pushed {
		t.Fatalf("%d lines pushed: %d received + %d reported dropped = %d", pushed, len(seen), dropped, len(seen)+dropped)
	}
	t.Logf("%d lines pushed in %v: %d received in %d messages, %d reported in dropped_entries", pushed, time.Since(began).Round(time.Millisecond), len(seen), messages, dropped)
}
