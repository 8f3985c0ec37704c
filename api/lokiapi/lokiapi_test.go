package lokiapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/vigilhq/vigil/logs/logql"
	"github.com/vigilhq/vigil/logs/store"
	"github.com/vigilhq/vigil/logs/tail"
	"github.com/vigilhq/vigil/storage/events"
	"github.com/vigilhq/vigil/storage/logs"
)

var now = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

type fixture struct {
	srv    *httptest.Server
	ev     *events.Store[logs.Record]
	broker *tail.Broker
}

func rec(svc, lvl, body string, ago time.Duration) logs.Record {
	return logs.Record{Service: svc, Time: now.Add(-ago), SeverityText: lvl, SeverityNumber: logs.SeverityOf(lvl), Body: body,
		Stream: logs.StreamString(map[string]string{"service_name": svc, "level": lvl})}
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ev, err := events.Open(events.Options[logs.Record]{Dir: t.TempDir(), Schema: logs.Schema, Compare: logs.Compare, Extra: logs.Extra, MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ev.Close() })
	recs := []logs.Record{
		rec("checkout", "info", "order 1 created", 10*time.Minute),
		rec("checkout", "error", "order 2 failed: card declined", 9*time.Minute),
		rec("checkout", "info", "order 3 created", 8*time.Minute),
		rec("payments", "warn", "retrying gateway", 7*time.Minute),
	}
	if err := ev.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	st := store.New(ev)
	b := tail.New(0, nil)
	h := New(Options{Engine: logql.NewEngine(st, logql.Options{Now: func() time.Time { return now }}), Streams: st, Tail: b, Now: func() time.Time { return now }})
	f := &fixture{srv: httptest.NewServer(h), ev: ev, broker: b}
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) get(t *testing.T, path string, q url.Values) (int, string) {
	t.Helper()
	res, err := http.Get(f.srv.URL + path + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

type response struct {
	Status string `json:"status"`
	Data   struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
		Stats      map[string]any  `json:"stats"`
	} `json:"data"`
}

func TestQueryRangeStreams(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		dir   string
		limit string
		want  []string
	}{
		{"backward", "2", []string{"order 3 created", "order 2 failed: card declined"}},
		{"forward", "2", []string{"order 1 created", "order 2 failed: card declined"}},
	} {
		code, body := f.get(t, "/loki/api/v1/query_range", url.Values{"query": {`{service_name="checkout"}`}, "direction": {c.dir}, "limit": {c.limit},
			"start": {fmt.Sprint(now.Add(-time.Hour).UnixNano())}, "end": {fmt.Sprint(now.Unix())}})
		var r response
		if err := json.Unmarshal([]byte(body), &r); err != nil || code != 200 || r.Status != "success" || r.Data.ResultType != "streams" || r.Data.Stats["summary"] == nil {
			t.Fatalf("%s: %d %s", c.dir, code, body)
		}
		var streams []struct {
			Stream map[string]string `json:"stream"`
			Values [][2]string       `json:"values"`
		}
		if err := json.Unmarshal(r.Data.Result, &streams); err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, s := range streams {
			if s.Stream["service_name"] != "checkout" {
				t.Errorf("stream labels %v", s.Stream)
			}
			for _, v := range s.Values {
				if _, err := time.Parse(time.RFC3339, v[0]); err == nil || len(v[0]) != 19 {
					t.Errorf("timestamp %q is not Unix ns", v[0])
				}
				lines = append(lines, v[1])
			}
		}
		if len(lines) != 2 || !(contains(lines, c.want[0]) && contains(lines, c.want[1])) {
			t.Errorf("%s: lines %v, want %v", c.dir, lines, c.want)
		}
	}
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

func TestMetricQueries(t *testing.T) {
	f := newFixture(t)
	code, body := f.get(t, "/loki/api/v1/query_range", url.Values{"query": {`sum by (level) (count_over_time({service_name=~".+"}[1h]))`},
		"start": {now.Add(-time.Minute).Format(time.RFC3339)}, "end": {now.Format(time.RFC3339)}, "step": {"60"}})
	var r response
	if json.Unmarshal([]byte(body), &r); code != 200 || r.Data.ResultType != "matrix" {
		t.Fatalf("%d %s", code, body)
	}
	var m []struct {
		Metric map[string]string `json:"metric"`
		Values [][2]any          `json:"values"`
	}
	json.Unmarshal(r.Data.Result, &m)
	got := map[string]string{}
	for _, s := range m {
		last := s.Values[len(s.Values)-1]
		if _, ok := last[0].(float64); !ok {
			t.Errorf("sample time %v is not a number", last[0])
		}
		got[s.Metric["level"]] = last[1].(string)
	}
	if want := map[string]string{"info": "2", "error": "1", "warn": "1"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("counts %v, want %v", got, want)
	}
	code, body = f.get(t, "/loki/api/v1/query", url.Values{"query": {`vector(1)+vector(1)`}})
	if code != 200 || !strings.Contains(body, `"resultType":"vector"`) || !strings.Contains(body, `"2"]`) {
		t.Errorf("Grafana's health check: %d %s", code, body)
	}
	// Empty results are [] (Grafana fails on null).
	code, body = f.get(t, "/loki/api/v1/query_range", url.Values{"query": {`count_over_time({service_name="nope"}[1m])`}})
	if code != 200 || !strings.Contains(body, `"result":[]`) {
		t.Errorf("empty result: %d %s", code, body)
	}
}

func TestLabelsSeriesStats(t *testing.T) {
	f := newFixture(t)
	for path, want := range map[string]string{
		"/loki/api/v1/labels":                    `{"data":["level","service_name"],"status":"success"}`,
		"/loki/api/v1/label/service_name/values": `{"data":["checkout","payments"],"status":"success"}`,
		"/loki/api/v1/index/stats":               `{"bytes":0,"chunks":0,"entries":0,"streams":3}`,
	} {
		q := url.Values{}
		if strings.Contains(path, "stats") {
			q.Set("query", `{service_name=~".+"}`)
		}
		if code, body := f.get(t, path, q); code != 200 || body != want {
			t.Errorf("%s: %d %s, want %s", path, code, body, want)
		}
	}
	code, body := f.get(t, "/loki/api/v1/series", url.Values{"match[]": {`{service_name="checkout"}`}})
	if code != 200 || body != `{"data":[{"level":"error","service_name":"checkout"},{"level":"info","service_name":"checkout"}],"status":"success"}` {
		t.Errorf("series: %d %s", code, body)
	}
}

func TestErrors(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		path string
		q    url.Values
		code int
		msg  string
	}{
		{"/loki/api/v1/query_range", url.Values{"query": {`{service_name="x"`}}, 400, "parse error at line 1"},
		{"/loki/api/v1/query_range", url.Values{"query": {`{service_name="x"} | unpack`}}, 400, `unsupported: "| unpack"`},
		{"/loki/api/v1/query_range", url.Values{}, 400, "query must not be empty"},
		{"/loki/api/v1/query_range", url.Values{"query": {`{a="b"}`}, "step": {"-1"}}, 400, "could not parse 'step' parameter"},
		{"/loki/api/v1/query_range", url.Values{"query": {`{a="b"}`}, "start": {"yesterday"}}, 400, "could not parse 'start' parameter"},
		{"/loki/api/v1/query_range", url.Values{"query": {`{a="b"}`}, "limit": {"100000"}}, 400, "over the maximum"},
		{"/loki/api/v1/query_range", url.Values{"query": {`{a="b"}`}, "direction": {"sideways"}}, 400, "invalid direction"},
		{"/loki/api/v1/query_range", url.Values{"query": {`rate({a="b"}[1m])`}, "start": {"0"}, "end": {fmt.Sprint(now.Unix())}, "step": {"1"}}, 400, "maximum resolution"},
		{"/loki/api/v1/series", url.Values{}, 400, "match[]"},
		{"/loki/api/v1/labels", url.Values{"query": {`count_over_time({a="b"}[1m])`}}, 400, "stream selector"},
	} {
		code, body := f.get(t, c.path, c.q)
		if code != c.code || !strings.Contains(body, c.msg) {
			t.Errorf("%s %v: %d %q, want %d containing %q", c.path, c.q, code, body, c.code, c.msg)
		}
	}
}

