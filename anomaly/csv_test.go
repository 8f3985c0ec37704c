package anomaly

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestReadCSV(t *testing.T) {
	f := func(name, in string, want []Point, wantErr string) {
		t.Helper()
		got, err := ReadCSV(strings.NewReader(in), 3)
		if wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Errorf("%s: error %v, want one containing %q", name, err, wantErr)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d points, want %d", name, len(got), len(want))
		}
		for i := range got {
			if !got[i].T.Equal(want[i].T) || got[i].V != want[i].V {
				t.Errorf("%s: point %d = %+v, want %+v", name, i, got[i], want[i])
			}
		}
	}
	t0 := time.Date(2014, 4, 1, 0, 0, 0, 0, time.UTC)
	f("nab", "timestamp,value\n2014-04-01 00:00:00,1.5\n2014-04-01 00:05:00,-2\n",
		[]Point{{t0, 1.5}, {t0.Add(5 * time.Minute), -2}}, "")
	f("columns swapped, blank line, rfc3339", "value,timestamp\n\n3,2014-04-01T00:00:00Z\n",
		[]Point{{t0, 3}}, "")
	f("empty", "", nil, "empty input")
	f("no value column", "timestamp,x\n", nil, "want columns")
	f("bad time", "timestamp,value\nyesterday,1\n", nil, "line 2")
	f("bad value", "timestamp,value\n2014-04-01 00:00:00,abc\n", nil, "line 2 value")
	f("short row", "timestamp,value\n2014-04-01 00:00:00\n", nil, "want at least 2 columns")
	f("too many rows", "timestamp,value\n"+strings.Repeat("2014-04-01 00:00:00,1\n", 4), nil, "more than 3 rows")
}

func TestWriteResults(t *testing.T) {
	t0 := time.Date(2014, 4, 1, 0, 0, 0, 0, time.UTC)
	var b bytes.Buffer
	if err := WriteResults(&b, []Point{{t0, 1.5}}, []float64{0.25}); err != nil {
		t.Fatal(err)
	}
	if want := "timestamp,value,anomaly_score\n2014-04-01 00:00:00,1.5,0.250000\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	if err := WriteResults(&b, []Point{{t0, 1}}, nil); err == nil {
		t.Error("mismatched lengths accepted")
	}
}

func FuzzReadCSV(f *testing.F) {
	f.Add("timestamp,value\n2014-04-01 00:00:00,1.5\n")
	f.Add("value,timestamp\n1,2014-04-01T00:00:00Z\n")
	f.Add("timestamp,value\n,\n")
	f.Fuzz(func(t *testing.T, in string) {
		pts, err := ReadCSV(strings.NewReader(in), 1000)
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := WriteResults(&b, pts, make([]float64, len(pts))); err != nil {
			t.Fatalf("cannot write what was read: %v", err)
		}
	})
}
