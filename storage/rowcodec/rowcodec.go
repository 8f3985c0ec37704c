// Package rowcodec holds the primitives of the binary WAL codecs of the
// event store's row types (storage/spans, storage/logs): varints,
// length-prefixed strings and string maps, written with append-style
// functions and read by a Reader that records the first error and bounds
// every count by the bytes left, so a corrupt record cannot make a
// decoder allocate wildly.
package rowcodec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// ErrShort is the error of a record that ends early.
var ErrShort = errors.New("truncated record")

// AppendString appends s with its length.
func AppendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// AppendMap appends m as a pair count and its keys and values.
func AppendMap(dst []byte, m map[string]string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(m)))
	for k, v := range m {
		dst = AppendString(dst, k)
		dst = AppendString(dst, v)
	}
	return dst
}

// AppendTime appends t as varint Unix nanoseconds.
func AppendTime(dst []byte, t time.Time) []byte {
	return binary.AppendVarint(dst, t.UnixNano())
}

// Reader reads what the Append functions wrote. After the first error
// every read returns a zero value; Err reports it.
type Reader struct {
	b   []byte
	err error
	// What names the record kind in errors ("span batch").
	what string
}

// NewReader reads b; what names the record kind in errors.
func NewReader(b []byte, what string) *Reader { return &Reader{b: b, what: what} }

// Err is the first error met, or nil.
func (r *Reader) Err() error { return r.err }

// Rest is how many bytes are left.
func (r *Reader) Rest() int { return len(r.b) }

// Finish returns the first error, or an error if bytes are left over.
func (r *Reader) Finish() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d bytes after the end of the %s", len(r.b), r.what)
	}
	return r.err
}

// Uvarint reads an unsigned varint.
func (r *Reader) Uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = ErrShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

// Varint reads a signed varint.
func (r *Reader) Varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = ErrShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

// Bytes fills dst.
func (r *Reader) Bytes(dst []byte) {
	if r.err != nil {
		return
	}
	if len(r.b) < len(dst) {
		r.err = ErrShort
		return
	}
	copy(dst, r.b)
	r.b = r.b[len(dst):]
}

// Count reads a length and checks that at least min bytes per item
// remain.
func (r *Reader) Count(min int) int {
	n := r.Uvarint()
	if r.err == nil && n > uint64(len(r.b)/min) {
		r.err = fmt.Errorf("%s claims %d items in %d bytes", r.what, n, len(r.b))
		return 0
	}
	return int(n)
}

// String reads a length-prefixed string.
func (r *Reader) String() string {
	n := r.Count(1)
	if r.err != nil {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// Map reads a string map; an empty map reads as nil.
func (r *Reader) Map() map[string]string {
	n := r.Count(2)
	if r.err != nil || n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := r.String()
		m[k] = r.String()
	}
	return m
}

// Time reads varint Unix nanoseconds as a UTC time.
func (r *Reader) Time() time.Time {
	return time.Unix(0, r.Varint()).UTC()
}
