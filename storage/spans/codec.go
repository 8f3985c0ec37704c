package spans

import (
	"encoding/binary"

	"github.com/vigilhq/vigil/storage/rowcodec"
)

// WAL codec: a compact binary form of a batch of spans, about ten times
// cheaper than gob. Layout: uvarint span count, then per span: trace,
// span and parent ids (16+8+8 bytes), strings as uvarint length + bytes
// (trace state, service, name, kind, status code and message, scope name
// and version), start (varint Unix ns), duration (varint ns), resource and
// attribute maps (uvarint pair count, then key, value), events (count,
// then varint time, name, attributes) and links (count, then ids, trace
// state, attributes). The format is only ever read by the process that
// wrote it or its successors (WAL replay): a change must keep decoding
// what the previous version wrote, or use a new events codec magic.

// AppendBatch appends the encoding of batch to dst.
func AppendBatch(dst []byte, batch []Span) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(batch)))
	for i := range batch {
		s := &batch[i]
		dst = append(dst, s.TraceID[:]...)
		dst = append(dst, s.SpanID[:]...)
		dst = append(dst, s.ParentSpanID[:]...)
		for _, str := range [...]string{s.TraceState, s.Service, s.Name, s.Kind, s.StatusCode, s.StatusMessage, s.ScopeName, s.ScopeVersion} {
			dst = rowcodec.AppendString(dst, str)
		}
		dst = binary.AppendVarint(dst, s.Start.UnixNano())
		dst = binary.AppendVarint(dst, s.DurationNanos)
		dst = rowcodec.AppendMap(dst, s.Resource)
		dst = rowcodec.AppendMap(dst, s.Attributes)
		dst = binary.AppendUvarint(dst, uint64(len(s.Events)))
		for _, e := range s.Events {
			dst = binary.AppendVarint(dst, e.Time.UnixNano())
			dst = rowcodec.AppendString(dst, e.Name)
			dst = rowcodec.AppendMap(dst, e.Attributes)
		}
		dst = binary.AppendUvarint(dst, uint64(len(s.Links)))
		for _, l := range s.Links {
			dst = append(dst, l.TraceID[:]...)
			dst = append(dst, l.SpanID[:]...)
			dst = rowcodec.AppendString(dst, l.TraceState)
			dst = rowcodec.AppendMap(dst, l.Attributes)
		}
	}
	return dst
}

// DecodeBatch reads what AppendBatch wrote.
func DecodeBatch(b []byte) ([]Span, error) {
	r := rowcodec.NewReader(b, "span batch")
	// A span takes at least 32 id bytes and 13 length bytes.
	n := r.Count(45)
	out := make([]Span, n)
	for i := range out {
		s := &out[i]
		r.Bytes(s.TraceID[:])
		r.Bytes(s.SpanID[:])
		r.Bytes(s.ParentSpanID[:])
		s.TraceState, s.Service, s.Name, s.Kind = r.String(), r.String(), r.String(), r.String()
		s.StatusCode, s.StatusMessage, s.ScopeName, s.ScopeVersion = r.String(), r.String(), r.String(), r.String()
		s.Start = r.Time()
		s.DurationNanos = r.Varint()
		s.Resource = r.Map()
		s.Attributes = r.Map()
		if ne := r.Count(3); ne > 0 {
			s.Events = make([]Event, ne)
			for j := range s.Events {
				s.Events[j] = Event{Time: r.Time(), Name: r.String(), Attributes: r.Map()}
			}
		}
		if nl := r.Count(26); nl > 0 {
			s.Links = make([]Link, nl)
			for j := range s.Links {
				l := &s.Links[j]
				r.Bytes(l.TraceID[:])
				r.Bytes(l.SpanID[:])
				l.TraceState = r.String()
				l.Attributes = r.Map()
			}
		}
		if r.Err() != nil {
			return nil, r.Err()
		}
	}
	if err := r.Finish(); err != nil {
		return nil, err
	}
	return out, nil
}
