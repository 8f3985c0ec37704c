package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// A span part is plain Parquet: DuckDB (npm @duckdb/node-api, installed in
// e2e/duckdb by scripts/install-test-deps.sh) reads a part Vigil cut, with
// the column types docs/storage-format.md documents and the values sent.
func TestDuckDBReadsPart(t *testing.T) {
	node := tool(t, "node")
	if _, err := os.Stat("duckdb/node_modules/@duckdb/node-api"); err != nil {
		t.Fatalf("@duckdb/node-api is not installed in e2e/duckdb: run scripts/install-test-deps.sh: %v", err)
	}
	v := startVigil(t, withArgs("--host-metrics=false"))

	traceID, rootID, childID, linkedTrace, linkedSpan := randomHex(16), randomHex(8), randomHex(8), randomHex(16), randomHex(8)
	// Nanosecond digits, to see how far each reader keeps them.
	start := time.Now().Add(-3 * time.Second).Truncate(time.Second).Add(123_456_789)
	ns := func(d time.Duration) string { return strconv.FormatInt(start.Add(d).UnixNano(), 10) }
	postOTLPJSON(t, v.OTLPHTTP, otlpTraces(otlpResourceSpans(
		[]otlpKV{otlpStr("service.name", "duckdb-e2e"), otlpStr("deployment.environment", "e2e")}, "e2e.duckdb", "1.0.0",
		otlpSpan{TraceID: traceID, SpanID: rootID, Name: "GET /parts", Kind: 2,
			StartTimeUnixNano: ns(0), EndTimeUnixNano: ns(42_000_001),
			Attributes: []otlpKV{otlpStr("http.route", "/parts"), otlpInt("http.response.status_code", 500), otlpBool("cached", false)},
			Events: []otlpEvent{{TimeUnixNano: ns(40_000_000), Name: "exception",
				Attributes: []otlpKV{otlpStr("exception.type", "IOError"), otlpStr("exception.message", "disk gone")}}},
			Links:  []otlpLink{{TraceID: linkedTrace, SpanID: linkedSpan, Attributes: []otlpKV{otlpStr("link.kind", "batch")}}},
			Status: otlpStatus{Code: 2, Message: "disk gone"}},
		otlpSpan{TraceID: traceID, SpanID: childID, ParentSpanID: rootID, Name: "SELECT parts", Kind: 3,
			StartTimeUnixNano: ns(1_000_000), EndTimeUnixNano: ns(31_000_000),
			Attributes: []otlpKV{otlpStr("db.system", "sqlite")}},
	)))

	// A clean stop may leave the spans in the WAL only; after the restart
	// the store cuts its head into a part in the background.
	if code := v.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("vigil exited with %d on SIGTERM:\n%s", code, tail(v.log.String(), 40))
	}
	v.restart()
	glob := filepath.Join(v.DataDir, "spans", "parts", "part-*", "data.parquet")
	eventually(t, 60*time.Second, func() string {
		if m, _ := filepath.Glob(glob); len(m) == 0 {
			return "no span part: nothing matches " + glob
		}
		return ""
	})
	files, _ := filepath.Glob(glob)
	src := fmt.Sprintf("read_parquet('%s')", glob)

	res := duckdb(t, node,
		"DESCRIBE SELECT * FROM "+src,
		fmt.Sprintf("SELECT name, type, CAST(type_length AS VARCHAR) AS type_length, logical_type FROM parquet_schema('%s')", files[0]),
		`SELECT lower(hex(trace_id)) AS trace_id, CAST(octet_length(trace_id) AS VARCHAR) AS trace_id_len,
			lower(hex(span_id)) AS span_id, lower(hex(parent_span_id)) AS parent_span_id, trace_state,
			service, name, kind, CAST(epoch_us(start) AS VARCHAR) AS start_us, CAST(duration_ns AS VARCHAR) AS duration_ns,
			status_code, status_message, scope_name, scope_version,
			resource_attributes['service.name'] AS res_service, resource_attributes['deployment.environment'] AS res_env,
			attributes['http.route'] AS route, attributes['http.response.status_code'] AS status, attributes['cached'] AS cached,
			attributes['db.system'] AS db, CAST(cardinality(attributes) AS VARCHAR) AS n_attrs,
			CAST(len(events) AS VARCHAR) AS n_events, events[1].name AS event_name,
			CAST(epoch_us(events[1].time) AS VARCHAR) AS event_us, events[1].attributes['exception.type'] AS event_type,
			CAST(len(links) AS VARCHAR) AS n_links, lower(hex(links[1].trace_id)) AS link_trace, lower(hex(links[1].span_id)) AS link_span,
			links[1].attributes['link.kind'] AS link_kind
		FROM `+src+` WHERE lower(hex(trace_id)) = '`+traceID+`' ORDER BY start`,
	)

	// DuckDB's view of the documented schema. DuckDB (1.5) has no
	// nanosecond type with a time zone, so it reads the TIMESTAMP(NANOS,
	// isAdjustedToUTC=true) columns as TIMESTAMP WITH TIME ZONE, in
	// microseconds; the Parquet types themselves are checked below.
	wantTypes := [][2]string{
		{"trace_id", "BLOB"}, {"span_id", "BLOB"}, {"parent_span_id", "BLOB"}, {"trace_state", "VARCHAR"},
		{"service", "VARCHAR"}, {"name", "VARCHAR"}, {"kind", "VARCHAR"}, {"start", "TIMESTAMP WITH TIME ZONE"},
		{"duration_ns", "BIGINT"}, {"status_code", "VARCHAR"}, {"status_message", "VARCHAR"},
		{"scope_name", "VARCHAR"}, {"scope_version", "VARCHAR"},
		{"resource_attributes", "MAP(VARCHAR, VARCHAR)"}, {"attributes", "MAP(VARCHAR, VARCHAR)"},
		{"events", `STRUCT("time" TIMESTAMP WITH TIME ZONE, "name" VARCHAR, attributes MAP(VARCHAR, VARCHAR))[]`},
		{"links", "STRUCT(trace_id BLOB, span_id BLOB, trace_state VARCHAR, attributes MAP(VARCHAR, VARCHAR))[]"},
	}
	var gotTypes [][2]string
	for _, r := range res[0] {
		gotTypes = append(gotTypes, [2]string{r["column_name"], r["column_type"]})
	}
	if fmt.Sprint(gotTypes) != fmt.Sprint(wantTypes) {
		t.Errorf("DuckDB column types:\n got %v\nwant %v", gotTypes, wantTypes)
	}

	// The Parquet types under them: fixed-length ids, nanosecond UTC
	// timestamps, signed 64-bit durations.
	schema := map[string]map[string]string{}
	for _, r := range res[1] {
		if _, dup := schema[r["name"]]; !dup { // top-level columns come first
			schema[r["name"]] = r
		}
	}
	for _, c := range []struct{ col, typ, length, logical string }{
		{"trace_id", "FIXED_LEN_BYTE_ARRAY", "16", ""},
		{"span_id", "FIXED_LEN_BYTE_ARRAY", "8", ""},
		{"parent_span_id", "FIXED_LEN_BYTE_ARRAY", "8", ""},
		{"start", "INT64", "", "TimestampType(isAdjustedToUTC=1, unit=TimeUnit(MILLIS=<null>, MICROS=<null>, NANOS=NanoSeconds()))"},
		{"duration_ns", "INT64", "", "IntType(bitWidth=@, isSigned=1)"},
		{"service", "BYTE_ARRAY", "", "StringType()"},
		{"attributes", "", "", "MapType()"},
		{"events", "", "", "ListType()"},
	} {
		r := schema[c.col]
		if r == nil || r["type"] != c.typ || (c.length != "" && r["type_length"] != c.length) || r["logical_type"] != c.logical {
			t.Errorf("Parquet column %s: %v, want type %q length %q logical %q", c.col, r, c.typ, c.length, c.logical)
		}
	}

	rows := res[2]
	if len(rows) != 2 {
		t.Fatalf("DuckDB found %d rows of trace %s in %v, want 2: %v", len(rows), traceID, files, rows)
	}
	us := func(d time.Duration) string { return strconv.FormatInt(start.Add(d).UnixMicro(), 10) }
	want := []map[string]string{{
		"trace_id": traceID, "trace_id_len": "16", "span_id": rootID, "parent_span_id": "0000000000000000", "trace_state": "",
		"service": "duckdb-e2e", "name": "GET /parts", "kind": "server", "start_us": us(0), "duration_ns": "42000001",
		"status_code": "error", "status_message": "disk gone", "scope_name": "e2e.duckdb", "scope_version": "1.0.0",
		"res_service": "duckdb-e2e", "res_env": "e2e",
		"route": "/parts", "status": "500", "cached": "false", "db": "", "n_attrs": "3",
		"n_events": "1", "event_name": "exception", "event_us": us(40 * time.Millisecond), "event_type": "IOError",
		"n_links": "1", "link_trace": linkedTrace, "link_span": linkedSpan, "link_kind": "batch",
	}, {
		"trace_id": traceID, "trace_id_len": "16", "span_id": childID, "parent_span_id": rootID, "trace_state": "",
		"service": "duckdb-e2e", "name": "SELECT parts", "kind": "client", "start_us": us(time.Millisecond), "duration_ns": "30000000",
		"status_code": "unset", "status_message": "", "scope_name": "e2e.duckdb", "scope_version": "1.0.0",
		"res_service": "duckdb-e2e", "res_env": "e2e",
		"route": "", "status": "", "cached": "", "db": "sqlite", "n_attrs": "1",
		"n_events": "0", "event_name": "", "event_us": "", "event_type": "",
		"n_links": "0", "link_trace": "", "link_span": "", "link_kind": "",
	}}
	for i, w := range want {
		for k, wv := range w {
			if got := rows[i][k]; got != wv {
				t.Errorf("row %d (%s) column %s: DuckDB read %q, want %q", i, w["name"], k, got, wv)
			}
		}
	}

	// Vigil serves the trace from the part after the restart too.
	tr := getVigilTrace(t, v.URL, traceID)
	if len(tr.Spans) != 2 || tr.Spans[0].SpanID != rootID || tr.Spans[0].Start != ns(0) || tr.Spans[1].SpanID != childID {
		t.Errorf("GET /api/vigil/v1/traces/%s after the cut: %+v", traceID, tr.Spans)
	}
}

// duckdb runs SQL statements with DuckDB (e2e/duckdb/query.mjs) and returns
// each statement's rows; a NULL reads as "".
func duckdb(t *testing.T, node string, sql ...string) [][]map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := run(t, ctx, nil, node, append([]string{"duckdb/query.mjs"}, sql...)...)
	var raw [][]map[string]any
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("cannot decode DuckDB's answer: %v\n%s", err, out)
	}
	res := make([][]map[string]string, len(raw))
	for i, rows := range raw {
		for _, r := range rows {
			m := map[string]string{}
			for k, v := range r {
				if v != nil {
					m[k] = fmt.Sprint(v)
				}
			}
			res[i] = append(res[i], m)
		}
	}
	return res
}
