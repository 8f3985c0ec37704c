package e2e

// End-to-end tests of log ingest with real clients and real wire
// formats: syslog from logger and rsyslogd, Loki push as Promtail and
// Alloy send it, the OpenTelemetry Go logs SDK and telemetrygen,
// Elasticsearch bulk requests as Filebeat and Fluent Bit send them; then
// durability across kill -9, redaction and limits. Everything is read
// back through the Loki query API, as Grafana would. The Python clients
// are in logs_python_test.go.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang/snappy"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/protobuf/encoding/protowire"
)

// TestLogsSyslog: Debian's logger (util-linux) over UDP and TCP, RFC 5424
// and RFC 3164, TCP framed by newlines and by octet counting; then
// rsyslogd itself, following files with imfile and forwarding them with
// omfwd over TCP (octet-counted, RFC 5424) and UDP (RFC 3164 with an RFC
// 3339 time). Each message is read back with its host, service (the app
// name), level (from the severity) and text.
func TestLogsSyslog(t *testing.T) {
	logger := tool(t, "logger")
	rsyslogd := tool(t, "rsyslogd", "/usr/sbin/rsyslogd")
	udp, tcp := logsShipFreeUDP(t), freePort(t)
	cfg := logsShipConfig(t, fmt.Sprintf("logs:\n  syslog_udp_addr: %s\n  syslog_tcp_addr: %s\n", udp, tcp))
	v := startVigil(t, withArgs("--host-metrics=false", "--config", cfg))
	host, short := logsShipHostname(t)
	_, udpPort, _ := net.SplitHostPort(udp)
	_, tcpPort, _ := net.SplitHostPort(tcp)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	for _, tc := range []struct {
		name  string
		args  []string
		prio  string
		level string
	}{
		{"lg-udp-5424", []string{"--udp", "--rfc5424", "--msgid", "ORD", "--sd-id", "order@32473", "--sd-param", `id="42"`}, "local0.warning", "warn"},
		{"lg-udp-3164", []string{"--udp", "--rfc3164"}, "user.err", "error"},
		{"lg-tcp-5424-lf", []string{"--tcp", "--rfc5424"}, "daemon.info", "info"},
		{"lg-tcp-5424-oc", []string{"--tcp", "--octet-count", "--rfc5424"}, "local7.debug", "debug"},
		{"lg-tcp-3164-lf", []string{"--tcp", "--rfc3164"}, "mail.notice", "info"},
		{"lg-tcp-3164-oc", []string{"--tcp", "--octet-count", "--rfc3164"}, "auth.crit", "fatal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := tcpPort
			if slices.Contains(tc.args, "--udp") {
				port = udpPort
			}
			msg := "hello from logger via " + tc.name
			args := append([]string{"--server", "127.0.0.1", "--port", port, "--tag", tc.name, "--priority", tc.prio}, tc.args...)
			run(t, ctx, nil, logger, append(args, msg)...)
			es := logsShipWait(t, v.URL, fmt.Sprintf(`{service_name=%q}`, tc.name), 1)
			e := es[0]
			if e.Line != msg {
				t.Errorf("line %q, want %q", e.Line, msg)
			}
			if h := e.Stream["host"]; h != host && h != short {
				t.Errorf("host label %q, want %q (or %q); stream %v", h, host, short, e.Stream)
			}
			if e.Stream["level"] != tc.level {
				t.Errorf("level label %q for priority %s, want %q; stream %v", e.Stream["level"], tc.prio, tc.level, e.Stream)
			}
			// The message's own timestamp, not a default: within half an
			// hour of now (RFC 3164's has no zone and is read as local).
			if d := time.Since(e.Time); d < -30*time.Minute || d > 30*time.Minute {
				t.Errorf("time %v is not the time the message was sent (now %v)", e.Time, time.Now())
			}
		})
	}
	// RFC 5424 header fields and structured data are per-line fields,
	// usable in label filters.
	logsShipWait(t, v.URL, `{service_name="lg-udp-5424"} | syslog_msgid="ORD" | order_32473_id="42" | syslog_facility="local0"`, 1)

	// Several messages in one logger run (one per line of its input),
	// on one octet-counted TCP connection.
	cmd := exec.CommandContext(ctx, logger, "--server", "127.0.0.1", "--port", tcpPort, "--tcp", "--octet-count", "--rfc5424", "--tag", "lg-batch", "--priority", "user.info")
	cmd.Stdin = strings.NewReader("batch line 1\nbatch line 2\nbatch line 3\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("logger with stdin: %v\n%s", err, out)
	}
	es := logsShipWait(t, v.URL, `{service_name="lg-batch"}`, 3)
	for i, e := range es {
		if want := fmt.Sprintf("batch line %d", i+1); e.Line != want {
			t.Errorf("batch entry %d: %q, want %q", i, e.Line, want)
		}
	}

	// rsyslogd in the foreground with its own configuration, work
	// directory and pid file; it loads no input but imfile, so it does
	// not touch /dev/log.
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	tcpFile, udpFile := filepath.Join(dir, "tcp.log"), filepath.Join(dir, "udp.log")
	conf := fmt.Sprintf(`global(workDirectory=%q)
module(load="imfile")
input(type="imfile" File=%q Tag="rsys-tcp" Facility="local3" Severity="error" ruleset="tcp")
input(type="imfile" File=%q Tag="rsys-udp:" Facility="local4" Severity="warning" ruleset="udp")
ruleset(name="tcp") {
  action(type="omfwd" target="127.0.0.1" port=%q protocol="tcp" TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
}
ruleset(name="udp") {
  action(type="omfwd" target="127.0.0.1" port=%q protocol="udp" template="RSYSLOG_ForwardFormat")
}
`, work, tcpFile, udpFile, tcpPort, udpPort)
	confFile := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	appendLines := func(file string, lines ...string) {
		t.Helper()
		f, err := os.OpenFile(file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			fmt.Fprintln(f, l)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// The first lines are there before rsyslogd starts, the others
	// appended while it follows the files.
	appendLines(tcpFile, "rsyslog over tcp 1", `{"msg":"json via rsyslog","user":"ada","attempt":3}`)
	appendLines(udpFile, "rsyslog over udp 1")
	rs := exec.Command(rsyslogd, "-n", "-f", confFile, "-i", filepath.Join(dir, "rsyslogd.pid"))
	rsOut := &syncBuffer{}
	rs.Stdout, rs.Stderr = rsOut, rsOut
	if err := rs.Start(); err != nil {
		t.Fatalf("cannot start rsyslogd: %v", err)
	}
	rsDone := make(chan struct{})
	go func() { _ = rs.Wait(); close(rsDone) }()
	t.Cleanup(func() {
		_ = rs.Process.Signal(syscall.SIGTERM)
		select {
		case <-rsDone:
		case <-time.After(30 * time.Second):
			_ = rs.Process.Kill()
			<-rsDone
		}
		if t.Failed() {
			t.Logf("rsyslogd output:\n%s", tail(rsOut.String(), 40))
		}
	})
	logsShipWait(t, v.URL, `{service_name="rsys-tcp"}`, 2)
	logsShipWait(t, v.URL, `{service_name="rsys-udp"}`, 1)
	appendLines(tcpFile, "rsyslog over tcp 2")
	appendLines(udpFile, "rsyslog over udp 2", "rsyslog over udp 3")

	for _, tc := range []struct {
		service, level string
		lines          []string
	}{
		{"rsys-tcp", "error", []string{"json via rsyslog", "rsyslog over tcp 1", "rsyslog over tcp 2"}},
		{"rsys-udp", "warn", []string{"rsyslog over udp 1", "rsyslog over udp 2", "rsyslog over udp 3"}},
	} {
		es := logsShipWait(t, v.URL, fmt.Sprintf(`{service_name=%q}`, tc.service), len(tc.lines))
		var got []string
		for _, e := range es {
			got = append(got, e.Line)
			if h := e.Stream["host"]; h != host && h != short {
				t.Errorf("%s: host label %q, want %q (or %q)", tc.service, h, host, short)
			}
			if e.Stream["level"] != tc.level {
				t.Errorf("%s: level label %q, want %q", tc.service, e.Stream["level"], tc.level)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.lines) {
			t.Errorf("%s: lines %q, want %q", tc.service, got, tc.lines)
		}
	}
	// The JSON message's fields are fields of its line.
	es = logsShipWait(t, v.URL, `{service_name="rsys-tcp"} | user="ada" | attempt > 2`, 1)
	if es[0].Line != "json via rsyslog" {
		t.Errorf("JSON message stored as %q, want its msg field", es[0].Line)
	}
}

// TestLogsLokiPush: pushes as Promtail and Grafana Alloy send them
// (protobuf, snappy-compressed) and as JSON with structured metadata; the
// lines come back verbatim with their stream labels and metadata. A push
// with a bad labels string is refused by name, its good streams kept.
func TestLogsLokiPush(t *testing.T) {
	v := startVigil(t, withArgs("--host-metrics=false"))
	push := v.URL + "/loki/api/v1/push"
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	at := func(i int) time.Time { return base.Add(time.Duration(i)*time.Millisecond + 123) }
	traceID, spanID := "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"

	// Promtail: two streams of a scraped file, one line JSON (kept as
	// sent: Loki push lines are never parsed at ingest).
	body := logsShipLokiProto(
		logsShipStream{Labels: `{job="varlogs", host="web-1", filename="/var/log/app.log"}`, Entries: []logsShipLine{
			{Time: at(0), Line: "level=info msg=\"request served\" path=/api/orders status=200"},
			{Time: at(1), Line: `{"msg":"json kept verbatim","level":"error"}`, Metadata: [][2]string{{"trace_id", traceID}, {"span_id", spanID}, {"user", "ada"}}},
		}},
		logsShipStream{Labels: `{job="varlogs", host="web-2", filename="/var/log/app.log", level="warn"}`, Entries: []logsShipLine{
			{Time: at(2), Line: "disk 91% full"},
		}},
	)
	logsShipPostOK(t, push, "application/x-protobuf", body, logsShipPromtailHeaders, 204)
	// Grafana Alloy's loki.write sends the same protobuf, with its own
	// User-Agent and a tenant.
	alloy := logsShipLokiProto(logsShipStream{Labels: `{service_name="checkout", env="prod"}`, Entries: []logsShipLine{
		{Time: at(3), Line: "payment accepted", Metadata: [][2]string{{"order_id", "A-17"}}},
	}})
	logsShipPostOK(t, push, "application/x-protobuf", alloy, map[string]string{"User-Agent": "Alloy/v1.5.0 (linux; binary)", "X-Scope-OrgID": "team-a"}, 204)
	// The JSON form, with structured metadata as the third element.
	js := fmt.Sprintf(`{"streams":[{"stream":{"app":"json-pusher","env":"e2e"},"values":[["%d","json line one",{"pod":"p-1","trace_id":%q}],["%d","json line two"]]}]}`,
		at(4).UnixNano(), traceID, at(5).UnixNano())
	logsShipPostOK(t, push, "application/json", []byte(js), nil, 204)

	es := logsShipWait(t, v.URL, `{job="varlogs"}`, 3)
	want := []struct {
		line, host, level string
	}{
		{"level=info msg=\"request served\" path=/api/orders status=200", "web-1", ""},
		{`{"msg":"json kept verbatim","level":"error"}`, "web-1", ""},
		{"disk 91% full", "web-2", "warn"},
	}
	for i, w := range want {
		e := es[i]
		if e.Line != w.line || e.Stream["host"] != w.host || e.Stream["filename"] != "/var/log/app.log" || e.Stream["job"] != "varlogs" {
			t.Errorf("entry %d: %v %q, want host %s, filename, job and line %q", i, e.Stream, e.Line, w.host, w.line)
		}
		if w.level != "" && e.Stream["level"] != w.level {
			t.Errorf("entry %d: level %q, want %q", i, e.Stream["level"], w.level)
		}
		if !e.Time.Equal(at(i)) {
			t.Errorf("entry %d: time %s, want %s (nanoseconds kept)", i, e.Time.UTC().Format(time.RFC3339Nano), at(i).UTC().Format(time.RFC3339Nano))
		}
		if e.Stream["service_name"] != "varlogs" {
			t.Errorf("entry %d: service_name %q, want varlogs (from job, as Loki discovers it)", i, e.Stream["service_name"])
		}
	}
	// Structured metadata: filters by it, trace and span ids included.
	for _, q := range []string{
		`{job="varlogs"} | user="ada"`,
		fmt.Sprintf(`{job="varlogs"} | trace_id=%q`, traceID),
		fmt.Sprintf(`{job="varlogs"} | span_id=%q | user="ada"`, spanID),
	} {
		es := logsShipWait(t, v.URL, q, 1)
		if es[0].Line != want[1].line {
			t.Errorf("%s: %q, want the JSON line verbatim", q, es[0].Line)
		}
	}
	if n := logsShipCount(t, v.URL, `{job="varlogs"} | user="bob"`); n != 0 {
		t.Errorf(`| user="bob" matched %d lines, want 0`, n)
	}
	es = logsShipWait(t, v.URL, `{service_name="checkout", env="prod"} | order_id="A-17"`, 1)
	if es[0].Line != "payment accepted" {
		t.Errorf("Alloy push: %q", es[0].Line)
	}
	es = logsShipWait(t, v.URL, `{service_name="json-pusher", env="e2e"}`, 2)
	if es[0].Line != "json line one" || es[1].Line != "json line two" || !es[0].Time.Equal(at(4)) {
		t.Errorf("JSON push: %s", logsShipDump(es))
	}
	logsShipWait(t, v.URL, fmt.Sprintf(`{app="json-pusher"} | pod="p-1" | trace_id=%q`, traceID), 1)
	// The labels API lists the pushed labels.
	code, b, err := logsShipGet(v.URL, "/loki/api/v1/label/host/values", nil)
	if err != nil || code != 200 || !strings.Contains(string(b), `"web-1"`) || !strings.Contains(string(b), `"web-2"`) {
		t.Errorf("label values of host: %d %s %v", code, b, err)
	}

	// A bad labels string: 400 naming it; the good stream is stored.
	bad := logsShipLokiProto(
		logsShipStream{Labels: `{job="varlogs", host=web-3}`, Entries: []logsShipLine{{Time: at(6), Line: "never stored"}}},
		logsShipStream{Labels: `{job="good-after-bad"}`, Entries: []logsShipLine{{Time: at(7), Line: "stored despite a bad neighbour"}}},
	)
	code2, answer, err := logsShipPost(push, "application/x-protobuf", bad, logsShipPromtailHeaders)
	if err != nil {
		t.Fatal(err)
	}
	badLabels := `{job="varlogs", host=web-3}`
	if code2 != 400 || !(strings.Contains(answer, badLabels) || strings.Contains(answer, strconv.Quote(badLabels))) {
		t.Errorf("bad labels: %d %q, want 400 naming the labels", code2, answer)
	}
	logsShipWait(t, v.URL, `{job="good-after-bad"}`, 1)
	if n := logsShipCount(t, v.URL, `{job="varlogs"} |= "never stored"`); n != 0 {
		t.Errorf("a line of the bad stream was stored")
	}
	// Loki's query API answers a bad query with a plain-text 400.
	code, b, err = logsShipGet(v.URL, "/loki/api/v1/query_range", url.Values{"query": {`{job="varlogs"`}})
	if err != nil || code != 400 || len(b) == 0 || b[0] == '{' {
		t.Errorf("bad query: %d %q %v, want a plain-text 400", code, b, err)
	}
}

// TestLogsOTLPGoSDK: the OpenTelemetry Go logs SDK over gRPC and HTTP,
// records inside and outside a span with severities and attributes; then
// telemetrygen logs over both. Counts, severity to level, trace and span
// ids and attributes read back.
func TestLogsOTLPGoSDK(t *testing.T) {
	v := startVigil(t, withArgs("--host-metrics=false"))
	for _, transport := range []string{"grpc", "http"} {
		t.Run(transport, func(t *testing.T) {
			ctx := context.Background()
			var exp sdklog.Exporter
			var err error
			if transport == "grpc" {
				exp, err = otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(v.GRPC), otlploggrpc.WithInsecure(), otlploggrpc.WithCompressor("gzip"))
			} else {
				exp, err = otlploghttp.New(ctx, otlploghttp.WithEndpoint(v.OTLPHTTP), otlploghttp.WithInsecure(), otlploghttp.WithCompression(otlploghttp.GzipCompression))
			}
			if err != nil {
				t.Fatal(err)
			}
			service := "gosdk-logs-" + transport
			lp := sdklog.NewLoggerProvider(
				sdklog.WithResource(resource.NewSchemaless(
					attribute.String("service.name", service),
					attribute.String("deployment.environment", "e2e-logs"),
					attribute.String("host.name", "builder-7"),
				)),
				sdklog.WithProcessor(sdklog.NewBatchProcessor(exp)),
			)
			lg := lp.Logger("e2e/orders", otellog.WithInstrumentationVersion("1.0.0"))
			spanCtx, span := sdktrace.NewTracerProvider().Tracer("e2e").Start(ctx, "handle order")
			sc := span.SpanContext()

			base := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
			levels := []struct {
				sev   otellog.Severity
				text  string
				level string
				n     int
			}{
				{otellog.SeverityTrace, "TRACE", "trace", 1},
				{otellog.SeverityDebug, "DEBUG", "debug", 2},
				{otellog.SeverityInfo, "INFO", "info", 4},
				{otellog.SeverityWarn2, "WARN", "warn", 3},
				{otellog.SeverityError, "ERROR", "error", 2},
				{otellog.SeverityFatal4, "FATAL", "fatal", 1},
			}
			k := 0
			for _, l := range levels {
				for range l.n {
					var r otellog.Record
					r.SetTimestamp(base.Add(time.Duration(k) * time.Millisecond))
					r.SetSeverity(l.sev)
					r.SetSeverityText(l.text)
					r.SetBody(attribute.StringValue(fmt.Sprintf("%s record %d", l.level, k)))
					r.AddAttributes(attribute.String("http.route", "/checkout"), attribute.Int("order.n", k), attribute.Bool("retry", k%2 == 0))
					lg.Emit(spanCtx, r)
					k++
				}
			}
			span.End()
			// Two records outside any span.
			for i := range 2 {
				var r otellog.Record
				r.SetTimestamp(base.Add(time.Second + time.Duration(i)*time.Millisecond))
				r.SetSeverity(otellog.SeverityInfo)
				r.SetBody(attribute.StringValue(fmt.Sprintf("no span %d", i)))
				lg.Emit(ctx, r)
			}
			if err := lp.Shutdown(ctx); err != nil {
				t.Fatalf("shutdown (flushes the batch): %v", err)
			}

			sel := fmt.Sprintf(`{service_name=%q}`, service)
			es := logsShipWait(t, v.URL, sel, k+2)
			for i, e := range es[:k] {
				if want := base.Add(time.Duration(i) * time.Millisecond); !e.Time.Equal(want) {
					t.Errorf("entry %d: time %s, want %s", i, e.Time.UTC().Format(time.RFC3339Nano), want.UTC().Format(time.RFC3339Nano))
				}
				if e.Stream["deployment_environment"] != "e2e-logs" {
					t.Errorf("entry %d: stream %v, want deployment_environment=\"e2e-logs\"", i, e.Stream)
				}
			}
			for _, l := range levels {
				es := logsShipWait(t, v.URL, fmt.Sprintf(`{service_name=%q, level=%q}`, service, l.level), l.n+map[bool]int{true: 2}[l.level == "info"])
				for _, e := range es {
					if !strings.HasPrefix(e.Line, l.level+" record ") && !strings.HasPrefix(e.Line, "no span ") {
						t.Errorf("level %s: line %q", l.level, e.Line)
					}
				}
			}
			logsShipWait(t, v.URL, fmt.Sprintf(`%s | trace_id=%q | span_id=%q`, sel, sc.TraceID(), sc.SpanID()), k)
			logsShipWait(t, v.URL, sel+` | http_route="/checkout"`, k)
			es = logsShipWait(t, v.URL, sel+` | order_n="7"`, 1)
			if es[0].Line != "warn record 7" {
				t.Errorf(`| order_n="7": %q, want "warn record 7"`, es[0].Line)
			}
			logsShipWait(t, v.URL, sel+` | retry="true"`, (k+1)/2)
			logsShipWait(t, v.URL, sel+` |= "no span"`, 2)
		})
	}

	tg := tool(t, "telemetrygen", goBin("telemetrygen"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, tc := range []struct {
		name, endpoint string
		extra          []string
	}{
		{"grpc", v.GRPC, nil},
		{"http", v.OTLPHTTP, []string{"--otlp-http"}},
	} {
		t.Run("telemetrygen-"+tc.name, func(t *testing.T) {
			service := "tg-logs-" + tc.name
			traceID, spanID := "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
			args := append([]string{"logs", "--otlp-endpoint", tc.endpoint, "--otlp-insecure", "--logs", "25", "--rate", "0",
				"--service", service, "--body", "telemetrygen says hi", "--severity-number", "17", "--severity-text", "Error",
				"--trace-id", traceID, "--span-id", spanID, "--telemetry-attributes", `tg.run="` + tc.name + `"`}, tc.extra...)
			run(t, ctx, nil, tg, args...)
			sel := fmt.Sprintf(`{service_name=%q}`, service)
			es := logsShipWait(t, v.URL, sel, 25)
			for _, e := range es {
				if e.Line != "telemetrygen says hi" || e.Stream["level"] != "error" {
					t.Errorf("telemetrygen line %q stream %v, want the body and level error", e.Line, e.Stream)
					break
				}
			}
			logsShipWait(t, v.URL, fmt.Sprintf(`%s | trace_id=%q | span_id=%q | tg_run=%q`, sel, traceID, spanID, tc.name), 25)
			logsShipWait(t, v.URL, fmt.Sprintf(`{service_name=%q, level="error"}`, service), 25)
		})
	}
}

// logsShipBulkDoc fills the ${TSn} placeholders of a bulk request in
// testdata with times a minute apart ending now, in the milliseconds
// Filebeat and Fluent Bit write.
func logsShipBulkDoc(t *testing.T, file string) ([]byte, []time.Time) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "logs", file))
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-5 * time.Minute).UTC().Truncate(time.Millisecond)
	var times []time.Time
	var pairs []string
	for i := range 3 {
		ts := base.Add(time.Duration(i)*time.Minute + time.Duration(i*7)*time.Millisecond)
		times = append(times, ts)
		pairs = append(pairs, fmt.Sprintf("${TS%d}", i), ts.Format("2006-01-02T15:04:05.000Z"))
	}
	return []byte(strings.NewReplacer(pairs...).Replace(string(b))), times
}

