package spans

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
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
			dst = appendString(dst, str)
		}
		dst = binary.AppendVarint(dst, s.Start.UnixNano())
		dst = binary.AppendVarint(dst, s.DurationNanos)
		dst = appendMap(dst, s.Resource)
		dst = appendMap(dst, s.Attributes)
		dst = binary.AppendUvarint(dst, uint64(len(s.Events)))
		for _, e := range s.Events {
			dst = binary.AppendVarint(dst, e.Time.UnixNano())
			dst = appendString(dst, e.Name)
			dst = appendMap(dst, e.Attributes)
		}
		dst = binary.AppendUvarint(dst, uint64(len(s.Links)))
		for _, l := range s.Links {
			dst = append(dst, l.TraceID[:]...)
			dst = append(dst, l.SpanID[:]...)
			dst = appendString(dst, l.TraceState)
			dst = appendMap(dst, l.Attributes)
		}
	}
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendMap(dst []byte, m map[string]string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(m)))
	for k, v := range m {
		dst = appendString(dst, k)
		dst = appendString(dst, v)
	}
	return dst
}

var errShort = errors.New("truncated span batch")

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes(dst []byte) {
	if r.err != nil {
		return
	}
	if len(r.b) < len(dst) {
		r.err = errShort
		return
	}
	copy(dst, r.b)
	r.b = r.b[len(dst):]
}

// count reads a length and checks that at least min bytes per item
// remain, so a corrupt count cannot make the decoder allocate wildly.
func (r *reader) count(min int) int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)/min) {
		r.err = fmt.Errorf("span batch claims %d items in %d bytes", n, len(r.b))
		return 0
	}
	return int(n)
}

func (r *reader) string() string {
	n := r.count(1)
	if r.err != nil {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) strmap() map[string]string {
	n := r.count(2)
	if r.err != nil || n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := r.string()
		m[k] = r.string()
	}
	return m
}

func (r *reader) time() time.Time {
	return time.Unix(0, r.varint()).UTC()
}

// DecodeBatch reads what AppendBatch wrote.
func DecodeBatch(b []byte) ([]Span, error) {
	r := &reader{b: b}
	// A span takes at least 32 id bytes and 13 length bytes.
	n := r.count(45)
	out := make([]Span, n)
	for i := range out {
		s := &out[i]
		r.bytes(s.TraceID[:])
		r.bytes(s.SpanID[:])
		r.bytes(s.ParentSpanID[:])
		s.TraceState, s.Service, s.Name, s.Kind = r.string(), r.string(), r.string(), r.string()
		s.StatusCode, s.StatusMessage, s.ScopeName, s.ScopeVersion = r.string(), r.string(), r.string(), r.string()
		s.Start = r.time()
		s.DurationNanos = r.varint()
		s.Resource = r.strmap()
		s.Attributes = r.strmap()
		if ne := r.count(3); ne > 0 {
			s.Events = make([]Event, ne)
			for j := range s.Events {
				s.Events[j] = Event{Time: r.time(), Name: r.string(), Attributes: r.strmap()}
			}
		}
		if nl := r.count(26); nl > 0 {
			s.Links = make([]Link, nl)
			for j := range s.Links {
				l := &s.Links[j]
				r.bytes(l.TraceID[:])
				r.bytes(l.SpanID[:])
				l.TraceState = r.string()
				l.Attributes = r.strmap()
			}
		}
		if r.err != nil {
			return nil, r.err
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d bytes after the last span", len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	return out, nil
}
