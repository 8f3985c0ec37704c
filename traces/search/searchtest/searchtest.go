// Package searchtest builds real span stores for the tests of the trace
// APIs.
package searchtest

import (
	"context"
	"testing"

	"github.com/vigilhq/vigil/storage/events"
	"github.com/vigilhq/vigil/storage/spans"
)

// Store puts rows in a span store in a temporary directory, the first
// half cut to a part and the rest in the head, so a test reads both. It is
// closed when the test ends.
func Store(t testing.TB, rows []spans.Span) *events.Store[spans.Span] {
	t.Helper()
	st, err := events.Open(events.Options[spans.Span]{Dir: t.TempDir(), Schema: spans.Schema, Compare: spans.Compare, Extra: spans.SummaryExtra, MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	half := len(rows) / 2
	if half > 0 {
		if err := st.Append(context.Background(), rows[:half]); err != nil {
			t.Fatal(err)
		}
		if err := st.Cut(); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Append(context.Background(), rows[half:]); err != nil {
		t.Fatal(err)
	}
	return st
}
