package lokiapi

import (
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigilhq/vigil/logs/logql"
)

// Loki's JSON shapes. Times of log lines are Unix nanoseconds as strings;
// sample times are Unix seconds as numbers, values strings, as in the
// Prometheus API. Empty results are [] (Grafana fails on null).

type jsonStream struct {
	Stream map[string]string `json:"stream"`
	Values [][2]string       `json:"values"`
}

type jsonSeries struct {
	Metric map[string]string `json:"metric"`
	Values []jsonPoint       `json:"values"`
}

type jsonSample struct {
	Metric map[string]string `json:"metric"`
	Value  jsonPoint         `json:"value"`
}

// jsonPoint renders as [seconds, "value"].
type jsonPoint struct {
	T int64 // Unix ms
	V float64
}

func (p jsonPoint) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 32)
	b = append(b, '[')
	b = strconv.AppendFloat(b, float64(p.T)/1000, 'f', -1, 64)
	b = append(b, ',', '"')
	b = append(b, formatValue(p.V)...)
	b = append(b, '"', ']')
	return b, nil
}

type jsonData struct {
	ResultType string `json:"resultType"`
	Result     any    `json:"result"`
	Stats      any    `json:"stats"`
}

func labelMap(ls labels.Labels) map[string]string {
	m := ls.Map()
	if m == nil {
		m = map[string]string{}
	}
	return m
}

func encodeStreams(ss logql.Streams) []jsonStream {
	out := make([]jsonStream, 0, len(ss))
	for _, s := range ss {
		js := jsonStream{Stream: labelMap(s.Labels), Values: make([][2]string, 0, len(s.Entries))}
		for _, e := range s.Entries {
			js.Values = append(js.Values, [2]string{strconv.FormatInt(e.Time.UnixNano(), 10), e.Line})
		}
		out = append(out, js)
	}
	return out
}

// encodeResult renders a query result as Loki's data object.
func encodeResult(res logql.Result, took time.Duration) (jsonData, error) {
	d := jsonData{ResultType: res.Data.Type(), Stats: stats(res.Stats, took)}
	switch v := res.Data.(type) {
	case logql.Streams:
		d.Result = encodeStreams(v)
	case logql.Matrix:
		out := make([]jsonSeries, 0, len(v))
		for _, s := range v {
			js := jsonSeries{Metric: labelMap(s.Metric), Values: make([]jsonPoint, 0, len(s.Points))}
			for _, p := range s.Points {
				js.Values = append(js.Values, jsonPoint{p.T, p.V})
			}
			out = append(out, js)
		}
		d.Result = out
	case logql.Vector:
		out := make([]jsonSample, 0, len(v))
		for _, s := range v {
			out = append(out, jsonSample{Metric: labelMap(s.Metric), Value: jsonPoint{s.T, s.V}})
		}
		d.Result = out
	case logql.Scalar:
		d.Result = jsonPoint{v.T, v.V}
	default:
		d.Result = []any{}
	}
	return d, nil
}

// stats is Loki's stats object, with the figures Vigil counts; the
// shape is Loki's so clients that decode it (Grafana, logcli) find the
// fields they expect.
func stats(s logql.Stats, took time.Duration) map[string]any {
	secs := took.Seconds()
	perSec := func(n int64) int64 {
		if secs <= 0 {
			return 0
		}
		return int64(float64(n) / secs)
	}
	store := map[string]any{
		"totalChunksRef": 0, "totalChunksDownloaded": 0, "chunksDownloadTime": 0, "queryReferencedStructuredMetadata": false,
		"chunk": map[string]any{
			"headChunkBytes": 0, "headChunkLines": 0, "decompressedBytes": s.BytesScanned, "decompressedLines": s.LinesScanned,
			"compressedBytes": 0, "totalDuplicates": 0, "postFilterLines": 0, "headChunkStructuredMetadataBytes": 0, "decompressedStructuredMetadataBytes": 0,
		},
	}
	return map[string]any{
		"summary": map[string]any{
			"bytesProcessedPerSecond": perSec(s.BytesScanned), "linesProcessedPerSecond": perSec(s.LinesScanned),
			"totalBytesProcessed": s.BytesScanned, "totalLinesProcessed": s.LinesScanned,
			"execTime": secs, "queueTime": 0, "subqueries": 0, "totalEntriesReturned": 0, "splits": 0, "shards": 0,
			"totalPostFilterLines": 0, "totalStructuredMetadataBytesProcessed": 0,
		},
		"querier":  map[string]any{"store": store},
		"ingester": map[string]any{"totalReached": 0, "totalChunksMatched": 0, "totalBatches": 0, "totalLinesSent": 0, "store": store},
		"cache":    map[string]any{},
	}
}

// historyMessage turns a tail's history query into its first message,
// and remembers the lines at or after recentFrom, which may arrive live
// as well.
func historyMessage(res logql.Result, recentFrom time.Time) (*tailMessage, map[string]struct{}) {
	m := &tailMessage{Streams: []tailStream{}}
	recent := map[string]struct{}{}
	ss, _ := res.Data.(logql.Streams)
	for _, s := range ss {
		ts := tailStream{Stream: labelMap(s.Labels)}
		for _, e := range s.Entries {
			t := strconv.FormatInt(e.Time.UnixNano(), 10)
			ts.Values = append(ts.Values, [2]string{t, e.Line})
			if !e.Time.Before(recentFrom) {
				recent[t+"\x00"+e.Line] = struct{}{}
			}
		}
		m.Streams = append(m.Streams, ts)
	}
	return m, recent
}
