package spans

import (
	"fmt"

	"github.com/parquet-go/parquet-go"

	"github.com/vigilhq/vigil/storage/parts"
)

// Light is the part of a span that search conditions other than
// attributes look at, read from its own columns: about a hundredth of the
// cost of decoding whole spans with their maps, events and links.
type Light struct {
	TraceID       [16]byte
	StartNanos    int64
	DurationNanos int64
	Service       string
	Name          string
	Kind          string
	StatusCode    string
}

// Interner keeps one copy of each repeated string (services, names,
// kinds), so reading a column allocates once per distinct value.
type Interner map[string]string

func (in Interner) get(b []byte) string {
	if s, ok := in[string(b)]; ok {
		return s
	}
	s := string(b)
	in[s] = s
	return s
}

// ReadLight reads the light columns of row group g, in row order.
func ReadLight(d *parts.Data, g int, in Interner) ([]Light, error) {
	var out []Light
	i := 0
	col := func(name string, set func(l *Light, v parquet.Value)) error {
		i = 0
		return d.ReadColumn(g, name, func(vals []parquet.Value) {
			for _, v := range vals {
				if i == len(out) {
					out = append(out, Light{})
				}
				set(&out[i], v)
				i++
			}
		})
	}
	if err := col("trace_id", func(l *Light, v parquet.Value) { copy(l.TraceID[:], v.ByteArray()) }); err != nil {
		return nil, err
	}
	n := len(out)
	for _, c := range []struct {
		name string
		set  func(l *Light, v parquet.Value)
	}{
		{"start", func(l *Light, v parquet.Value) { l.StartNanos = v.Int64() }},
		{"duration_ns", func(l *Light, v parquet.Value) { l.DurationNanos = v.Int64() }},
		{"service", func(l *Light, v parquet.Value) { l.Service = in.get(v.ByteArray()) }},
		{"name", func(l *Light, v parquet.Value) { l.Name = in.get(v.ByteArray()) }},
		{"kind", func(l *Light, v parquet.Value) { l.Kind = in.get(v.ByteArray()) }},
		{"status_code", func(l *Light, v parquet.Value) { l.StatusCode = in.get(v.ByteArray()) }},
	} {
		if err := col(c.name, c.set); err != nil {
			return nil, err
		}
		if i != n || len(out) != n {
			return nil, fmt.Errorf("row group %d: column %s has %d values for %d rows", g, c.name, i, n)
		}
	}
	return out, nil
}

// TraceRows returns the rows [lo, hi) of row group g that belong to
// trace id, reading only the trace_id column: rows are sorted by trace
// id, so a trace's rows are contiguous. lo == hi when there are none.
func TraceRows(d *parts.Data, g int, id [16]byte) (lo, hi int64, err error) {
	var i int64
	lo, hi = -1, -1
	err = d.ReadColumn(g, "trace_id", func(vals []parquet.Value) {
		for _, v := range vals {
			if [16]byte(v.ByteArray()) == id {
				if lo < 0 {
					lo = i
				}
				hi = i + 1
			}
			i++
		}
	})
	if lo < 0 {
		return 0, 0, err
	}
	return lo, hi, err
}
