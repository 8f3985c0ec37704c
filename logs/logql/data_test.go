package logql

import (
	"fmt"
	"time"

	"github.com/vigilhq/vigil/storage/logs"
)

// t0 is the time of the first test record; records are 3 s apart.
var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// testRecords is the fixed data set of the query tests: 200 records over
// ten minutes, i = 0..199 at t0 + 3i seconds, plus a few special lines.
//
//   - i%3 == 0, service api (67 lines): JSON bodies
//     {"method":"GET"|"POST","path":"/users","status":200|500,"latency":"<i>ms","user":{"id":<i%7>,"name":"ann"},"tags":["a"]}
//     status 500 and stream level "error" when i%15 == 0 (14 lines), else
//     200 and level "info"; method POST when i%2 == 1; every i%6 == 0
//     line has trace id 000…0<i> (hex of byte i) and span id 00…0<i>.
//   - i%3 == 1, service worker (67 lines): logfmt bodies
//     level=<lvl> msg="job done" job=resize duration=<i%10>00ms size=<i>KB attempt=<i%4>
//     level warn (severity 13) when i%4 == 1, else info (9); attributes
//     k8s.pod.name=worker-<i%2>, resource host.name=node-1.
//   - i%3 == 2, service web (66 lines): plain access lines
//     10.0.0.<i%5> - - "GET /p<i%4> HTTP/1.1" <code> <bytes>, code 404 when
//     i%10 == 2 else 200, bytes i*10; severity 0 (unknown).
//
// Special lines (all at t0+601s..t0+604s, service extra):
//   - a line whose JSON was parsed at ingest (Attributes user.id=42,
//     component=auth; body "login ok");
//   - an invalid JSON body "{not json";
//   - a colored line "\x1b[31mred alert\x1b[0m";
//   - a line with an attribute 1bad-key=v (sanitised to _1bad_key).
func testRecords() []logs.Record {
	var recs []logs.Record
	for i := 0; i < 200; i++ {
		r := logs.Record{Time: t0.Add(time.Duration(i) * 3 * time.Second)}
		switch i % 3 {
		case 0:
			r.Service = "api"
			status, level, sev := 200, "info", int32(9)
			if i%15 == 0 {
				status, level, sev = 500, "error", 17
			}
			method := "GET"
			if i%2 == 1 {
				method = "POST"
			}
			r.Stream = logs.StreamString(map[string]string{"service_name": "api", "level": level, "env": "prod"})
			r.SeverityNumber = sev
			r.Body = fmt.Sprintf(`{"method":%q,"path":"/users","status":%d,"latency":"%dms","user":{"id":%d,"name":"ann"},"tags":["a"]}`, method, status, i, i%7)
			if i%6 == 0 {
				r.TraceID[15] = byte(i)
				r.TraceID[0] = 0xab
				r.SpanID[7] = byte(i)
			}
		case 1:
			r.Service = "worker"
			level, sev := "info", int32(9)
			if i%4 == 1 {
				level, sev = "warn", 13
			}
			r.Stream = logs.StreamString(map[string]string{"service_name": "worker", "level": level, "env": "prod"})
			r.SeverityNumber = sev
			r.Body = fmt.Sprintf(`level=%s msg="job done" job=resize duration=%d00ms size=%dKB attempt=%d`, level, i%10, i, i%4)
			r.Attributes = map[string]string{"k8s.pod.name": fmt.Sprintf("worker-%d", i%2)}
			r.Resource = map[string]string{"host.name": "node-1"}
		case 2:
			r.Service = "web"
			code := 200
			if i%10 == 2 {
				code = 404
			}
			r.Stream = logs.StreamString(map[string]string{"service_name": "web", "env": "dev"})
			r.Body = fmt.Sprintf(`10.0.0.%d - - "GET /p%d HTTP/1.1" %d %d`, i%5, i%4, code, i*10)
		}
		recs = append(recs, r)
	}
	extra := func(sec int, body string, attrs map[string]string) logs.Record {
		return logs.Record{
			Service: "extra", Stream: `{service_name="extra"}`, Time: t0.Add(time.Duration(sec) * time.Second),
			SeverityNumber: 9, Body: body, Attributes: attrs,
		}
	}
	recs = append(recs,
		extra(601, "login ok", map[string]string{"user.id": "42", "component": "auth"}),
		extra(602, "{not json", nil),
		extra(603, "\x1b[31mred alert\x1b[0m", nil),
		extra(604, "odd attribute", map[string]string{"1bad-key": "v"}),
	)
	return recs
}