// logsShipBulkItem is one item of a bulk answer.
type logsShipBulkItem struct {
	Index       string `json:"_index"`
	ID          string `json:"_id"`
	Version     int    `json:"_version"`
	Result      string `json:"result"`
	SeqNo       *int64 `json:"_seq_no"`
	PrimaryTerm int    `json:"_primary_term"`
	Status      int    `json:"status"`
	Shards      *struct {
		Total, Successful, Failed int
	} `json:"_shards"`
	Error *struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"error"`
}

type logsShipBulkAnswer struct {
	Took   *int64                        `json:"took"`
	Errors bool                          `json:"errors"`
	Items  []map[string]logsShipBulkItem `json:"items"`
}

// logsShipBulk posts a bulk request as the shippers do and decodes the
// answer, which must be a 200.
func logsShipBulk(t *testing.T, u, contentType string, body []byte, header map[string]string) logsShipBulkAnswer {
	t.Helper()
	answer := logsShipPostOK(t, u, contentType, body, header, 200)
	var a logsShipBulkAnswer
	dec := json.NewDecoder(strings.NewReader(answer))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		t.Fatalf("bulk answer %s: %v", answer, err)
	}
	if a.Took == nil {
		t.Errorf("bulk answer without took: %s", answer)
	}
	return a
}

// TestLogsBulk: _bulk requests as Filebeat 8 and Fluent Bit's es output
// send them, answered item by item in Elasticsearch's shape; each
// document is a line with its message, @timestamp and fields. A batch
// with bad documents stores the good ones.
func TestLogsBulk(t *testing.T) {
	v := startVigil(t, withArgs("--host-metrics=false"))
	es := v.URL + "/insert/elasticsearch"

	// Filebeat checks the cluster first: GET / with the product header.
	resp, err := logsShipClient.Get(es + "/")
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Version struct {
			Number string `json:"number"`
		} `json:"version"`
		Tagline string `json:"tagline"`
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(b, &info); err != nil || resp.StatusCode != 200 || !strings.HasPrefix(info.Version.Number, "8.") ||
		resp.Header.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Fatalf("GET /: %d %s %v (X-Elastic-Product %q), want 200, version 8.x and the product header", resp.StatusCode, b, err, resp.Header.Get("X-Elastic-Product"))
	}

	// Filebeat 8: data stream "create" actions, gzip-free NDJSON.
	body, times := logsShipBulkDoc(t, "filebeat8_bulk.ndjson")
	a := logsShipBulk(t, es+"/_bulk", "application/json", body, map[string]string{"Accept": "application/json", "X-Elastic-Product-Origin": "beats", "User-Agent": "Elastic-filebeat/8.15.0"})
	if a.Errors || len(a.Items) != 3 {
		t.Fatalf("filebeat bulk: errors %v, %d items, want 3 without errors: %+v", a.Errors, len(a.Items), a.Items)
	}
	seqs := map[int64]bool{}
	for i, m := range a.Items {
		it, ok := m["create"]
		if !ok || len(m) != 1 {
			t.Errorf("item %d: %v, want one \"create\" key", i, m)
			continue
		}
		if it.Status != 201 || it.Result != "created" || it.Index != "filebeat-8.15.0" || it.ID == "" || it.Version != 1 ||
			it.SeqNo == nil || it.PrimaryTerm != 1 || it.Shards == nil || it.Shards.Successful != 1 || it.Error != nil {
			t.Errorf("item %d: %+v, want status 201, created, _index, _id, _version 1, _seq_no, _primary_term 1, one shard", i, it)
		}
		if it.SeqNo != nil {
			if seqs[*it.SeqNo] {
				t.Errorf("item %d: _seq_no %d repeated", i, *it.SeqNo)
			}
			seqs[*it.SeqNo] = true
		}
	}
	lines := logsShipWait(t, v.URL, `{index="filebeat-8.15.0"}`, 3)
	wantFB := []string{"GET /api/orders 200 12ms", "POST /api/orders 500 230ms", "order 7731 shipped"}
	for i, e := range lines {
		if e.Line != wantFB[i] || !e.Time.Equal(times[i]) {
			t.Errorf("filebeat line %d: %s %q, want %s %q", i, e.Time.UTC().Format(time.RFC3339Nano), e.Line, times[i].Format(time.RFC3339Nano), wantFB[i])
		}
	}
	if lines[2].Stream["service_name"] != "shop" || lines[2].Stream["level"] != "warn" {
		t.Errorf("the document with service.name and log.level: stream %v, want service_name shop and level warn", lines[2].Stream)
	}
	if lines[0].Stream["service_name"] != "filebeat-8.15.0" {
		t.Errorf("a document without a service: stream %v, want the index as service_name", lines[0].Stream)
	}
	logsShipWait(t, v.URL, `{index="filebeat-8.15.0"} | host_name="web-1" | log_file_path="/var/log/shop/access.log"`, 2)
	logsShipWait(t, v.URL, `{index="filebeat-8.15.0"} | agent_version="8.15.0" | host_os_family="debian"`, 3)

	// Fluent Bit's es output (Suppress_Type_Name On): NDJSON to
	// /{index}/_bulk, with Kubernetes metadata.
	body, times = logsShipBulkDoc(t, "fluentbit_bulk.ndjson")
	a = logsShipBulk(t, es+"/fluent-bit/_bulk", "application/x-ndjson", body, map[string]string{"User-Agent": "Fluent-Bit"})
	if a.Errors || len(a.Items) != 2 {
		t.Fatalf("fluent bit bulk: errors %v, %d items: %+v", a.Errors, len(a.Items), a.Items)
	}
	for i, m := range a.Items {
		if it := m["create"]; it.Status != 201 || it.Index != "fluent-bit" {
			t.Errorf("fluent bit item %d: %+v", i, m)
		}
	}
	lines = logsShipWait(t, v.URL, `{index="fluent-bit", service_name="api"}`, 2)
	wantFLB := []string{"2024/06/01 12:00:00 [notice] 1#1: start worker processes", "GET /healthz 200"}
	for i, e := range lines {
		// The container runtime's newline may be kept or trimmed.
		if strings.TrimRight(e.Line, "\n") != wantFLB[i] || !e.Time.Equal(times[i]) {
			t.Errorf("fluent bit line %d: %s %q, want %s %q", i, e.Time.UTC().Format(time.RFC3339Nano), e.Line, times[i].Format(time.RFC3339Nano), wantFLB[i])
		}
	}
	logsShipWait(t, v.URL, `{index="fluent-bit"} | kubernetes_pod_name="api-7d9f8c6b5-x2k4q" | kubernetes_namespace_name="shop" | stream="stdout"`, 1)
	logsShipWait(t, v.URL, `{index="fluent-bit"} | kubernetes_labels_pod_template_hash="7d9f8c6b5"`, 2)

	// A mixed batch: a broken document, an update (not supported), a
	// document that is not an object, and two good ones.
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	mixed := strings.Join([]string{
		`{"create":{"_index":"mixed"}}`,
		`{"@timestamp":"` + now + `","message":"mixed good one"}`,
		`{"create":{"_index":"mixed"}}`,
		`{"@timestamp":"` + now + `","message":"broken`,
		`{"update":{"_index":"mixed","_id":"1"}}`,
		`{"doc":{"message":"x"}}`,
		`{"index":{"_index":"mixed","_id":"my-id"}}`,
		`["not","an","object"]`,
		`{"index":{"_index":"mixed","_id":"keep-id"}}`,
		`{"@timestamp":"` + now + `","message":"mixed good two"}`,
	}, "\n") + "\n"
	a = logsShipBulk(t, es+"/_bulk", "application/x-ndjson", []byte(mixed), nil)
	if !a.Errors || len(a.Items) != 5 {
		t.Fatalf("mixed bulk: errors %v, %d items, want errors and 5 items: %+v", a.Errors, len(a.Items), a.Items)
	}
	for i, w := range []struct {
		action  string
		status  int
		errType string
		id      string
	}{
		{"create", 201, "", ""},
		{"create", 400, "mapper_parsing_exception", ""},
		{"update", 400, "illegal_argument_exception", "1"},
		{"index", 400, "mapper_parsing_exception", "my-id"},
		{"index", 201, "", "keep-id"},
	} {
		it, ok := a.Items[i][w.action]
		if !ok {
			t.Errorf("item %d: %v, want key %q", i, a.Items[i], w.action)
			continue
		}
		if it.Status != w.status || (w.id != "" && it.ID != w.id) || it.Index != "mixed" {
			t.Errorf("item %d: %+v, want status %d, _id %q, _index mixed", i, it, w.status, w.id)
		}
		switch {
		case w.errType == "" && it.Error != nil:
			t.Errorf("item %d: unexpected error %+v", i, it.Error)
		case w.errType != "" && (it.Error == nil || it.Error.Type != w.errType || it.Error.Reason == ""):
			t.Errorf("item %d: error %+v, want type %s with a reason", i, it.Error, w.errType)
		}
	}
	lines = logsShipWait(t, v.URL, `{index="mixed"}`, 2)
	if lines[0].Line != "mixed good one" && lines[1].Line != "mixed good one" {
		t.Errorf("mixed batch stored %s", logsShipDump(lines))
	}

	// A body that is not NDJSON at all is refused whole in ES's error shape.
	code, answer, err := logsShipPost(es+"/_bulk", "application/x-ndjson", []byte("not json\n"), nil)
	if err != nil || code != 400 || !strings.Contains(answer, `"error"`) || !strings.Contains(answer, `"status":400`) {
		t.Errorf("garbage bulk body: %d %s %v, want a 400 in Elasticsearch's error shape", code, answer, err)
	}
}

