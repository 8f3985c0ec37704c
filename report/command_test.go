package report

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a fake server that remembers the last request.
type recorder struct {
	path, auth string
	params     url.Values
	code       int
	body       string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.path, r.auth, r.params = req.URL.Path, req.Header.Get("Authorization"), req.URL.Query()
	w.WriteHeader(r.code)
	_, _ = w.Write([]byte(r.body))
}

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestCommand(t *testing.T) {
	rec := &recorder{code: 200, body: "# SLA report: checkout\n"}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	err := Command(context.Background(), []string{"sla", "--service", "checkout", "--from", "2026-11-01", "--to", "2026-12-01", "--format", "md", "--url", srv.URL + "/", "--objective", "99.9", "--latency-objective", "p99:500ms"},
		env(map[string]string{"VIGIL_READ_TOKEN": " s3cret\n"}), &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if stdout.String() != rec.body {
		t.Errorf("stdout = %q, want the server's body", stdout.String())
	}
	if rec.path != "/api/v1/sla" || rec.auth != "Bearer s3cret" {
		t.Errorf("request to %s with Authorization %q", rec.path, rec.auth)
	}
	want := url.Values{"service": {"checkout"}, "from": {"2026-11-01"}, "to": {"2026-12-01"}, "format": {"md"}, "objective": {"99.9"}, "latency_objective": {"p99:500ms"}}
	if rec.params.Encode() != want.Encode() {
		t.Errorf("params = %s, want %s", rec.params.Encode(), want.Encode())
	}

	// The token file wins over the environment; no flags, no params.
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Command(context.Background(), []string{"sla", "--service", "checkout", "--url", srv.URL, "--read-token-file", file}, env(map[string]string{"VIGIL_READ_TOKEN": "from-env"}), &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if rec.auth != "Bearer from-file" || rec.params.Encode() != "format=json&service=checkout" {
		t.Errorf("Authorization %q, params %s", rec.auth, rec.params.Encode())
	}

	// No token at all: no header.
	if err := Command(context.Background(), []string{"sla", "--service", "checkout", "--url", srv.URL}, env(nil), &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if rec.auth != "" {
		t.Errorf("Authorization %q sent without a token", rec.auth)
	}
}

func TestCommandServerErrors(t *testing.T) {
	f := func(code int, body, want string) {
		t.Helper()
		srv := httptest.NewServer(&recorder{code: code, body: body})
		defer srv.Close()
		var stdout, stderr bytes.Buffer
		err := Command(context.Background(), []string{"sla", "--service", "ghost", "--url", srv.URL}, env(nil), &stdout, &stderr)
		var ue *UsageError
		if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want a non-usage error containing %q", err, want)
		}
		if stdout.Len() != 0 {
			t.Errorf("stdout = %q after an error", stdout.String())
		}
	}
	f(404, `{"status":"error","errorType":"not_found","error":"no data: no request metrics for service \"ghost\""}`, `404 Not Found: not_found: no data: no request metrics for service "ghost"`)
	f(401, "unauthorized\n", "401 Unauthorized: unauthorized")
	f(502, "", "502 Bad Gateway: (no message)")
}

func TestCommandUsage(t *testing.T) {
	f := func(args []string, want string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		err := Command(context.Background(), args, env(nil), &stdout, &stderr)
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want a UsageError containing %q", args, err, want)
		}
	}
	f(nil, "no report named")
	f([]string{"uptime"}, `unknown report "uptime"`)
	f([]string{"sla"}, "--service is required")
	f([]string{"sla", "--service", "s", "--bogus"}, "flag provided but not defined: -bogus")
	f([]string{"sla", "--service", "s", "--objective"}, "flag needs an argument: -objective")
	f([]string{"sla", "--service", "s", "extra"}, `unexpected argument "extra"`)
	f([]string{"sla", "--service", "s", "--from", "monday"}, "--from: cannot parse")
	f([]string{"sla", "--service", "s", "--from", "2026-11-01", "--to", "soon"}, "--to: cannot parse")
	f([]string{"sla", "--service", "s", "--to", "2026-11-01"}, "--from is required when --to is given")
	f([]string{"sla", "--service", "s", "--format", "pdf"}, `--format: unknown format "pdf"`)
	f([]string{"sla", "--service", "s", "--objective", "high"}, "--objective: cannot parse")
	f([]string{"sla", "--service", "s", "--latency-objective", "fast"}, "--latency-objective: cannot parse")
	f([]string{"sla", "--service", "s", "--url", "ftp://host"}, "--url:")
	f([]string{"sla", "--service", "s", "--url", "127.0.0.1:9090"}, "--url:")
	f([]string{"sla", "--service", "s", "--read-token-file", filepath.Join(t.TempDir(), "missing")}, "--read-token-file:")
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f([]string{"sla", "--service", "s", "--read-token-file", empty}, "is empty")

	var stdout, stderr bytes.Buffer
	if err := Command(context.Background(), []string{"sla", "-h"}, env(nil), &stdout, &stderr); !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr.String(), "-read-token-file") {
		t.Errorf("-h: err = %v, stderr %q", err, stderr.String())
	}
}

// The CLI, the handler and the engine together, as "vigil report sla"
// against a running server.
func TestCommandAgainstHandler(t *testing.T) {
	h := testHandler(testQuery(t), nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer r3ad" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	args := []string{"sla", "--service", "checkout", "--from", "2026-11-01", "--to", "2026-11-04", "--url", srv.URL, "--objective", "97"}
	if err := Command(context.Background(), args, env(map[string]string{"VIGIL_READ_TOKEN": "r3ad"}), &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	var a apiAnswer
	if err := json.Unmarshal(stdout.Bytes(), &a); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	if a.Status != "success" || a.Data.TotalRequests != 302400 || !sameBool(a.Data.ObjectiveMet, new(true)) || len(a.Data.Daily) != 3 {
		t.Errorf("answer = %+v", a)
	}

	err := Command(context.Background(), append(args[:len(args):len(args)], "--from", "2026-11-05"), env(map[string]string{"VIGIL_READ_TOKEN": "r3ad"}), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), `400 Bad Request: bad_data: invalid parameter "from"`) {
		t.Errorf("err = %v, want the server's 400 naming from", err)
	}
	err = Command(context.Background(), args, env(map[string]string{"VIGIL_READ_TOKEN": "wrong"}), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("err = %v, want the 401", err)
	}
}
