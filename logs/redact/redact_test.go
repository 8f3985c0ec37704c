package redact

import (
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/vigilhq/vigil/storage/logs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func allOn() Options {
	o := DefaultOptions()
	o.IPAddresses = true
	return o
}

func mustNew(t testing.TB, o Options) *Redactor {
	t.Helper()
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNewRuleErrors(t *testing.T) {
	f := func(rules []Rule, want string) {
		t.Helper()
		_, err := New(Options{Rules: rules})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(%v) = %v, want an error containing %q", rules, err, want)
		}
	}
	f([]Rule{{Name: "order", Pattern: `ord_(\d+`}}, `cannot compile redaction rule "order": error parsing regexp: missing closing ): `)
	f([]Rule{{Name: "x", Pattern: `a**`}}, `redaction rule "x": error parsing regexp: invalid nested repetition operator`)
	f([]Rule{{Pattern: `abc`}}, `redaction rule #1 (pattern "abc"): it has no name`)
	f([]Rule{{Name: "x", Pattern: "a"}, {Name: "x", Pattern: "b"}}, `rule "x": the name is already taken`)
	f([]Rule{{Name: "email", Pattern: "b"}}, `rule "email": the name is already taken`)
	f([]Rule{{Name: "x"}}, `rule "x": it has no pattern`)
	f([]Rule{{Name: "x", Pattern: `\d*`}}, `pattern "\\d*" matches the empty string`)
}

func TestEnabled(t *testing.T) {
	var nilR *Redactor
	if nilR.Enabled() || nilR.Redact(&logs.Record{Body: "password=x"}) != 0 {
		t.Error("a nil Redactor is enabled or masks")
	}
	if r := mustNew(t, Options{}); r.Enabled() {
		t.Error("zero Options: enabled")
	}
	for _, o := range []Options{DefaultOptions(), {IPAddresses: true}, {Rules: []Rule{{Name: "r", Pattern: "x"}}}} {
		if !mustNew(t, o).Enabled() {
			t.Errorf("%+v: not enabled", o)
		}
	}
	rec := logs.Record{Body: "password=x alice@example.com"}
	if n := mustNew(t, Options{}).Redact(&rec); n != 0 || rec.Body != "password=x alice@example.com" {
		t.Errorf("zero Options masked %d: %q", n, rec.Body)
	}
}

func TestDefaultOptions(t *testing.T) {
	r := mustNew(t, DefaultOptions())
	rec := logs.Record{Body: "password=x alice@example.com 4111111111111111 10.0.0.1"}
	r.Redact(&rec)
	if want := "password=[REDACTED:secret] [REDACTED:email] [REDACTED:credit_card] 10.0.0.1"; rec.Body != want {
		t.Errorf("got %q, want %q", rec.Body, want)
	}
}

func TestRecord(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := mustNew(t, Options{Secrets: true, Emails: true, CreditCards: true, Registerer: reg})
	resource := map[string]string{"service.name": "shop", "deploy.token": "abc", "owner": "ops@example.com"}
	sharedCopy := maps.Clone(resource)
	attrs := map[string]string{
		"user.email":                        "alice@example.com",
		"http.request.header.authorization": "Bearer xyz",
		"db_password":                       "hunter2",
		"credentials.user":                  "bob",
		"password_reset_requested":          "true",
		"secret":                            "false",
		"token_count":                       "12",
		"path":                              "/login",
		"note":                              "card 4111 1111 1111 1111",
		"PWD":                               "/srv/app",
	}
	rec := logs.Record{Body: `login ok password=hunter2`, Attributes: attrs, Resource: resource}
	n := r.Redact(&rec)
	if rec.Body != "login ok password=[REDACTED:secret]" {
		t.Errorf("body: %q", rec.Body)
	}
	wantAttrs := map[string]string{
		"user.email":                        "[REDACTED:email]",
		"http.request.header.authorization": "[REDACTED:secret]",
		"db_password":                       "[REDACTED:secret]",
		"credentials.user":                  "[REDACTED:secret]",
		"password_reset_requested":          "true",
		"secret":                            "false",
		"token_count":                       "12",
		"path":                              "/login",
		"note":                              "card [REDACTED:credit_card]",
		"PWD":                               "/srv/app",
	}
	if !maps.Equal(rec.Attributes, wantAttrs) {
		t.Errorf("attributes:\n got %v\nwant %v", rec.Attributes, wantAttrs)
	}
	wantRes := map[string]string{"service.name": "shop", "deploy.token": "[REDACTED:secret]", "owner": "[REDACTED:email]"}
	if !maps.Equal(rec.Resource, wantRes) {
		t.Errorf("resource:\n got %v\nwant %v", rec.Resource, wantRes)
	}
	if n != 8 {
		t.Errorf("Redact = %d, want 8 (1 body, 5 attributes, 2 resource)", n)
	}
	// The maps the record came with may be shared with other records: they
	// are replaced, not written.
	if !maps.Equal(resource, sharedCopy) || attrs["db_password"] != "hunter2" {
		t.Error("Redact wrote to the record's original maps")
	}
	for rule, want := range map[string]float64{"secret": 5, "email": 2, "credit_card": 1, "ip_address": 0} {
		if got := testutil.ToFloat64(r.counters[ruleIndex(t, rule)]); got != want {
			t.Errorf("vigil_logs_redactions_total{rule=%q} = %v, want %v", rule, got, want)
		}
	}
	if n := testutil.CollectAndCount(reg, "vigil_logs_redactions_total"); n != numBuiltins {
		t.Errorf("%d redaction series registered, want %d", n, numBuiltins)
	}

	// A record with nothing to mask keeps its maps.
	clean := logs.Record{Body: "ok", Attributes: map[string]string{"a": "b"}}
	before := clean.Attributes
	if n := r.Redact(&clean); n != 0 || fmt.Sprintf("%p", clean.Attributes) != fmt.Sprintf("%p", before) {
		t.Errorf("clean record: n=%d, attributes map replaced", n)
	}
}

func ruleIndex(t *testing.T, name string) int {
	for i, n := range builtinNames {
		if n == name {
			return i
		}
	}
	t.Fatalf("no built-in rule %q", name)
	return 0
}

func TestUserRules(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := mustNew(t, Options{
		Secrets: true,
		Rules: []Rule{
			{Name: "order", Pattern: `ord_(\d{4})\d+`, Replacement: "ord_${1}****"},
			{Name: "employee", Pattern: `\bE\d{6}\b`},
			// Runs after the secret detector and the rule before it: it
			// sees their masks.
			{Name: "tag", Pattern: `\[REDACTED:employee\]`, Replacement: "<emp>"},
		},
		Registerer: reg,
	})
	rec := logs.Record{
		Body:       "order ord_123456789 by E123456 and E654321, password=x",
		Attributes: map[string]string{"order": "ord_99998888"},
	}
	n := r.Redact(&rec)
	if want := "order ord_1234**** by <emp> and <emp>, password=[REDACTED:secret]"; rec.Body != want {
		t.Errorf("body:\n got %q\nwant %q", rec.Body, want)
	}
	if rec.Attributes["order"] != "ord_9999****" {
		t.Errorf("attribute: %q", rec.Attributes["order"])
	}
	if n != 7 {
		t.Errorf("Redact = %d, want 7", n)
	}
	want := `
# HELP vigil_logs_redactions_total Values masked in log records before storage, by rule (built-in detectors: secret, credit_card, email, ip_address).
# TYPE vigil_logs_redactions_total counter
vigil_logs_redactions_total{rule="credit_card"} 0
vigil_logs_redactions_total{rule="email"} 0
vigil_logs_redactions_total{rule="employee"} 2
vigil_logs_redactions_total{rule="ip_address"} 0
vigil_logs_redactions_total{rule="order"} 2
vigil_logs_redactions_total{rule="secret"} 1
vigil_logs_redactions_total{rule="tag"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "vigil_logs_redactions_total"); err != nil {
		t.Error(err)
	}
	if _, err := New(Options{Registerer: reg}); err == nil || !strings.Contains(err.Error(), "cannot register redaction metrics") {
		t.Errorf("second redactor on one registry: %v", err)
	}
}

func TestFailClosed(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := mustNew(t, Options{Secrets: true, Registerer: reg})
	r.testHook = func(body string) {
		if strings.Contains(body, "boom") {
			panic("boom")
		}
	}
	recs := []logs.Record{
		{Body: "password=a"},
		{Body: "boom secret-ish 4111111111111111", Attributes: map[string]string{"k": "v", "x": "y"}, Resource: map[string]string{"host": "h"}},
		{Body: "token=b"},
	}
	attrs := recs[1].Attributes
	total := 0
	for i := range recs {
		total += r.Redact(&recs[i])
	}
	if recs[0].Body != "password=[REDACTED:secret]" || recs[2].Body != "token=[REDACTED:secret]" {
		t.Errorf("the rest of the batch: %q, %q", recs[0].Body, recs[2].Body)
	}
	failed := recs[1]
	if failed.Body != Failed || failed.Attributes["k"] != Failed || failed.Attributes["x"] != Failed || failed.Resource["host"] != Failed {
		t.Errorf("failed record not failed closed: %+v", failed)
	}
	if attrs["k"] != "v" {
		t.Error("failing closed wrote to the original attribute map")
	}
	if total != 1+4+1 {
		t.Errorf("Redact total = %d, want 6", total)
	}
	if got := testutil.ToFloat64(r.failures); got != 1 {
		t.Errorf("vigil_logs_redaction_failures_total = %v, want 1", got)
	}
}

func TestConcurrent(t *testing.T) {
	r := mustNew(t, allOn())
	shared := map[string]string{"token": "abc", "host": "10.0.0.1"}
	const workers, per = 8, 200
	var wg sync.WaitGroup
	results := make([][]logs.Record, workers)
	for w := range workers {
		wg.Go(func() {
			recs := make([]logs.Record, per)
			for i := range recs {
				recs[i] = logs.Record{
					Body:       fmt.Sprintf("worker %d line %d user%d@example.com password=p%d", w, i, i, i),
					Attributes: map[string]string{"card": "4111111111111111", "n": fmt.Sprint(i)},
					Resource:   shared,
				}
				r.Redact(&recs[i])
			}
			results[w] = recs
		})
	}
	wg.Wait()
	for w, recs := range results {
		for i, rec := range recs {
			want := fmt.Sprintf("worker %d line %d [REDACTED:email] password=[REDACTED:secret]", w, i)
			if rec.Body != want || rec.Attributes["card"] != "[REDACTED:credit_card]" || rec.Resource["token"] != "[REDACTED:secret]" || rec.Resource["host"] != "[REDACTED:ip_address]" {
				t.Fatalf("worker %d record %d: %+v", w, i, rec)
			}
		}
	}
	if shared["token"] != "abc" {
		t.Error("the shared resource map was written")
	}
	if got, want := testutil.ToFloat64(r.counters[builtinEmail]), float64(workers*per); got != want {
		t.Errorf("email count %v, want %v", got, want)
	}
}

func TestSecretKey(t *testing.T) {
	yes := []string{
		"password", "PASSWORD", "db_password", "DB_PASSWORD", "dbPassword", "user.password", "passwd", "pwd",
		"x-api-key", "X-Api-Key", "apiKey", "APIKey", "api_key", "apikey", "access_key", "accessKey", "AWS_SECRET_ACCESS_KEY",
		"client_secret", "clientSecret", "access_token", "auth_token", "X-Auth-Token", "csrftoken", "refresh_token",
		"authorization", "Proxy-Authorization", "credentials", "session_id", "sessionId", "JSESSIONID_token",
		"private_key", "secret_key", "token_value", "password_b64", "signing_key", "secret", "secrets", "token",
		"password_", "webhook.secret",
	}
	no := []string{
		"", "key", "cache_key", "token_count", "tokens", "prompt_tokens", "token_type", "token_expires_in",
		"password_reset_requested", "password_changed_at", "secret_name", "secretName", "api_key_id", "passage",
		"tokenizer", "session", "user_id", "Authenticate", "value", "_", "OLDPWD", "pass",
	}
	for _, k := range yes {
		if !secretKey(k) {
			t.Errorf("secretKey(%q) = false", k)
		}
	}
	for _, k := range no {
		if secretKey(k) {
			t.Errorf("secretKey(%q) = true", k)
		}
	}
	if !secretAttributeKey("credentials.aws.id") || secretAttributeKey("password_reset.requested") {
		t.Error("secretAttributeKey: dotted prefixes")
	}
}

// TestNoAllocs: the common line, with nothing to mask, costs no
// allocation.
func TestNoAllocs(t *testing.T) {
	for _, r := range []*Redactor{mustNew(t, DefaultOptions()), mustNew(t, allOn())} {
		for _, line := range cleanLines {
			if out, _ := r.redactValue(line); out != line {
				continue // an address, with ip_address on
			}
			if n := testing.AllocsPerRun(20, func() { r.redactValue(line) }); n != 0 {
				t.Errorf("%.0f allocations for %q", n, line)
			}
		}
	}
	r := mustNew(t, DefaultOptions())
	rec := logs.Record{Body: cleanLines[0], Attributes: map[string]string{"a": "b", "path": "/x"}}
	if n := testing.AllocsPerRun(20, func() { r.Redact(&rec) }); n != 0 {
		t.Errorf("%.0f allocations per clean record", n)
	}
}