// TestLogsKill9Durable: concurrent pushes by JSON lines and Loki push,
// kill -9 mid-stream, restart on the same data directory: every line of
// an acknowledged request is there, once.
func TestLogsKill9Durable(t *testing.T) {
	dir := t.TempDir()
	v := startVigil(t, withDataDir(dir), withArgs("--host-metrics=false"))
	base := time.Now().Add(-30 * time.Minute)
	const perRequest = 50
	// Each line has its own timestamp: worker w, request i, line j.
	stamp := func(w, i, j int) time.Time {
		return base.Add(time.Duration(i*perRequest+j)*time.Millisecond + time.Duration(w)*time.Microsecond)
	}

	var mu sync.Mutex
	acked := map[string]bool{} // line texts of acknowledged requests
	stop := make(chan struct{})
	var wg sync.WaitGroup
	workers := []string{"jl-0", "jl-1", "lk-0", "lk-1"}
	for w, name := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var texts []string
				var code int
				var err error
				if strings.HasPrefix(name, "jl") {
					var body bytes.Buffer
					for j := range perRequest {
						text := fmt.Sprintf("id=%s-%d-%d", name, i, j)
						texts = append(texts, text)
						fmt.Fprintf(&body, `{"ts":%q,"msg":%q,"worker":%q,"n":%d}`+"\n", stamp(w, i, j).UTC().Format(time.RFC3339Nano), text, name, j)
					}
					code, _, err = logsShipPost(v.URL+"/insert/jsonline?service=durable&_stream_fields=worker&_time_field=ts", "application/stream+json", body.Bytes(), nil)
				} else {
					st := logsShipStream{Labels: fmt.Sprintf(`{job="durable", worker=%q}`, name)}
					for j := range perRequest {
						text := fmt.Sprintf("id=%s-%d-%d", name, i, j)
						texts = append(texts, text)
						st.Entries = append(st.Entries, logsShipLine{Time: stamp(w, i, j), Line: text})
					}
					code, _, err = logsShipPost(v.URL+"/loki/api/v1/push", "application/x-protobuf", logsShipLokiProto(st), logsShipPromtailHeaders)
				}
				if err != nil {
					return // the server is gone
				}
				if code == 204 {
					mu.Lock()
					for _, s := range texts {
						acked[s] = true
					}
					mu.Unlock()
				}
			}
		}()
	}
	eventually(t, 60*time.Second, func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < 8000 {
			return fmt.Sprintf("only %d lines acknowledged", len(acked))
		}
		return ""
	})
	if code := v.stop(syscall.SIGKILL); code == 0 {
		t.Fatalf("kill -9 gave exit code %d", code)
	}
	close(stop)
	wg.Wait()
	v.restart()

	mu.Lock()
	defer mu.Unlock()
	start, end := logsShipRange()
	seen := map[string]int{}
	for _, name := range workers {
		// Page forward through the worker's stream by time, as logcli
		// does: the next page starts at the last time seen (lines have
		// distinct times, so a line at that time is skipped).
		from := start
		var last *logsShipEntry
		for page := 0; ; page++ {
			b, err := logsShipQueryRaw(v.URL, fmt.Sprintf(`{service_name="durable", worker=%q}`, name), from, end, 5000)
			if err != nil {
				t.Fatal(err)
			}
			es, err := logsShipDecode(b)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, e := range es {
				if last != nil && !e.Time.After(last.Time) {
					if e.Time.Equal(last.Time) && e.Line == last.Line {
						continue // the boundary line of the previous page
					}
					t.Fatalf("worker %s page %d: %q at %v is not after the last line %q at %v", name, page, e.Line, e.Time, last.Line, last.Time)
				}
				seen[e.Line]++
				n++
				e := e
				last = &e
			}
			if n == 0 || len(es) < 5000 {
				break
			}
			from = last.Time
		}
	}
	missing, dup := 0, 0
	for s := range acked {
		if seen[s] == 0 {
			missing++
		}
	}
	for s, n := range seen {
		if n > 1 {
			dup++
			if dup < 5 {
				t.Errorf("line %q stored %d times", s, n)
			}
		}
	}
	if missing > 0 || dup > 0 {
		t.Fatalf("%d of %d acknowledged lines missing, %d lines duplicated after kill -9 and restart", missing, len(acked), dup)
	}
	// The count the metric query gives agrees with the listing.
	got := logsShipMetric(t, v.URL, `sum(count_over_time({service_name="durable"}[3h]))`)
	var total float64
	for _, f := range got {
		total += f
	}
	if int(total) != len(seen) {
		t.Errorf("count_over_time says %v lines, the listing found %d", total, len(seen))
	}
	t.Logf("%d acknowledged lines all found once after kill -9 (%d stored in all)", len(acked), len(seen))
}

