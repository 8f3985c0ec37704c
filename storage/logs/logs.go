// Package logs is the row type of log records in the event store: one
// Record per log line, as written to Parquet parts (see storage/parts) and
// read back by LogQL.
//
// A record belongs to a stream: the set of stream labels it was shipped
// with (Loki push labels) or that Vigil derives for it (service_name and
// level for OTLP, JSON lines, bulk and syslog records, plus a few source
// labels). The stream is stored in its canonical text form,
// `{a="1", b="2"}` with sorted names, so the column is dictionary encoded
// once per stream and a stream selector is matched once per distinct
// stream, not once per line.
//
// Within a part records are sorted by (service, stream, time): a stream's
// lines are contiguous, so a row group holds few streams and the
// per-row-group stream lists (streams.json) prune by selector.
package logs

import (
	"cmp"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigilhq/vigil/storage/parts"
)

// Record is one stored log line.
type Record struct {
	Service string `parquet:"service,dict"`
	// Stream is the canonical text of the stream labels (see
	// StreamString).
	Stream string `parquet:"stream,dict"`
	// Times are delta-encoded: within a stream they rise in small steps.
	Time         time.Time `parquet:"time,timestamp(nanosecond),delta"`
	ObservedTime time.Time `parquet:"observed_time,timestamp(nanosecond),delta"`
	// SeverityNumber is OpenTelemetry's 1..24 scale (0: unknown);
	// SeverityText is the level as the source named it.
	SeverityNumber int32    `parquet:"severity_number"`
	SeverityText   string   `parquet:"severity_text,dict"`
	Body           string   `parquet:"body"`
	TraceID        [16]byte `parquet:"trace_id"` // zero: none
	SpanID         [8]byte  `parquet:"span_id"`  // zero: none
	// Resource holds the resource attributes that are not stream labels;
	// Attributes the record's own attributes and the fields of a JSON
	// body. Values are strings (nested JSON is flattened with dots).
	Resource   map[string]string `parquet:"resource_attributes" parquet-key:",dict"`
	Attributes map[string]string `parquet:"attributes" parquet-key:",dict"`
}

// HasTrace reports whether the record carries a trace id.
func (r *Record) HasTrace() bool { return r.TraceID != [16]byte{} }

// Level is the record's normalised level name (see LevelOf).
func (r *Record) Level() string { return LevelOf(r.SeverityNumber) }

// StreamString renders stream labels in their canonical form: sorted by
// name, empty values dropped, as Prometheus prints a label set. It is
// what Record.Stream holds and what the stream labels parse back from.
func StreamString(m map[string]string) string {
	b := labels.NewScratchBuilder(len(m))
	for k, v := range m {
		if v != "" {
			b.Add(k, v)
		}
	}
	b.Sort()
	return b.Labels().String()
}

// Compare orders records by (service, stream, time), the order parts are
// written in.
func Compare(a, b *Record) int {
	if c := strings.Compare(a.Service, b.Service); c != 0 {
		return c
	}
	if c := strings.Compare(a.Stream, b.Stream); c != 0 {
		return c
	}
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	return cmp.Compare(a.Body, b.Body)
}

// Sort orders records as Compare does.
func Sort(r []Record) {
	slices.SortFunc(r, func(a, b Record) int { return Compare(&a, &b) })
}

// RowGroupRows is the number of records per row group of a log part; the
// grams index (grams.bin) has one bitset per row group of this many rows.
const RowGroupRows = 8192

// Schema describes records to the part store: time is the record's
// timestamp; the bloom tokens are the trace id (hex) and every attribute
// equality under the attribute's label name (LabelName), so a search for
// a trace's lines or for `| order_id="o-42"` reads only the row groups
// that may hold them. Streams are indexed by streams.json and the body by
// grams.bin (see Extra).
var Schema = parts.Schema[Record]{
	Kind: "logs",
	Time: func(r *Record) int64 { return r.Time.UnixNano() },
	// Hashed in place: building "name=value" strings for every attribute
	// of every line cost more than the rest of the bloom.
	TokenHashes: func(r *Record, emit func(uint64)) {
		var d xxhash.Digest
		var name [128]byte // sanitised keys are built here, not allocated
		if r.HasTrace() {
			var b [32]byte
			hex.Encode(b[:], r.TraceID[:])
			emit(xxhash.Sum64(b[:]))
		}
		for _, m := range [2]map[string]string{r.Attributes, r.Resource} {
			for k, v := range m {
				if len(v) <= maxTokenValue {
					d.Reset()
					d.Write(AppendLabelName(name[:0], k))
					d.WriteString("=")
					d.WriteString(v)
					emit(d.Sum64())
				}
			}
		}
	},
}

// maxTokenValue bounds the attribute values indexed: long values (stack
// traces, payloads) are searched by line filters, not equalities.
const maxTokenValue = 256

// TraceToken is the bloom token for a trace id.
func TraceToken(id [16]byte) string { return hex.EncodeToString(id[:]) }

// AttributeToken is the bloom token of a record whose attribute named
// name (a label name) has the value v.
func AttributeToken(name, v string) string { return name + "=" + v }

// LabelName is an attribute key as LogQL names it (structured metadata,
// as Loki sanitises OTLP attribute names): every byte outside
// [a-zA-Z0-9_] becomes '_', and a leading digit gets a '_' before it.
func LabelName(key string) string {
	ok := key != "" && !(key[0] >= '0' && key[0] <= '9')
	for i := 0; ok && i < len(key); i++ {
		ok = isLabelChar(key[i])
	}
	if ok || key == "" {
		return key
	}
	return string(AppendLabelName(make([]byte, 0, len(key)+1), key))
}

// AppendLabelName appends key as LabelName makes it, the '_' before a
// leading digit only when dst is empty (a nested JSON key after a
// parent's "name_" needs none).
func AppendLabelName(dst []byte, key string) []byte {
	if len(dst) == 0 && key != "" && key[0] >= '0' && key[0] <= '9' {
		dst = append(dst, '_')
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; isLabelChar(c) {
			dst = append(dst, c)
		} else {
			dst = append(dst, '_')
		}
	}
	return dst
}

func isLabelChar(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// Bytes estimates a record's memory for the head's size bound.
func (r *Record) Bytes() int {
	n := 120 + len(r.Service) + len(r.Body) + len(r.SeverityText)
	for k, v := range r.Resource {
		n += len(k) + len(v) + 16
	}
	for k, v := range r.Attributes {
		n += len(k) + len(v) + 16
	}
	return n
}
