// Package jsonlines accepts logs as JSON lines over HTTP: POST
// /insert/jsonline with one JSON object per line, the format and path
// VictoriaLogs takes, so shippers set up for it (Vector, Fluent Bit,
// Filebeat, Promtail's JSON output, plain curl) send to Vigil unchanged.
//
// Each object is read by the logline rules: the message field becomes
// the body, the time and level fields the record's time and severity,
// the other fields attributes (nested objects flattened with dots). The
// field names come from the query (_msg_field, _time_field,
// _stream_fields as VictoriaLogs names them, level_field and service as
// Vigil adds them) or the VL-Msg-Field, VL-Time-Field and
// VL-Stream-Fields headers, else the usual names of logging libraries.
//
// A line that is not a JSON object is refused alone: the rest is stored
// and the answer is a 400 naming the bad lines.
package jsonlines

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vigilhq/vigil/ingest"
	"github.com/vigilhq/vigil/ingest/logline"
	"github.com/vigilhq/vigil/storage/logs"
)

// Options configure a Handler.
type Options struct {
	Sink logline.Sink
	// MaxRequestBytes bounds a body after decompression; 0 means 64 MiB.
	MaxRequestBytes int64
	// MaxLineBytes refuses longer lines; 0 means no limit here (the sink
	// truncates long bodies).
	MaxLineBytes int
	Metrics      *ingest.Metrics // protocol "jsonline"; lines count as samples
	Logger       *slog.Logger
	// Now is the clock for the observed time; nil means time.Now.
	Now func() time.Time
}

// Handler serves POST /insert/jsonline. It is safe for concurrent use.
type Handler struct{ o Options }

const protocol = "jsonline"

// maxMessages is how many bad lines an answer names.
const maxMessages = 5

// New returns the handler.
func New(o Options) *Handler {
	if o.MaxRequestBytes <= 0 {
		o.MaxRequestBytes = 64 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Handler{o: o}
}

// params are how a request's lines are read.
type params struct {
	fields         logline.Fields
	streamFields   []string
	defaultService string
	maxLineBytes   int
}

// defaultTimeFields are logline's names plus VictoriaLogs' own _time.
var defaultTimeFields = append(append([]string(nil), logline.DefaultFields.Time...), "_time")

// paramsOf reads the field choices of a request: query parameters first,
// then VictoriaLogs' headers, else the defaults.
func paramsOf(r *http.Request) params {
	q := r.URL.Query()
	list := func(name, header string, def []string) []string {
		v := q.Get(name)
		if v == "" && header != "" {
			v = r.Header.Get(header)
		}
		if l := splitList(v); len(l) > 0 {
			return l
		}
		return def
	}
	return params{
		fields: logline.Fields{
			Message: list("_msg_field", "VL-Msg-Field", logline.DefaultFields.Message),
			Time:    list("_time_field", "VL-Time-Field", defaultTimeFields),
			Level:   list("level_field", "", logline.DefaultFields.Level),
		},
		streamFields:   list("_stream_fields", "VL-Stream-Fields", nil),
		defaultService: strings.TrimSpace(q.Get("service")),
	}
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// result is the outcome of decoding a body.
type result struct {
	recs    []logs.Record
	lines   int      // non-blank lines
	refused int      // lines refused
	msgs    []string // the first refusals, "line N: reason"
}

// decode reads every non-blank line of body. A line that is not one JSON
// object (or is longer than p.maxLineBytes) is refused alone and
// recorded in batch; the others become finished records.
func decode(body []byte, p params, now time.Time, batch *ingest.Batch) result {
	var res result
	res.recs = make([]logs.Record, 0, bytes.Count(body, []byte{'\n'})+1)
	opts := logline.Options{Now: now, DefaultService: p.defaultService, Streams: map[string]string{}}
	// One string for the whole body: the records' strings are substrings
	// of it rather than a copy each.
	text := string(body)
	for n := 1; len(text) > 0; n++ {
		line := text
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			text = ""
		}
		line = strings.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		res.lines++
		rec, reason, why := decodeLine(line, p, opts)
		if why != "" {
			res.refused++
			msg := fmt.Sprintf("line %d: %s", n, why)
			if len(res.msgs) < maxMessages {
				res.msgs = append(res.msgs, msg)
			}
			batch.RejectReason(reason, msg, 1)
			continue
		}
		res.recs = append(res.recs, rec)
		batch.Accepted++
	}
	return res
}

// whyNotJSON says what is wrong with a line the fast scanner refused, in
// encoding/json's words.
func whyNotJSON(line []byte) string {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return "invalid JSON: " + err.Error()
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Sprintf("invalid JSON: more data after the object that ends at byte %d (one object per line)", end)
	}
	return "invalid JSON"
}

