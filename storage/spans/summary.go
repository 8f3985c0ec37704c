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
	// ServiceMaxDurations and ServiceMinDurations are, for each entry of
	// Services, its longest and shortest span, so a search for a
	// service's spans over or under a duration is decided here. Parts
	// written before they existed have none (nil): unknown.
	ServiceMaxDurations []int64 `parquet:"service_max_duration_ns,list"`
	ServiceMinDurations []int64 `parquet:"service_min_duration_ns,list"`
}

// HasServiceDurations reports whether the per-service durations are known.
func (t *TraceSummary) HasServiceDurations() bool {
	return len(t.ServiceMaxDurations) == len(t.Services) && len(t.ServiceMinDurations) == len(t.Services)
}

// addService records a span of service with duration d.
func (t *TraceSummary) addService(service string, d int64) {
	i, found := slices.BinarySearch(t.Services, service)
	if !found {
		t.Services = slices.Insert(t.Services, i, service)
		t.ServiceMaxDurations = slices.Insert(t.ServiceMaxDurations, i, d)
		t.ServiceMinDurations = slices.Insert(t.ServiceMinDurations, i, d)
		return
	}
	t.ServiceMaxDurations[i] = max(t.ServiceMaxDurations[i], d)
	t.ServiceMinDurations[i] = min(t.ServiceMinDurations[i], d)
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
	t.addService(s.Service, s.DurationNanos)
}

// Merge folds another summary of the same trace into t.
func (t *TraceSummary) Merge(o *TraceSummary) {
	if o.SpanCount == 0 {
		return
	}
	if t.SpanCount == 0 {
		*t = *o
		t.Services = slices.Clone(o.Services)
		t.ServiceMaxDurations = slices.Clone(o.ServiceMaxDurations)
		t.ServiceMinDurations = slices.Clone(o.ServiceMinDurations)
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
	if !t.HasServiceDurations() || !o.HasServiceDurations() {
		// One side does not know its durations: neither does the merge.
		t.ServiceMaxDurations, t.ServiceMinDurations = nil, nil
		for _, s := range o.Services {
			if i, found := slices.BinarySearch(t.Services, s); !found {
				t.Services = slices.Insert(t.Services, i, s)
			}
		}
		return
	}
	for i, s := range o.Services {
		t.addService(s, o.ServiceMaxDurations[i])
		t.addService(s, o.ServiceMinDurations[i])
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