// TestLogsRedactionAndLimits: card numbers, e-mail addresses and
// passwords are masked before they are stored, whichever way they come
// (and counted); over small limits, a burst is refused 429 by the limit's
// name and an over-long line is stored cut, with the marker.
func TestLogsRedactionAndLimits(t *testing.T) {
	cfg := logsShipConfig(t, `logs:
  limits:
    max_line_bytes: 2048
    ingestion_rate: 8192
    ingestion_burst: 32768
    stream_rate: 8192
    stream_burst: 32768
`)
	v := startVigil(t, withArgs("--host-metrics=false", "--config", cfg))
	before := map[string]float64{}
	for _, rule := range []string{"credit_card", "email", "secret"} {
		before[rule] = logsShipCounter(t, v.URL, "vigil_logs_redactions_total", map[string]string{"rule": rule})
	}
	secrets := []string{"4111111111111111", "4111 1111 1111 1111", "ada@example.com", "hunter2", "bob@example.org", "s3cr3t-T0ken"}

	// JSON lines: in the message and in a field.
	jl := `{"msg":"payment by ada@example.com with card 4111 1111 1111 1111 password=hunter2 done","customer_email":"bob@example.org","level":"info"}` + "\n"
	logsShipPostOK(t, v.URL+"/insert/jsonline?service=redact-jl", "application/stream+json", []byte(jl), nil, 204)
	// Loki push: the verbatim line is masked too.
	push := logsShipLokiProto(logsShipStream{Labels: `{job="redact-loki"}`, Entries: []logsShipLine{
		{Time: time.Now(), Line: "login user=ada@example.com password: hunter2 card=4111111111111111 token=s3cr3t-T0ken"},
	}})
	logsShipPostOK(t, v.URL+"/loki/api/v1/push", "application/x-protobuf", push, nil, 204)

	for _, tc := range []struct {
		sel  string
		want []string
	}{
		{`{service_name="redact-jl"}`, []string{"[REDACTED:email]", "[REDACTED:credit_card]", "[REDACTED:secret]", "payment by ", " done"}},
		{`{job="redact-loki"}`, []string{"[REDACTED:email]", "[REDACTED:credit_card]", "[REDACTED:secret]", "login user="}},
	} {
		es := logsShipWait(t, v.URL, tc.sel, 1)
		for _, w := range tc.want {
			if !strings.Contains(es[0].Line, w) {
				t.Errorf("%s: line %q does not contain %q", tc.sel, es[0].Line, w)
			}
		}
		start, end := logsShipRange()
		raw, err := logsShipQueryRaw(v.URL, tc.sel, start, end, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if strings.Contains(string(raw), s) {
				t.Errorf("%s: the answer shows %q: %s", tc.sel, s, raw)
			}
		}
	}
	if n := logsShipCount(t, v.URL, `{service_name="redact-jl"} | customer_email="bob@example.org"`); n != 0 {
		t.Errorf("the e-mail field is stored unmasked: %d lines match it", n)
	}
	logsShipWait(t, v.URL, `{service_name="redact-jl"} | customer_email="[REDACTED:email]"`, 1)
	for rule, was := range before {
		if now := logsShipCounter(t, v.URL, "vigil_logs_redactions_total", map[string]string{"rule": rule}); now <= was {
			t.Errorf("vigil_logs_redactions_total{rule=%q} = %v, was %v: want it increased", rule, now, was)
		}
	}

	// An over-long line is stored cut to max_line_bytes, with the marker.
	truncBefore := logsShipCounter(t, v.URL, "vigil_logs_truncated_lines_total", nil)
	long := "LONGLINE " + strings.Repeat("abcdefghij", 500) // 5009 bytes
	logsShipPostOK(t, v.URL+"/insert/jsonline?service=long-lines", "application/stream+json", []byte(fmt.Sprintf(`{"msg":%q}`+"\n", long)), nil, 204)
	es := logsShipWait(t, v.URL, `{service_name="long-lines"}`, 1)
	line := es[0].Line
	marker := regexp.MustCompile(` …\[truncated \d+ bytes\]$`)
	if len(line) > 2048 || len(line) < 1900 || !marker.MatchString(line) || !strings.HasPrefix(long, marker.ReplaceAllString(line, "")) {
		t.Errorf("long line stored as %d bytes ending %q: want at most 2048 bytes, a prefix of the line and the truncation marker", len(line), line[max(0, len(line)-60):])
	}
	if now := logsShipCounter(t, v.URL, "vigil_logs_truncated_lines_total", nil); now != truncBefore+1 {
		t.Errorf("vigil_logs_truncated_lines_total = %v, want %v", now, truncBefore+1)
	}

	// A burst over the tenant's bucket: 429 naming the limit's key; the
	// refusal is counted. Another tenant is not affected.
	refusedBefore := logsShipCounter(t, v.URL, "vigil_logs_refused_lines_total", nil)
	var burst bytes.Buffer
	for i := range 40 {
		fmt.Fprintf(&burst, `{"msg":"burst %d %s"}`+"\n", i, strings.Repeat("x", 1000))
	}
	code, answer, err := logsShipPost(v.URL+"/insert/jsonline?service=burst", "application/stream+json", burst.Bytes(), map[string]string{"X-Scope-OrgID": "bursty"})
	if err != nil {
		t.Fatal(err)
	}
	if code != 429 || !strings.Contains(answer, "logs.limits.") {
		t.Errorf("burst of %d bytes: %d %q, want 429 naming logs.limits.*", burst.Len(), code, answer)
	}
	// The same through Loki push and the bulk API.
	big := logsShipStream{Labels: `{job="burst-loki"}`}
	for i := range 40 {
		big.Entries = append(big.Entries, logsShipLine{Time: time.Now(), Line: fmt.Sprintf("burst %d %s", i, strings.Repeat("y", 1000))})
	}
	code, answer, err = logsShipPost(v.URL+"/loki/api/v1/push", "application/x-protobuf", logsShipLokiProto(big), map[string]string{"X-Scope-OrgID": "bursty-loki"})
	if err != nil || code != 429 || !strings.Contains(answer, "logs.limits.") {
		t.Errorf("Loki burst: %d %q %v, want 429 naming logs.limits.*", code, answer, err)
	}
	if now := logsShipCounter(t, v.URL, "vigil_logs_refused_lines_total", nil); now < refusedBefore+80 {
		t.Errorf("vigil_logs_refused_lines_total = %v, was %v: want 80 more", now, refusedBefore)
	}
	if n := logsShipCount(t, v.URL, `{service_name="burst"}`); n != 0 {
		t.Errorf("%d lines of the refused burst stored", n)
	}
	logsShipPostOK(t, v.URL+"/insert/jsonline?service=calm", "application/stream+json", []byte(`{"msg":"calm tenant"}`+"\n"), map[string]string{"X-Scope-OrgID": "calm"}, 204)
	logsShipWait(t, v.URL, `{service_name="calm"}`, 1)
}