func TestTail(t *testing.T) {
	f := newFixture(t)
	u := "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/loki/api/v1/tail?" + url.Values{
		"query": {`{service_name="checkout"} |= "order"`}, "start": {fmt.Sprint(now.Add(-time.Hour).UnixNano())}}.Encode()
	conn, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var m tailMessage
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if err := conn.ReadJSON(&m); err != nil {
		t.Fatal(err)
	}
	if n := countLines(m); n != 3 {
		t.Fatalf("history has %d lines, want the 3 checkout orders: %+v", n, m)
	}
	// New lines: only the matching one arrives.
	live := []logs.Record{rec("checkout", "info", "order 4 created", 0), rec("payments", "info", "order elsewhere", 0), rec("checkout", "info", "no match", 0)}
	for i := range live {
		live[i].Time = time.Now()
	}
	f.broker.Publish(live)
	if err := conn.ReadJSON(&m); err != nil {
		t.Fatal(err)
	}
	if countLines(m) != 1 || m.Streams[0].Values[0][1] != "order 4 created" {
		t.Fatalf("live message %+v", m)
	}
}

func countLines(m tailMessage) int {
	n := 0
	for _, s := range m.Streams {
		n += len(s.Values)
	}
	return n
}

func TestParseTime(t *testing.T) {
	def := time.Unix(5, 0)
	for in, want := range map[string]time.Time{
		"":                     def,
		"1700000000":           time.Unix(1700000000, 0),
		"1700000000123456789":  time.Unix(0, 1700000000123456789),
		"1700000000.5":         time.Unix(1700000000, 5e8),
		"2023-11-14T22:13:20Z": time.Unix(1700000000, 0),
	} {
		got, err := parseTime("start", in, def)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}
