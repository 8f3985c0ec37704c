package redact

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigilhq/vigil/storage/logs"
)

// FuzzRedact checks, with every built-in detector on, that masking never
// panics, that masking twice equals masking once, that a value with
// nothing masked is unchanged, and that no card number or email address
// found in the input survives in the output.
func FuzzRedact(f *testing.F) {
	files, _ := filepath.Glob("testdata/corpus/*.txt")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if len(l) > 2 && (l[0] == '+' || l[0] == '-') {
				f.Add(unescape(l[2:]))
			}
		}
	}
	for _, l := range append(cleanLines, dirtyLines...) {
		f.Add(l)
	}
	r := mustNew(f, allOn())
	f.Fuzz(func(t *testing.T, s string) {
		out, n := r.redactValue(s) // without Redact's recover: a panic fails
		if n == 0 && out != s {
			t.Fatalf("nothing counted but %q became %q", s, out)
		}
		if again, k := r.redactValue(out); again != out || k != 0 {
			t.Fatalf("not idempotent (%d more):\n in: %q\nonce: %q\ntwice: %q", k, s, out, again)
		}
		var buf [8]span
		for _, d := range []struct {
			name string
			find func(string, []span) []span
		}{{"card", findCards}, {"email", findEmails}} {
			spans := d.find(s, buf[:0])
			for _, sp := range spans {
				text := s[sp.start:sp.end]
				if strings.Contains(out, text) && onlyAt(s, text, spans) {
					t.Fatalf("%s %q survived:\n in: %q\nout: %q", d.name, text, s, out)
				}
			}
		}
		rec := logs.Record{Body: s, Attributes: map[string]string{s: s}, Resource: map[string]string{"k": s}}
		before := testutil.ToFloat64(r.failures)
		r.Redact(&rec)
		if testutil.ToFloat64(r.failures) != before {
			t.Fatalf("Redact failed closed on %q", s)
		}
		if rec.Body != out || rec.Resource["k"] != out {
			t.Fatalf("Redact body %q, resource %q; redactValue %q", rec.Body, rec.Resource["k"], out)
		}
	})
}

// onlyAt reports whether every occurrence of text in s is one of spans:
// if the same text also stands elsewhere, where it is no card or
// address (inside an id), it may rightly survive there.
func onlyAt(s, text string, spans []span) bool {
	for i := 0; ; {
		k := strings.Index(s[i:], text)
		if k < 0 {
			return true
		}
		at := i + k
		found := false
		for _, sp := range spans {
			if sp.start == at && sp.end == at+len(text) {
				found = true
			}
		}
		if !found {
			return false
		}
		i = at + 1
	}
}