// Helpers of the log tests (logs_*_test.go): reading Vigil's Loki query
// API as Grafana does, pushing as shippers do, and Vigil's own counters.

// logsShipEntry is one log line as the Loki query API answers it.
type logsShipEntry struct {
	// Stream is the entry's labels: the stream's, and (as Loki answers
	// without X-Loki-Response-Encoding-Flags) its structured metadata.
	Stream map[string]string
	Time   time.Time
	Line   string
	// Meta holds structured metadata and parsed labels when the answer
	// carries them beside the line (Loki's categorized form).
	Meta map[string]string
}

// logsShipClient reads the Loki API; its timeout only guards against a hung
// server.
var logsShipClient = &http.Client{Timeout: 2 * time.Minute}

// logsShipGet GETs a path of the Loki API. It never fails the test, so
// goroutines may call it.
func logsShipGet(base, path string, p url.Values) (int, []byte, error) {
	u := base + path
	if len(p) > 0 {
		u += "?" + p.Encode()
	}
	resp, err := logsShipClient.Get(u)
	if err != nil {
		return 0, nil, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("GET %s: cannot read body: %w", u, err)
	}
	return resp.StatusCode, b, nil
}

// logsShipRange is the time range the log tests query: every test writes
// lines stamped within the last hour (or up to a few minutes ahead).
func logsShipRange() (time.Time, time.Time) {
	now := time.Now()
	return now.Add(-3 * time.Hour), now.Add(11 * time.Minute)
}

