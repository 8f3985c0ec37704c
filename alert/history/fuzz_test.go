package history

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// FuzzDayFile: whatever a day file holds (a crash, a disk error, an
// editor), reading it does not panic, returns only events within the
// query, and an event appended afterwards is read back.
func FuzzDayFile(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("{\"time\":\"2026-12-02T10:00:00Z\",\"state\":\"firing\",\"alertname\":\"A\"}\n{\"time\":\"2026-12-02T1"))
	f.Add([]byte("\x00\x00\x00\x00"))
	f.Add([]byte("{\"time\":\"2026-12-02T10:00:00Z\",\"state\":\"firing\",\"labels\":{\"probe\":\"1\"}}"))
	f.Add([]byte("{\"time\":\"1999-01-01T00:00:00Z\",\"state\":\"x\",\"value\":1e308}\n\n\r\n{\"time\":null}\n"))
	f.Fuzz(func(t *testing.T, content []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, dayOf(t0).fileName()), content, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Open(Options{Dir: dir, Now: func() time.Time { return t0 }})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		start, end := t0.Add(-time.Hour), t0.Add(time.Hour)
		got, err := s.Query(Query{Start: start, End: end})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range got {
			if e.Time.Before(start) || e.Time.After(end) {
				t.Errorf("event outside the query: %v", e.Time)
			}
		}

		s.Record(ev(t0, "Probe", StateFiring, "probe", "appended"))
		probe := []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "probe", "appended")}
		got, err = s.Query(Query{Matchers: probe, Limit: MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range got {
			found = found || (e.AlertName == "Probe" && e.Time.Equal(t0))
		}
		if !found {
			t.Errorf("the appended event is not read back: %v", brief(got))
		}
	})
}

// FuzzQueryParams: any query string gets a 200 or a 400, never a panic
// or another status.
func FuzzQueryParams(f *testing.F) {
	f.Add("start=0&end=1&match[]={a=\"b\"}&state=firing&limit=5")
	f.Add("match[]=up{job=~\"a|b\"}&state=firing,resolved")
	f.Add("start=2026-12-02T10:00:00Z&end=-1e18")
	f.Add("limit=99999999999999999999&start=Inf")
	s, err := Open(Options{Dir: f.TempDir(), Now: func() time.Time { return t0 }})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })
	s.Record(ev(t0.Add(-time.Minute), "A", StateFiring, "a", "b"))
	h := s.Handler()
	f.Fuzz(func(t *testing.T, rawQuery string) {
		if _, err := url.ParseQuery(rawQuery); err != nil {
			return
		}
		req := httptest.NewRequest(http.MethodGet, "/api/v1/alerts/history", nil)
		req.URL.RawQuery = rawQuery
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Errorf("%q: status %d: %s", rawQuery, rec.Code, rec.Body)
		}
	})
}
