package logs

import (
	"encoding/binary"

	"github.com/vigilhq/vigil/storage/rowcodec"
)

// WAL codec: a batch of records as uvarint count, then per record:
// service, stream, varint time and observed time (Unix ns), varint
// severity number, severity text, body, trace id (16 bytes) and span id
// (8 bytes), resource and attribute maps. Only the process that wrote it
// and its successors read it (WAL replay): a change must keep decoding
// what the previous version wrote, or use a new events codec magic.

// AppendBatch appends the encoding of batch to dst.
func AppendBatch(dst []byte, batch []Record) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(batch)))
	for i := range batch {
		r := &batch[i]
		dst = rowcodec.AppendString(dst, r.Service)
		dst = rowcodec.AppendString(dst, r.Stream)
		dst = rowcodec.AppendTime(dst, r.Time)
		dst = rowcodec.AppendTime(dst, r.ObservedTime)
		dst = binary.AppendVarint(dst, int64(r.SeverityNumber))
		dst = rowcodec.AppendString(dst, r.SeverityText)
		dst = rowcodec.AppendString(dst, r.Body)
		dst = append(dst, r.TraceID[:]...)
		dst = append(dst, r.SpanID[:]...)
		dst = rowcodec.AppendMap(dst, r.Resource)
		dst = rowcodec.AppendMap(dst, r.Attributes)
	}
	return dst
}

// DecodeBatch reads what AppendBatch wrote.
func DecodeBatch(b []byte) ([]Record, error) {
	r := rowcodec.NewReader(b, "log batch")
	// A record takes at least 24 id bytes and 9 length or varint bytes.
	n := r.Count(33)
	out := make([]Record, n)
	for i := range out {
		rec := &out[i]
		rec.Service, rec.Stream = r.String(), r.String()
		rec.Time, rec.ObservedTime = r.Time(), r.Time()
		rec.SeverityNumber = int32(r.Varint())
		rec.SeverityText, rec.Body = r.String(), r.String()
		r.Bytes(rec.TraceID[:])
		r.Bytes(rec.SpanID[:])
		rec.Resource, rec.Attributes = r.Map(), r.Map()
		if r.Err() != nil {
			return nil, r.Err()
		}
	}
	if err := r.Finish(); err != nil {
		return nil, err
	}
	return out, nil
}
