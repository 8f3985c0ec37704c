package report

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHTTPQueryFunc(t *testing.T) {
	rec := &recorder{code: 200}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	q := HTTPQueryFunc(srv.URL+"/", "t0k", nil)
	at := time.Date(2026, 11, 1, 0, 0, 0, 250e6, time.UTC)

	rec.body = `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"service":"checkout"},"value":[1793491200.25,"302400.5"]}]}}`
	v, err := q(context.Background(), `sum(increase(x[1d]))`, at)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 1 || v[0].Value != 302400.5 || v[0].Metric["service"] != "checkout" {
		t.Errorf("vector = %v", v)
	}
	if rec.path != "/api/v1/query" || rec.auth != "Bearer t0k" || rec.params.Get("query") != `sum(increase(x[1d]))` || rec.params.Get("time") != "1793491200.250" {
		t.Errorf("request %s auth %q params %v", rec.path, rec.auth, rec.params)
	}

	rec.body = `{"status":"success","data":{"resultType":"scalar","result":[1793491200,"7"]}}`
	if v, err = q(context.Background(), "7", at); err != nil || len(v) != 1 || v[0].Value != 7 {
		t.Errorf("scalar = %v, %v", v, err)
	}

	rec.body = `{"status":"success","data":{"resultType":"matrix","result":[]}}`
	if _, err = q(context.Background(), "x[5m]", at); err == nil || !strings.Contains(err.Error(), `"matrix"`) {
		t.Errorf("matrix: err = %v", err)
	}

	rec.code, rec.body = http.StatusBadRequest, `{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error"}`
	_, err = q(context.Background(), "sum(", at)
	if err == nil || !strings.Contains(err.Error(), `400 Bad Request: bad_data: invalid parameter "query"`) || strings.Contains(err.Error(), "sum(") {
		t.Errorf("bad query: err = %v, want the server's message without the query string", err)
	}

	rec.code, rec.body = 200, `<html>proxy</html>`
	if _, err = q(context.Background(), "up", at); err == nil || !strings.Contains(err.Error(), "cannot decode") {
		t.Errorf("non-JSON: err = %v", err)
	}
}

func TestRedactQuery(t *testing.T) {
	got := redactQuery("http://user:hunter2@vigil:9090/api/v1/query?query=up")
	if strings.Contains(got, "hunter2") || strings.Contains(got, "query=") {
		t.Errorf("redactQuery = %q", got)
	}
}