// logsShipQueryRaw runs a log query over [start, end) oldest first and
// returns the raw answer of a 200; any other status is an error with the
// body.
func logsShipQueryRaw(base, q string, start, end time.Time, limit int) ([]byte, error) {
	p := url.Values{
		"query":     {q},
		"start":     {strconv.FormatInt(start.UnixNano(), 10)},
		"end":       {strconv.FormatInt(end.UnixNano(), 10)},
		"limit":     {strconv.Itoa(limit)},
		"direction": {"forward"},
	}
	code, b, err := logsShipGet(base, "/loki/api/v1/query_range", p)
	if err != nil {
		return nil, err
	}
	if code != 200 {
		return nil, fmt.Errorf("query %s: %d %.500s", q, code, b)
	}
	return b, nil
}

// logsShipDecode decodes a streams answer into entries sorted by time
// (then line).
func logsShipDecode(b []byte) ([]logsShipEntry, error) {
	var r struct {
		Status string `json:"status"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Stream map[string]string   `json:"stream"`
				Values [][]json.RawMessage `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("cannot decode %.300s: %w", b, err)
	}
	if r.Status != "success" || r.Data.ResultType != "streams" {
		return nil, fmt.Errorf("status %q resultType %q, want success and streams: %.300s", r.Status, r.Data.ResultType, b)
	}
	var out []logsShipEntry
	for _, s := range r.Data.Result {
		for _, v := range s.Values {
			if len(v) < 2 {
				return nil, fmt.Errorf("value %s of stream %v: want [\"<ns>\", \"<line>\", ...]", v, s.Stream)
			}
			var ts, line string
			if err := json.Unmarshal(v[0], &ts); err != nil {
				return nil, fmt.Errorf("timestamp %s: %w", v[0], err)
			}
			if err := json.Unmarshal(v[1], &line); err != nil {
				return nil, fmt.Errorf("line %s: %w", v[1], err)
			}
			ns, err := strconv.ParseInt(ts, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("timestamp %q is not Unix nanoseconds: %w", ts, err)
			}
			e := logsShipEntry{Stream: s.Stream, Time: time.Unix(0, ns), Line: line, Meta: map[string]string{}}
			if len(v) > 2 {
				var extra struct {
					StructuredMetadata map[string]string `json:"structuredMetadata"`
					Parsed             map[string]string `json:"parsed"`
				}
				if err := json.Unmarshal(v[2], &extra); err != nil {
					return nil, fmt.Errorf("entry metadata %s: %w", v[2], err)
				}
				for k, v := range extra.StructuredMetadata {
					e.Meta[k] = v
				}
				for k, v := range extra.Parsed {
					e.Meta[k] = v
				}
			}
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b logsShipEntry) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Line, b.Line)
	})
	return out, nil
}

