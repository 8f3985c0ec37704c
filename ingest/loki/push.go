package loki

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// PushRequest is a decoded push: its streams in the order sent.
type PushRequest struct {
	Streams []Stream
}

// Stream is one stream of a push. A protobuf push names its labels in
// Prometheus text form (Labels); a JSON push as an object (LabelMap).
type Stream struct {
	Labels   string
	LabelMap map[string]string
	Entries  []Entry
}

// Entry is one log line of a stream.
type Entry struct {
	// Time is the zero time when the entry had no timestamp.
	Time     time.Time
	Line     string
	Metadata []Label // structured metadata, nil when none
	// err says why a JSON entry could not be read; such an entry is
	// refused alone.
	err string
}

// Label is a name/value pair of structured metadata.
type Label struct {
	Name, Value string
}

// Field numbers of Loki's push.proto (logproto).
const (
	fieldStreams = 1 // PushRequest.streams

	fieldLabels  = 1 // StreamAdapter.labels
	fieldEntries = 2 // StreamAdapter.entries

	fieldTimestamp = 1 // EntryAdapter.timestamp
	fieldLine      = 2 // EntryAdapter.line
	fieldMetadata  = 3 // EntryAdapter.structuredMetadata

	fieldSeconds = 1 // google.protobuf.Timestamp.seconds
	fieldNanos   = 2 // google.protobuf.Timestamp.nanos

	fieldName  = 1 // LabelPairAdapter.name
	fieldValue = 2 // LabelPairAdapter.value
)

// UnmarshalProto decodes a PushRequest message (after snappy
// decompression). Unknown fields, and known fields of an unexpected wire
// type, are skipped as protobuf requires. The strings of the result share
// one copy of b: b may be reused once UnmarshalProto returns, and a kept
// line keeps that copy alive.
func UnmarshalProto(b []byte) (PushRequest, error) {
	// One string holds every label set, line and metadata pair: the
	// decoder slices it instead of allocating per entry.
	s := string(b)
	var req PushRequest
	if n, err := countField(s, fieldStreams); err != nil {
		return req, fmt.Errorf("cannot decode PushRequest: %w", err)
	} else if n > 0 {
		req.Streams = make([]Stream, 0, n)
	}
	err := eachField(s, func(num protowire.Number, typ protowire.Type, v string) error {
		if num != fieldStreams || typ != protowire.BytesType {
			return nil
		}
		st, err := decodeStream(v)
		if err != nil {
			return fmt.Errorf("stream %d: %w", len(req.Streams), err)
		}
		req.Streams = append(req.Streams, st)
		return nil
	})
	if err != nil {
		return req, fmt.Errorf("cannot decode PushRequest: %w", err)
	}
	return req, nil
}

func decodeStream(s string) (Stream, error) {
	var st Stream
	n, err := countField(s, fieldEntries)
	if err != nil {
		return st, err
	}
	if n > 0 {
		st.Entries = make([]Entry, 0, n)
	}
	err = eachField(s, func(num protowire.Number, typ protowire.Type, v string) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case fieldLabels:
			st.Labels = v
		case fieldEntries:
			e, err := decodeEntry(v)
			if err != nil {
				return fmt.Errorf("entry %d: %w", len(st.Entries), err)
			}
			st.Entries = append(st.Entries, e)
		}
		return nil
	})
	return st, err
}

func decodeEntry(s string) (Entry, error) {
	var e Entry
	err := eachField(s, func(num protowire.Number, typ protowire.Type, v string) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case fieldTimestamp:
			t, err := decodeTimestamp(v)
			if err != nil {
				return fmt.Errorf("timestamp: %w", err)
			}
			e.Time = t
		case fieldLine:
			e.Line = v
		case fieldMetadata:
			var l Label
			err := eachField(v, func(num protowire.Number, typ protowire.Type, v string) error {
				if typ != protowire.BytesType {
					return nil
				}
				switch num {
				case fieldName:
					l.Name = v
				case fieldValue:
					l.Value = v
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("structured metadata: %w", err)
			}
			e.Metadata = append(e.Metadata, l)
		}
		return nil
	})
	return e, err
}

func decodeTimestamp(s string) (time.Time, error) {
	var sec, nanos int64
	for len(s) > 0 {
		num, typ, n := consumeTag(s)
		if n < 0 {
			return time.Time{}, protowire.ParseError(n)
		}
		s = s[n:]
		if typ == protowire.VarintType && (num == fieldSeconds || num == fieldNanos) {
			v, n := consumeVarint(s)
			if n < 0 {
				return time.Time{}, protowire.ParseError(n)
			}
			s = s[n:]
			if num == fieldSeconds {
				sec = int64(v)
			} else {
				nanos = int64(int32(v))
			}
			continue
		}
		if typ == protowire.BytesType {
			l, n := consumeVarint(s)
			if n < 0 || l > uint64(len(s)-n) {
				return time.Time{}, protowire.ParseError(errCodeTruncated)
			}
			s = s[n+int(l):]
			continue
		}
		n = consumeOther(num, typ, s)
		if n < 0 {
			return time.Time{}, protowire.ParseError(n)
		}
		s = s[n:]
	}
	return time.Unix(sec, nanos).UTC(), nil
}

