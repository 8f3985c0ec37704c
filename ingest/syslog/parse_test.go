package syslog

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

var now = time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)

func TestParse(t *testing.T) {
	bsd := func(m time.Month, d, hh, mm, ss int) time.Time { return time.Date(2025, m, d, hh, mm, ss, 0, time.UTC) }
	for _, c := range []struct {
		name string
		in   string
		want Message
	}{
		{"RFC 5424 example 1", `<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed for lonvick on /dev/pts/8`,
			Message{Format: RFC5424, Priority: 34, Time: time.Date(2003, 10, 11, 22, 14, 15, 3e6, time.UTC), Host: "mymachine.example.com", App: "su", MsgID: "ID47",
				Msg: []byte(`'su root' failed for lonvick on /dev/pts/8`)}},
		{"structured data and BOM", "<165>1 2003-10-11T22:14:15.003000-07:00 mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\"][examplePriority@32473 class=\"high\"] \xef\xbb\xbfAn application event",
			Message{Format: RFC5424, Priority: 165, Time: time.Date(2003, 10, 12, 5, 14, 15, 3e6, time.UTC), Host: "mymachine.example.com", App: "evntslog", MsgID: "ID47",
				Params: []Param{{"exampleSDID@32473", "iut", "3"}, {"exampleSDID@32473", "eventSource", "Application"}, {"examplePriority@32473", "class", "high"}},
				Msg:    []byte("An application event")}},
		{"SD escapes", `<14>1 - h app 42 - [x@1 a="q\"uo\\te\]d" b="back\slash" c=""] m`,
			Message{Format: RFC5424, Priority: 14, Host: "h", App: "app", ProcID: "42",
				Params: []Param{{"x@1", "a", `q"uo\te]d`}, {"x@1", "b", `back\slash`}, {"x@1", "c", ""}}, Msg: []byte("m")}},
		{"SD element without params, no MSG", `<165>1 2003-08-24T05:14:15.000003Z 192.0.2.1 myproc 8710 - [timeQuality]`,
			Message{Format: RFC5424, Priority: 165, Time: time.Date(2003, 8, 24, 5, 14, 15, 3000, time.UTC), Host: "192.0.2.1", App: "myproc", ProcID: "8710",
				Params: []Param{{ID: "timeQuality"}}, Msg: []byte{}}},
		{"all NILVALUE", `<14>1 - - - - - -`, Message{Format: RFC5424, Priority: 14, Msg: []byte{}}},
		{"all NILVALUE with message", `<14>1 - - - - - - hello`, Message{Format: RFC5424, Priority: 14, Msg: []byte("hello")}},
		{"truncated header", `<14>1 2003-10-11T22:14:15Z host`, Message{Format: RFC5424, Priority: 14, Time: time.Date(2003, 10, 11, 22, 14, 15, 0, time.UTC), Host: "host"}},
		{"header ends before SD", `<14>1 - h a p m`, Message{Format: RFC5424, Priority: 14, Host: "h", App: "a", ProcID: "p", MsgID: "m"}},
		{"malformed SD kept as message", `<14>1 - h a - - [ok@1 k="v"][bad sd never closed`,
			Message{Format: RFC5424, Priority: 14, Host: "h", App: "a", Params: []Param{{"ok@1", "k", "v"}}, Msg: []byte(`[bad sd never closed`)}},
		{"no SD field", `<14>1 - h a - - hello`, Message{Format: RFC5424, Priority: 14, Host: "h", App: "a", Msg: []byte("hello")}},
		{"bad timestamp", `<14>1 yesterday h a - - - hi`, Message{Format: RFC5424, Priority: 14, Host: "h", App: "a", Msg: []byte("hi")}},
		{"trailing CRLF", "<14>1 - h a - - - hi\r\n", Message{Format: RFC5424, Priority: 14, Host: "h", App: "a", Msg: []byte("hi")}},

		{"RFC 3164", `<13>Feb  5 17:32:18 myhost sshd[1234]: Accepted publickey for root`,
			Message{Format: RFC3164, Priority: 13, Time: bsd(2, 5, 17, 32, 18), Host: "myhost", App: "sshd", ProcID: "1234", Msg: []byte("Accepted publickey for root")}},
		{"RFC 3164 without host (logger)", `<13>Jun 15 10:00:00 alice: hello`,
			Message{Format: RFC3164, Priority: 13, Time: bsd(6, 15, 10, 0, 0), App: "alice", Msg: []byte("hello")}},
		{"RFC 3164 without tag", `<13>Jun 15 10:00:00 host message without tag`,
			Message{Format: RFC3164, Priority: 13, Time: bsd(6, 15, 10, 0, 0), Host: "host", Msg: []byte("message without tag")}},
		{"RFC 3164 fraction, one-digit day", `<13>Jun 5 10:00:00.250 host app: x`,
			Message{Format: RFC3164, Priority: 13, Time: bsd(6, 5, 10, 0, 0).Add(250 * time.Millisecond), Host: "host", App: "app", Msg: []byte("x")}},
		{"no PRI (rsyslog file)", `Jun 15 10:00:00 myhost kernel: [    0.000000] Linux version 6.1`,
			Message{Format: RFC3164, Priority: -1, Time: bsd(6, 15, 10, 0, 0), Host: "myhost", App: "kernel", Msg: []byte("[    0.000000] Linux version 6.1")}},
		{"rsyslog RFC 3339 variant", `<30>2024-02-05T17:32:18.123456+01:00 myhost systemd[1]: Started foo.service.`,
			Message{Format: RFC3164, Priority: 30, Time: time.Date(2024, 2, 5, 16, 32, 18, 123456000, time.UTC), Host: "myhost", App: "systemd", ProcID: "1", Msg: []byte("Started foo.service.")}},
		{"RFC 3339 variant without PRI", `2024-02-05T17:32:18Z myhost app: x`,
			Message{Format: RFC3164, Priority: -1, Time: time.Date(2024, 2, 5, 17, 32, 18, 0, time.UTC), Host: "myhost", App: "app", Msg: []byte("x")}},
		{"PRI then no timestamp", `<13>myapp[7]: hi`, Message{Format: RFC3164, Priority: 13, App: "myapp", ProcID: "7", Msg: []byte("hi")}},
		{"PRI then plain text", `<13>hello world`, Message{Format: RFC3164, Priority: 13, Msg: []byte("hello world")}},
		{"PRI then nothing", `<0>`, Message{Format: RFC3164, Priority: 0, Msg: []byte{}}},
		{"version other than 1", `<13>2 - - - - - - x`, Message{Format: RFC3164, Priority: 13, Msg: []byte("2 - - - - - - x")}},

		{"PRI too large", `<192>1 - - - - - - x`, Message{Format: NotSyslog, Priority: -1, Msg: []byte(`<192>1 - - - - - - x`)}},
		{"PRI of four digits", `<0013>x`, Message{Format: NotSyslog, Priority: -1, Msg: []byte(`<0013>x`)}},
		{"PRI not a number", `<abc>x`, Message{Format: NotSyslog, Priority: -1, Msg: []byte(`<abc>x`)}},
		{"empty PRI", `<>x`, Message{Format: NotSyslog, Priority: -1, Msg: []byte(`<>x`)}},
		{"unclosed PRI", `<13`, Message{Format: NotSyslog, Priority: -1, Msg: []byte(`<13`)}},
		{"plain text", `just a line`, Message{Format: NotSyslog, Priority: -1, Msg: []byte(`just a line`)}},
		{"bad month", `Foo 15 10:00:00 h a: x`, Message{Format: NotSyslog, Priority: -1, Msg: []byte(`Foo 15 10:00:00 h a: x`)}},
		{"bad clock", `Jun 15 25:00:00 h a: x`, Message{Format: NotSyslog, Priority: -1, Msg: []byte(`Jun 15 25:00:00 h a: x`)}},
	} {
		got := Parse([]byte(c.in), now)
		if !equalMessage(got, c.want) {
			t.Errorf("%s:\n got %+v (msg %q)\nwant %+v (msg %q)", c.name, got, got.Msg, c.want, c.want.Msg)
		}
	}
}