// logsShipQuery runs a log query over logsShipRange and fails the test on an
// error.
func logsShipQuery(t *testing.T, base, q string) []logsShipEntry {
	t.Helper()
	start, end := logsShipRange()
	b, err := logsShipQueryRaw(base, q, start, end, 5000)
	if err != nil {
		t.Fatal(err)
	}
	es, err := logsShipDecode(b)
	if err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	return es
}

// logsShipWait polls a log query until it answers want lines, and fails at
// once if it answers more (a line stored twice).
func logsShipWait(t *testing.T, base, q string, want int) []logsShipEntry {
	t.Helper()
	var es []logsShipEntry
	eventually(t, 60*time.Second, func() string {
		es = logsShipQuery(t, base, q)
		if len(es) > want {
			t.Fatalf("query %s: %d lines, want %d:\n%s", q, len(es), want, logsShipDump(es))
		}
		if len(es) != want {
			return fmt.Sprintf("query %s: %d lines, want %d:\n%s", q, len(es), want, logsShipDump(es))
		}
		return ""
	})
	return es
}

// logsShipCount is the number of lines a query answers now.
func logsShipCount(t *testing.T, base, q string) int {
	t.Helper()
	return len(logsShipQuery(t, base, q))
}

func logsShipDump(es []logsShipEntry) string {
	var b strings.Builder
	for i, e := range es {
		if i == 20 {
			fmt.Fprintf(&b, "  ... %d more\n", len(es)-i)
			break
		}
		fmt.Fprintf(&b, "  %s %v %v %q\n", e.Time.UTC().Format(time.RFC3339Nano), e.Stream, e.Meta, e.Line)
	}
	return b.String()
}