// eachField calls fn with each field of message s; for length-delimited
// fields v is the value, for others it is empty.
func eachField(s string, fn func(num protowire.Number, typ protowire.Type, v string) error) error {
	for len(s) > 0 {
		num, typ, n := consumeTag(s)
		if n < 0 {
			return protowire.ParseError(n)
		}
		s = s[n:]
		if typ == protowire.BytesType {
			l, n := consumeVarint(s)
			if n < 0 {
				return protowire.ParseError(n)
			}
			s = s[n:]
			if l > uint64(len(s)) {
				return protowire.ParseError(errCodeTruncated)
			}
			v := s[:l]
			s = s[l:]
			if err := fn(num, typ, v); err != nil {
				return err
			}
			continue
		}
		n = consumeOther(num, typ, s)
		if n < 0 {
			return protowire.ParseError(n)
		}
		s = s[n:]
		if err := fn(num, typ, ""); err != nil {
			return err
		}
	}
	return nil
}

// countField counts the length-delimited fields numbered num of message
// s, to size a slice once.
func countField(s string, num protowire.Number) (int, error) {
	count := 0
	err := eachField(s, func(n protowire.Number, typ protowire.Type, _ string) error {
		if n == num && typ == protowire.BytesType {
			count++
		}
		return nil
	})
	return count, err
}

// The protowire functions take []byte; these read a string's prefix
// without copying it (a tag or varint is at most 10 bytes).
func consumeTag(s string) (protowire.Number, protowire.Type, int) {
	v, n := consumeVarint(s)
	if n < 0 {
		return 0, 0, n
	}
	num, typ := protowire.DecodeTag(v)
	if num < protowire.MinValidNumber {
		return 0, 0, errCodeFieldNumber
	}
	return num, typ, n
}

func consumeVarint(s string) (uint64, int) {
	var buf [binaryMaxVarint]byte
	return protowire.ConsumeVarint(buf[:copy(buf[:], s)])
}

const binaryMaxVarint = 10

// consumeOther returns the length of a field value that is not
// length-delimited, or a negative protowire error code.
func consumeOther(num protowire.Number, typ protowire.Type, s string) int {
	switch typ {
	case protowire.VarintType:
		_, n := consumeVarint(s)
		return n
	case protowire.Fixed32Type:
		if len(s) < 4 {
			return errCodeTruncated
		}
		return 4
	case protowire.Fixed64Type:
		if len(s) < 8 {
			return errCodeTruncated
		}
		return 8
	case protowire.StartGroupType:
		// Groups are long deprecated and never in push.proto; skip one
		// by its bytes.
		return protowire.ConsumeFieldValue(num, typ, []byte(s))
	}
	return errCodeReserved
}

// protowire's error codes, as protowire.ParseError reads them.
const (
	errCodeTruncated   = -1
	errCodeFieldNumber = -2
	errCodeReserved    = -4
)

// jsonPush is the JSON form of a push.
type jsonPush struct {
	Streams []struct {
		Stream map[string]string `json:"stream"`
		Values []json.RawMessage `json:"values"`
	} `json:"streams"`
}

// UnmarshalJSON decodes a push in Loki's JSON form:
//
//	{"streams":[{"stream":{"app":"api"},"values":[["<unix ns>","<line>",{"<metadata>":"<value>"}]]}]}
//
// A body that is not of that shape is an error; an entry that is not a
// two- or three-element array of a timestamp string, a line and a
// metadata object is kept in the result as invalid, to be refused alone.
func UnmarshalJSON(b []byte) (PushRequest, error) {
	var in jsonPush
	if err := json.Unmarshal(b, &in); err != nil {
		return PushRequest{}, fmt.Errorf("cannot decode JSON push (want {\"streams\":[{\"stream\":{...},\"values\":[[\"<unix ns>\",\"<line>\"]]}]}): %w", err)
	}
	req := PushRequest{Streams: make([]Stream, 0, len(in.Streams))}
	for _, js := range in.Streams {
		st := Stream{LabelMap: js.Stream, Entries: make([]Entry, 0, len(js.Values))}
		if st.LabelMap == nil {
			st.LabelMap = map[string]string{}
		}
		for i, raw := range js.Values {
			e, err := decodeJSONEntry(raw)
			if err != nil {
				e.err = fmt.Sprintf("values[%d]: %v", i, err)
			}
			st.Entries = append(st.Entries, e)
		}
		req.Streams = append(req.Streams, st)
	}
	return req, nil
}

func decodeJSONEntry(raw json.RawMessage) (Entry, error) {
	var e Entry
	var parts []json.RawMessage
	if err := json.Unmarshal(raw, &parts); err != nil || len(parts) < 2 || len(parts) > 3 {
		return e, errors.New(`an entry must be an array ["<unix ns>", "<line>"] or ["<unix ns>", "<line>", {<structured metadata>}]`)
	}
	ts := strings.TrimSpace(string(parts[0]))
	if ts == "null" || ts == `""` {
		return e, errors.New("the entry has no timestamp")
	}
	// Loki wants a string; a bare number is read as well.
	ts = strings.Trim(ts, `"`)
	ns, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return e, fmt.Errorf("timestamp %s is not Unix nanoseconds as a decimal string", parts[0])
	}
	e.Time = time.Unix(0, ns).UTC()
	if err := json.Unmarshal(parts[1], &e.Line); err != nil {
		return e, fmt.Errorf("line %s is not a string", truncate(string(parts[1]), 64))
	}
	if len(parts) == 3 {
		var md map[string]string
		if err := json.Unmarshal(parts[2], &md); err != nil {
			return e, errors.New("structured metadata must be an object of string values")
		}
		if len(md) > 0 {
			e.Metadata = make([]Label, 0, len(md))
			for k, v := range md {
				e.Metadata = append(e.Metadata, Label{k, v})
			}
		}
	}
	return e, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