func equalMessage(a, b Message) bool {
	if !bytes.Equal(a.Msg, b.Msg) || !a.Time.Equal(b.Time) {
		return false
	}
	a.Msg, b.Msg, a.Time, b.Time = nil, nil, time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

// RFC 3164 has no year: it is the one that puts the message nearest now.
func TestYearInference(t *testing.T) {
	for _, c := range []struct {
		now  time.Time
		in   string
		want time.Time
	}{
		{time.Date(2025, 1, 1, 0, 0, 10, 0, time.UTC), "<13>Dec 31 23:59:59 h a: x", time.Date(2024, 12, 31, 23, 59, 59, 0, time.UTC)},
		{time.Date(2024, 12, 31, 23, 59, 50, 0, time.UTC), "<13>Jan  1 00:00:05 h a: x", time.Date(2025, 1, 1, 0, 0, 5, 0, time.UTC)},
		{time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), "<13>Feb 28 08:00:00 h a: x", time.Date(2025, 2, 28, 8, 0, 0, 0, time.UTC)},
	} {
		if got := Parse([]byte(c.in), c.now).Time; !got.Equal(c.want) {
			t.Errorf("%s at %v: %v, want %v", c.in, c.now, got, c.want)
		}
	}
	// The zone is now's.
	berlin := time.FixedZone("CET", 3600)
	got := Parse([]byte("<13>Jun 15 10:00:00 h a: x"), now.In(berlin)).Time
	if !got.Equal(time.Date(2025, 6, 15, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("local time read as %v", got)
	}
}

func TestRecord(t *testing.T) {
	m := Parse([]byte(`<134>1 2024-05-01T10:00:00Z web-1 nginx 812 ACCESS [req@1 path="/a b" status="200"] GET /a`), now)
	r := m.Record(now)
	if r.Service != "nginx" || r.SeverityNumber != 9 || r.SeverityText != "info" || r.Body != "GET /a" ||
		r.Stream != `{host="web-1", level="info", service_name="nginx"}` || !r.ObservedTime.Equal(now) ||
		!r.Time.Equal(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("record %+v", r)
	}
	want := map[string]string{"syslog.facility": "local0", "syslog.procid": "812", "syslog.msgid": "ACCESS", "req@1.path": "/a b", "req@1.status": "200"}
	if !reflect.DeepEqual(r.Attributes, want) {
		t.Errorf("attributes %v, want %v", r.Attributes, want)
	}

	// A JSON message has its fields read; its level beats the PRI's.
	m = Parse([]byte(`<14>1 - - api - - - {"msg":"charged","level":"warning","amount":12.5,"trace_id":"0af7651916cd43dd8448eb211c80319c"}`), now)
	r = m.Record(now)
	if r.Body != "charged" || r.Level() != "warn" || r.Attributes["amount"] != "12.5" || r.TraceID[0] != 0x0a ||
		r.Stream != `{level="warn", service_name="api"}` || r.Attributes["syslog.facility"] != "user" || !r.Time.Equal(now) {
		t.Errorf("JSON message record %+v", r)
	}

	// Not syslog: kept whole, level unknown.
	m = Parse([]byte("Traceback (most recent call last):"), now)
	r = m.Record(now)
	if r.Body != "Traceback (most recent call last):" || r.SeverityNumber != 0 || r.Attributes != nil ||
		r.Stream != `{level="unknown", service_name="unknown_service"}` {
		t.Errorf("not syslog record %+v", r)
	}

	// Severity by PRI, facility keyword, truncation recorded.
	for pri, want := range map[int][2]string{0: {"emerg", "kern"}, 11: {"err", "user"}, 191: {"debug", "local7"}, 124: {"warning", "solaris-cron"}, 108: {"warning", "security"}} {
		m := Message{Format: RFC3164, Priority: pri, Msg: []byte("x"), Truncated: 3}
		r := m.Record(now)
		if r.SeverityText != want[0] || r.Attributes["syslog.facility"] != want[1] || r.Attributes["syslog.truncated_bytes"] != "3" {
			t.Errorf("PRI %d: %q %v", pri, r.SeverityText, r.Attributes)
		}
	}
}

// FuzzParse: Parse never panics, the fields it returns come from the
// input, and the record is complete with a body from the input (or from
// a JSON message's fields).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed`,
		`<165>1 2003-10-11T22:14:15.003000-07:00 h evntslog - ID47 [exampleSDID@32473 iut="3" a="\"\]\\"] ` + "\xef\xbb\xbfAn event",
		`<13>Feb  5 17:32:18 myhost sshd[1234]: Accepted`,
		`<30>2024-02-05T17:32:18.123456+01:00 myhost systemd[1]: Started`,
		`Jun 15 10:00:00 myhost kernel: x`,
		`<14>1 - - - - - - {"msg":"x","level":"error"}`,
		`<999>x`, ``, `<`, `[`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		m := Parse(in, now)
		for _, s := range []string{string(m.Msg), m.Host, m.App, m.ProcID, m.MsgID} {
			if !bytes.Contains(in, []byte(s)) {
				t.Fatalf("%q is not part of the input %q", s, in)
			}
		}
		if m.Priority < -1 || m.Priority > 191 {
			t.Fatalf("priority %d", m.Priority)
		}
		if m.Format == NotSyslog && (m.Priority != -1 || !bytes.Equal(m.Msg, bytes.TrimRight(in, "\r\n\x00"))) {
			t.Fatalf("not syslog, but priority %d and message %q is not the whole line", m.Priority, m.Msg)
		}
		r := m.Record(now)
		if r.Service == "" || r.Stream == "" || r.Time.IsZero() {
			t.Fatalf("incomplete record %+v", r)
		}
		if !bytes.Contains(in, []byte(r.Body)) {
			msg := bytes.TrimSpace(m.Msg)
			if len(msg) == 0 || msg[0] != '{' || !json.Valid(msg) {
				t.Fatalf("body %q is neither from the input %q nor from a JSON message", r.Body, in)
			}
		}
	})
}