// decodeLine reads one trimmed, non-blank line. On failure it returns the
// refusal reason (a metric label) and what was wrong.
func decodeLine(line string, p params, opts logline.Options) (logs.Record, string, string) {
	var rec logs.Record
	if p.maxLineBytes > 0 && len(line) > p.maxLineBytes {
		return rec, "line_too_long", fmt.Sprintf("line is %d bytes, longer than the limit of %d bytes", len(line), p.maxLineBytes)
	}
	if line[0] != '{' {
		return rec, "invalid_json", fmt.Sprintf("not a JSON object: starts with %s", quoteStart([]byte(line)))
	}
	if !logline.ParseObject(&rec, line, p.fields) {
		return rec, "invalid_json", whyNotJSON([]byte(line))
	}
	if len(p.streamFields) > 0 {
		opts.ExtraLabels = make(map[string]string, len(p.streamFields))
		for _, f := range p.streamFields {
			if v := rec.Attributes[f]; v != "" {
				opts.ExtraLabels[strings.ReplaceAll(f, ".", "_")] = v
			}
		}
	}
	logline.Finish(&rec, nil, opts)
	// A stream field's value is in the stream; an attribute would repeat it.
	for _, f := range p.streamFields {
		delete(rec.Attributes, f)
	}
	if len(rec.Attributes) == 0 {
		rec.Attributes = nil
	}
	return rec, "", ""
}

// quoteStart quotes the first few bytes of a line for an error message.
func quoteStart(line []byte) string {
	if len(line) > 16 {
		return strconv.Quote(string(line[:16])) + "..."
	}
	return strconv.Quote(string(line))
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, http.StatusMethodNotAllowed, "only POST is allowed")
		return
	}
	body, berr := ingest.ReadBody(r, h.o.MaxRequestBytes)
	if berr != nil {
		h.fail(w, berr.Status, berr.Msg)
		return
	}
	p := paramsOf(r)
	p.maxLineBytes = h.o.MaxLineBytes
	batch := ingest.NewBatch(protocol)
	res := decode(body, p, h.o.Now(), batch)
	if len(res.recs) > 0 {
		if err := h.o.Sink.Append(r.Context(), res.recs); err != nil {
			code := logline.HTTPStatus(err)
			var le *logline.LimitError
			msg := "cannot store log lines: " + err.Error()
			if errors.As(err, &le) {
				msg = le.Msg
				batch.Accepted -= min(le.Refused, batch.Accepted)
				batch.RejectReason("limit", le.Msg, le.Refused)
				batch.Record(h.o.Metrics)
			} else {
				h.o.Logger.Error("cannot store log lines", "err", err)
			}
			h.fail(w, code, msg)
			return
		}
	}
	batch.Record(h.o.Metrics)
	if res.refused > 0 {
		msg := strings.Join(res.msgs, "; ")
		if more := res.refused - len(res.msgs); more > 0 {
			msg += fmt.Sprintf("; and %d more", more)
		}
		h.fail(w, http.StatusBadRequest, fmt.Sprintf("%s; %d of %d lines refused, %d stored", msg, res.refused, res.lines, len(res.recs)))
		return
	}
	h.count(http.StatusNoContent)
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) count(code int) {
	if h.o.Metrics != nil {
		h.o.Metrics.Requests.WithLabelValues(protocol, strconv.Itoa(code)).Inc()
	}
}

func (h *Handler) fail(w http.ResponseWriter, code int, msg string) {
	h.count(code)
	http.Error(w, msg, code)
}