// logsShipMetric runs an instant metric query now and returns its samples by
// their label sets' text.
func logsShipMetric(t *testing.T, base, q string) map[string]float64 {
	t.Helper()
	code, b, err := logsShipGet(base, "/loki/api/v1/query", url.Values{"query": {q}, "time": {strconv.FormatInt(time.Now().Add(10*time.Minute).UnixNano(), 10)}})
	if err != nil {
		t.Fatal(err)
	}
	if code != 200 {
		t.Fatalf("query %s: %d %s", q, code, b)
	}
	var r struct {
		Status string `json:"status"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &r); err != nil || r.Status != "success" || r.Data.ResultType != "vector" {
		t.Fatalf("query %s: want a success vector answer, got %.500s (%v)", q, b, err)
	}
	out := map[string]float64{}
	for _, s := range r.Data.Result {
		f, err := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
		if err != nil {
			t.Fatalf("query %s: value %v: %v", q, s.Value, err)
		}
		out[fmt.Sprint(s.Metric)] = f
	}
	return out
}

// logsShipConfig writes a Vigil configuration file and returns its path.
func logsShipConfig(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vigil.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// logsShipFreeUDP returns a loopback UDP address nothing listens on.
func logsShipFreeUDP(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

// logsShipPost sends body and returns the status and the answer. It never
// fails the test.
func logsShipPost(u, contentType string, body []byte, header map[string]string) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := logsShipClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// logsShipPostOK sends body and requires the status.
func logsShipPostOK(t *testing.T, u, contentType string, body []byte, header map[string]string, want int) string {
	t.Helper()
	code, answer, err := logsShipPost(u, contentType, body, header)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	if code != want {
		t.Fatalf("POST %s: %d %s, want %d", u, code, answer, want)
	}
	return answer
}

// logsShipStream is one stream of a Loki push.
type logsShipStream struct {
	Labels  string // {name="value", ...}
	Entries []logsShipLine
}

type logsShipLine struct {
	Time     time.Time
	Line     string
	Metadata [][2]string // structured metadata, name and value
}

// logsShipLokiProto encodes a push as Promtail and Grafana Alloy send it:
// logproto.PushRequest in protobuf, snappy block-compressed. The field
// numbers are those of Loki's push.proto: PushRequest.streams = 1;
// StreamAdapter.labels = 1, entries = 2; EntryAdapter.timestamp = 1
// (google.protobuf.Timestamp: seconds = 1, nanos = 2), line = 2,
// structuredMetadata = 3; LabelPairAdapter.name = 1, value = 2.
func logsShipLokiProto(streams ...logsShipStream) []byte {
	bytesField := func(b []byte, num protowire.Number, v []byte) []byte {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		return protowire.AppendBytes(b, v)
	}
	var req []byte
	for _, s := range streams {
		sb := bytesField(nil, 1, []byte(s.Labels))
		for _, e := range s.Entries {
			var ts []byte
			ts = protowire.AppendTag(ts, 1, protowire.VarintType)
			ts = protowire.AppendVarint(ts, uint64(e.Time.Unix()))
			if n := e.Time.Nanosecond(); n != 0 {
				ts = protowire.AppendTag(ts, 2, protowire.VarintType)
				ts = protowire.AppendVarint(ts, uint64(n))
			}
			eb := bytesField(nil, 1, ts)
			eb = bytesField(eb, 2, []byte(e.Line))
			for _, m := range e.Metadata {
				mb := bytesField(nil, 1, []byte(m[0]))
				mb = bytesField(mb, 2, []byte(m[1]))
				eb = bytesField(eb, 3, mb)
			}
			sb = bytesField(sb, 2, eb)
		}
		req = bytesField(req, 1, sb)
	}
	return snappy.Encode(nil, req)
}

// logsShipPromtailHeaders are the headers Promtail sends with a push.
var logsShipPromtailHeaders = map[string]string{"User-Agent": "promtail/3.0.0"}

// logsShipCounter sums the samples of a counter on Vigil's /metrics whose
// labels include every pair of match.
func logsShipCounter(t *testing.T, base, name string, match map[string]string) float64 {
	t.Helper()
	resp, err := logsShipClient.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if !strings.HasPrefix(rest, "{") && !strings.HasPrefix(rest, " ") {
			continue // a longer name
		}
		ok := true
		for k, v := range match {
			if !strings.Contains(rest, k+"="+strconv.Quote(v)) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(rest[strings.LastIndexByte(rest, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		sum += f
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return sum
}

// logsShipHostname is the host name syslog clients put in their messages:
// the name, and its first label (RFC 3164 senders use the short form).
func logsShipHostname(t *testing.T) (string, string) {
	t.Helper()
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	short, _, _ := strings.Cut(h, ".")
	return h, short
}
