package logline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/storage/events"
	"github.com/vigilhq/vigil/storage/logs"
)

var now = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func TestParseJSONBodyStructlog(t *testing.T) {
	var r logs.Record
	body := `{"order_id": 42, "amount": 9.5, "event": "order_created", "level": "info", "timestamp": "2026-12-02T09:59:58.123456Z", "user": {"id": "u1", "tier": "gold"}, "tags": ["a", "b"], "ok": true}`
	if !ParseJSONBody(&r, []byte(body), Fields{}) {
		t.Fatal("not parsed")
	}
	if r.Body != "order_created" || r.SeverityNumber != 9 || r.SeverityText != "info" {
		t.Errorf("body %q severity %d %q", r.Body, r.SeverityNumber, r.SeverityText)
	}
	if want := time.Date(2026, 12, 2, 9, 59, 58, 123456000, time.UTC); !r.Time.Equal(want) {
		t.Errorf("time = %v", r.Time)
	}
	for k, v := range map[string]string{"order_id": "42", "amount": "9.5", "user.id": "u1", "user.tier": "gold", "tags": `["a","b"]`, "ok": "true"} {
		if r.Attributes[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, r.Attributes[k], v)
		}
	}
	for _, k := range []string{"event", "level", "timestamp"} {
		if _, ok := r.Attributes[k]; ok {
			t.Errorf("%s kept as an attribute", k)
		}
	}
}

func TestParseJSONBodyNotAnObject(t *testing.T) {
	for _, b := range []string{"plain text", "[1,2]", "{broken", `{"a":1} trailing`, ""} {
		r := logs.Record{Body: b}
		if ParseJSONBody(&r, []byte(b), Fields{}) || r.Body != b || r.Attributes != nil {
			t.Errorf("%q was taken as a JSON object: %+v", b, r)
		}
	}
	// No message field: the object stays the body.
	var r logs.Record
	ParseJSONBody(&r, []byte(`{"a":"b"}`), Fields{})
	if r.Body != `{"a":"b"}` || r.Attributes["a"] != "b" {
		t.Errorf("record = %+v", r)
	}
}

func TestParseTime(t *testing.T) {
	want := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	for _, s := range []string{"2026-12-02T09:00:00Z", "2026-12-02T10:00:00+01:00", "2026-12-02 09:00:00", "2026-12-02 09:00:00,000",
		fmt.Sprint(want.Unix()), fmt.Sprint(want.UnixMilli()), fmt.Sprint(want.UnixMicro()), fmt.Sprint(want.UnixNano()), fmt.Sprintf("%d.0", want.Unix())} {
		got, ok := ParseTime(s)
		if !ok || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v", s, got, ok)
		}
	}
	for _, s := range []string{"", "yesterday", "-5", "12:30"} {
		if _, ok := ParseTime(s); ok {
			t.Errorf("ParseTime(%q) succeeded", s)
		}
	}
}

func TestFinish(t *testing.T) {
	r := logs.Record{Body: "x", SeverityText: "WARNING", Attributes: map[string]string{
		"otelTraceID": "0af7651916cd43dd8448eb211c80319c", "otelSpanID": "b7ad6b7169203331", "service.name": "checkout"}}
	Finish(&r, nil, Options{Now: now, ExtraLabels: map[string]string{"host": "web-1"}})
	if r.Service != "checkout" || r.SeverityNumber != 13 || r.Level() != logs.LevelWarn {
		t.Errorf("service %q severity %d", r.Service, r.SeverityNumber)
	}
	if r.TraceID[0] != 0x0a || r.SpanID[0] != 0xb7 {
		t.Errorf("ids %x %x", r.TraceID, r.SpanID)
	}
	if _, ok := r.Attributes["otelTraceID"]; ok {
		t.Error("trace id kept as an attribute")
	}
	if want := `{host="web-1", level="warn", service_name="checkout"}`; r.Stream != want {
		t.Errorf("stream = %s, want %s", r.Stream, want)
	}
	if !r.Time.Equal(now) || !r.ObservedTime.Equal(now) {
		t.Errorf("times %v %v", r.Time, r.ObservedTime)
	}

	// Given stream labels are kept as they are; bad ids stay attributes.
	r = logs.Record{Attributes: map[string]string{"trace_id": "not-hex", "span_id": "0000000000000000"}}
	Finish(&r, map[string]string{"app": "api", "service_name": "api"}, Options{Now: now})
	if r.HasTrace() || r.Attributes["trace_id"] != "not-hex" || r.Service != "api" || r.Stream != `{app="api", service_name="api"}` {
		t.Errorf("record = %+v", r)
	}
	r = logs.Record{}
	Finish(&r, nil, Options{Now: now})
	if r.Service != "unknown_service" || r.Stream != `{level="unknown", service_name="unknown_service"}` {
		t.Errorf("defaults: %+v", r)
	}
}

func TestHTTPStatusAndTenant(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{nil, 204}, {&LimitError{Msg: "x"}, 429}, {fmt.Errorf("w: %w", &LimitError{}), 429},
		{fmt.Errorf("w: %w", events.ErrDiskFull), 503}, {context.Canceled, 503}, {errors.New("x"), 500},
	} {
		if got := HTTPStatus(c.err); got != c.want {
			t.Errorf("HTTPStatus(%v) = %d, want %d", c.err, got, c.want)
		}
	}
	if TenantFrom(context.Background()) != DefaultTenant || TenantFrom(WithTenant(context.Background(), "t1")) != "t1" {
		t.Error("tenant round trip")
	}
}

func TestFlatten(t *testing.T) {
	out := map[string]string{}
	ok := Flatten(` {"a": "x\"y\u00e9", "n": -1.5e3, "b": false, "z": null, "o": {"p": {"q": 1}}, "arr": [1, {"k": "v"}, "s"], "e": {}} `, out)
	want := map[string]string{"a": `x"yé`, "n": "-1.5e3", "b": "false", "z": "", "o.p.q": "1", "arr": `[1,{"k":"v"},"s"]`}
	if !ok || fmt.Sprint(out) != fmt.Sprint(want) {
		t.Fatalf("Flatten = %v, %v; want %v", ok, out, want)
	}
	for _, bad := range []string{`{"a":}`, `{"a":1,}`, `{"a" 1}`, `{"a":tru}`, `{"a":1} x`, `[1]`, `"s"`, `{"a":"\x01"}`, `{"a":01x}`} {
		if Flatten(bad, map[string]string{}) {
			t.Errorf("Flatten(%q) accepted", bad)
		}
	}
}

// The fast scanner agrees with encoding/json on what is a JSON object.
func FuzzFlatten(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":{"b":[1,2]}}`, `{"a":"\ud83d\ude00"}`, `{`, `{"a":1e999}`, `{"a":"x"}{}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Flatten(s, map[string]string{})
		var obj map[string]any
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		err := dec.Decode(&obj)
		_, tailErr := dec.Token()
		want := err == nil && obj != nil && errors.Is(tailErr, io.EOF) && strings.HasPrefix(strings.TrimSpace(s), "{")
		if got && !want {
			t.Fatalf("Flatten accepted %q, encoding/json does not (%v)", s, err)
		}
	})
}
