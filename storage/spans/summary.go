package spans

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/parquet-go/parquet-go"
)

// SummaryFile is the name of the per-part trace summary written next to a
// part's data (parts.WriteOptions.Extra): one row per trace in the part,
// so trace search can find candidate traces, and a lookup by id can skip
// parts, without reading spans.
const SummaryFile = "traces.parquet"

// TraceSummary describes the spans of one trace that are in one place (a
// part, the head). A trace whose spans are spread over several parts has
// several summaries; Merge combines them.
type TraceSummary struct {
	TraceID [16]byte `parquet:"trace_id"`
	// RootService and RootName are the root span's, or, while the root has
	// not arrived, those of the earliest span.
	RootService   string    `parquet:"root_service,dict"`
	RootName      string    `parquet:"root_name,dict"`
	HasRoot       bool      `parquet:"has_root"`
	Start         time.Time `parquet:"start,timestamp(nanosecond)"`
	DurationNanos int64     `parquet:"duration_ns"` // earliest start to latest end
	SpanCount     int64     `parquet:"span_count"`
	ErrorCount    int64     `parquet:"error_count"`
	Services      []string  `parquet:"services,list"`
}

// End is the latest end of the summarised spans.
func (t *TraceSummary) End() time.Time { return t.Start.Add(time.Duration(t.DurationNanos)) }

// Add folds one span into the summary.
func (t *TraceSummary) Add(s *Span) {
	if t.SpanCount == 0 {
		t.TraceID = s.TraceID
		t.Start = s.Start
		t.DurationNanos = s.DurationNanos
		t.RootService, t.RootName, t.HasRoot = s.Service, s.Name, s.IsRoot()
	} else {
		end := t.End()
		if e := s.End(); e.After(end) {
			end = e
		}
		if s.Start.Before(t.Start) {
			t.Start = s.Start
			if !t.HasRoot {
				t.RootService, t.RootName = s.Service, s.Name
			}
		}
		t.DurationNanos = int64(end.Sub(t.Start))
		if s.IsRoot() && !t.HasRoot {
			t.RootService, t.RootName, t.HasRoot = s.Service, s.Name, true
		}
	}
	t.SpanCount++
	if s.StatusCode == "error" {
		t.ErrorCount++
	}
	if i, found := slices.BinarySearch(t.Services, s.Service); !found {
		t.Services = slices.Insert(t.Services, i, s.Service)
	}
}

// Merge folds another summary of the same trace into t.
func (t *TraceSummary) Merge(o *TraceSummary) {
	if o.SpanCount == 0 {
		return
	}
	if t.SpanCount == 0 {
		*t = *o
		t.Services = slices.Clone(o.Services)
		return
	}
	end := t.End()
	if e := o.End(); e.After(end) {
		end = e
	}
	if o.Start.Before(t.Start) {
		t.Start = o.Start
		if !t.HasRoot {
			t.RootService, t.RootName = o.RootService, o.RootName
		}
	}
	if o.HasRoot && !t.HasRoot {
		t.RootService, t.RootName, t.HasRoot = o.RootService, o.RootName, true
	}
	t.DurationNanos = int64(end.Sub(t.Start))
	t.SpanCount += o.SpanCount
	t.ErrorCount += o.ErrorCount
	for _, s := range o.Services {
		if i, found := slices.BinarySearch(t.Services, s); !found {
			t.Services = slices.Insert(t.Services, i, s)
		}
	}
}

// Summarize returns one summary per trace of rows, sorted by trace id.
// rows need not be sorted.
func Summarize(rows []Span) []TraceSummary {
	idx := make(map[[16]byte]int)
	var out []TraceSummary
	for i := range rows {
		j, ok := idx[rows[i].TraceID]
		if !ok {
			j = len(out)
			idx[rows[i].TraceID] = j
			out = append(out, TraceSummary{})
		}
		out[j].Add(&rows[i])
	}
	slices.SortFunc(out, func(a, b TraceSummary) int { return bytes.Compare(a.TraceID[:], b.TraceID[:]) })
	return out
}

// FindSummary returns the summary of id in sums (sorted by trace id).
func FindSummary(sums []TraceSummary, id [16]byte) (*TraceSummary, bool) {
	i, found := slices.BinarySearchFunc(sums, id, func(s TraceSummary, id [16]byte) int { return bytes.Compare(s.TraceID[:], id[:]) })
	if !found {
		return nil, false
	}
	return &sums[i], true
}

// EncodeSummaries writes summaries as a Parquet file (standard logical
// types, like the spans, so DuckDB reads it too).
func EncodeSummaries(sums []TraceSummary) ([]byte, error) {
	var buf bytes.Buffer
	if err := parquet.Write(&buf, sums, parquet.Compression(&parquet.Zstd)); err != nil {
		return nil, fmt.Errorf("cannot encode trace summaries: %w", err)
	}
	return buf.Bytes(), nil
}

// DecodeSummaries reads what EncodeSummaries wrote.
func DecodeSummaries(b []byte) ([]TraceSummary, error) {
	sums, err := parquet.Read[TraceSummary](bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, fmt.Errorf("cannot read trace summaries: %w", err)
	}
	return sums, nil
}

// SummaryExtra is the events.Options.Extra hook for spans: it writes the
// per-part trace summary.
func SummaryExtra(rows []Span) (map[string][]byte, error) {
	b, err := EncodeSummaries(Summarize(rows))
	if err != nil {
		return nil, err
	}
	return map[string][]byte{SummaryFile: b}, nil
}
