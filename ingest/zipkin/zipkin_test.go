package zipkin

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/ingest"
	"github.com/vigilhq/vigil/storage/spans"
)

type memStore struct {
	mu   sync.Mutex
	rows []spans.Span
	err  error
}

func (m *memStore) Append(_ context.Context, rows []spans.Span) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.rows = append(m.rows, rows...)
	return nil
}

// A two-span trace as zipkin-go / Brave send it.
const sample = `[
 {"traceId":"5af7183fb1d4cf5f","id":"6b221d5bc9e6496c","name":"get /api","kind":"SERVER","timestamp":1700000000000000,"duration":207000,
  "localEndpoint":{"serviceName":"frontend","ipv4":"192.168.99.1","port":8080},"tags":{"http.method":"GET","http.path":"/api"},
  "annotations":[{"timestamp":1700000000100000,"value":"wr"}]},
 {"traceId":"5af7183fb1d4cf5f","parentId":"6b221d5bc9e6496c","id":"352bff9a74ca9ad2","name":"query","kind":"CLIENT","timestamp":1700000000010000,"duration":150000,
  "localEndpoint":{"serviceName":"frontend"},"remoteEndpoint":{"serviceName":"backend","port":9000},"tags":{"error":"timeout"}}
]`

func post(h http.Handler, ct, enc string, body []byte) *http.Response {
	r := httptest.NewRequest(http.MethodPost, "/api/v2/spans", bytes.NewReader(body))
	r.Header.Set("Content-Type", ct)
	if enc != "" {
		r.Header.Set("Content-Encoding", enc)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func TestAcceptsZipkinV2(t *testing.T) {
	st := &memStore{}
	var observed int
	h := New(Options{Store: st, Observe: func(s []spans.Span) { observed += len(s) }, Metrics: ingest.NewMetrics(nil)})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(sample))
	zw.Close()
	for _, enc := range []string{"", "gzip"} {
		body := []byte(sample)
		if enc == "gzip" {
			body = gz.Bytes()
		}
		if resp := post(h, "application/json", enc, body); resp.StatusCode != http.StatusAccepted {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("%q: %d %s", enc, resp.StatusCode, b)
		}
	}
	if len(st.rows) != 4 || observed != 4 {
		t.Fatalf("stored %d, observed %d, want 4", len(st.rows), observed)
	}
	root, child := st.rows[0], st.rows[1]
	if spans.TraceIDString(root.TraceID) != "00000000000000005af7183fb1d4cf5f" || !root.IsRoot() || root.Service != "frontend" ||
		root.Kind != "server" || !root.Start.Equal(time.UnixMicro(1700000000000000)) || root.DurationNanos != 207_000_000 ||
		root.Attributes["http.method"] != "GET" || len(root.Events) != 1 || root.Events[0].Name != "wr" || root.StatusCode != "unset" {
		t.Fatalf("root = %+v", root)
	}
	if child.ParentSpanID != root.SpanID || child.Kind != "client" || child.StatusCode != "error" || child.StatusMessage != "timeout" ||
		child.Attributes["peer.service"] != "backend" || child.Attributes["error"] != "" {
		t.Fatalf("child = %+v", child)
	}
}

func TestBadInput(t *testing.T) {
	st := &memStore{}
	h := New(Options{Store: st, MaxRequestBytes: 2048, MaxSpans: 3})
	for _, c := range []struct {
		name, ct, body string
		code           int
		contains       string
	}{
		{"not json", "application/json", `{"traceId":`, 400, "cannot decode"},
		{"object not array", "application/json", `{"traceId":"1"}`, 400, "array"},
		{"proto3", "application/x-protobuf", "x", 415, "application/json"},
		{"too large", "application/json", "[" + strings.Repeat(" ", 3000) + "]", 413, "2048"},
		{"too many", "application/json", `[{},{},{},{}]`, 400, "limit of 3"},
	} {
		resp := post(h, c.ct, "", []byte(c.body))
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != c.code || !strings.Contains(string(b), c.contains) {
			t.Errorf("%s: %d %q, want %d with %q", c.name, resp.StatusCode, b, c.code, c.contains)
		}
	}
	// Invalid spans are refused alone, the rest stored.
	mixed := `[{"traceId":"zz","id":"6b221d5bc9e6496c","name":"a","timestamp":1,"duration":1},
	 {"traceId":"5af7183fb1d4cf5f","id":"0000000000000000","name":"b","timestamp":1,"duration":1},
	 {"traceId":"5af7183fb1d4cf5f","id":"6b221d5bc9e6496c","name":"good","timestamp":1700000000000000,"duration":1}]`
	resp := post(h, "application/json", "", []byte(mixed))
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(string(b), "refused 2") || len(st.rows) != 1 || st.rows[0].Name != "good" {
		t.Fatalf("mixed batch: %d %q, stored %d", resp.StatusCode, b, len(st.rows))
	}
	st.err = errors.New("disk full")
	if resp := post(h, "application/json", "", []byte(sample)); resp.StatusCode != 503 {
		t.Fatalf("store failure: %d, want 503 (retryable)", resp.StatusCode)
	}
}

func FuzzZipkin(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte(`[{"traceId":"5af7183fb1d4cf5f","id":"1","timestamp":-1}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		st := &memStore{}
		h := New(Options{Store: st})
		resp := post(h, "application/json", "", body)
		if resp.StatusCode != 202 && resp.StatusCode != 400 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		for _, s := range st.rows {
			if s.TraceID == [16]byte{} || s.SpanID == [8]byte{} || s.DurationNanos < 0 {
				t.Fatalf("invalid span stored: %+v", s)
			}
		}
	})
}
