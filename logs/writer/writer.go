// Package writer is the gate every log record passes on its way to the
// store, whichever receiver decoded it: it truncates over-long lines,
// masks secrets (logs/redact), enforces the per-tenant and per-stream
// rate limits and the stream cardinality limits, appends what it keeps
// durably, and only then shows the records to live tails and derived
// metrics.
//
// A Writer is the logline.Sink of every log receiver. It is safe for
// concurrent use.
package writer

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"golang.org/x/time/rate"

	"github.com/vigilhq/vigil/ingest/logline"
	"github.com/vigilhq/vigil/storage/logs"
)

// Limits bound what shippers can make Vigil store (config.LogLimits).
type Limits struct {
	MaxLineBytes                  int
	IngestionRate, IngestionBurst int // bytes per second per tenant
	StreamRate, StreamBurst       int // bytes per second per stream
	MaxStreams                    int // active streams per tenant (written within ActiveFor)
	MaxLabelsPerStream            int
	MaxLabelNameLength            int
	MaxLabelValueLength           int
}

// Appender stores records durably (storage/events.Store[logs.Record]).
type Appender interface {
	Append(ctx context.Context, recs []logs.Record) error
}

// Redactor masks a record in place (logs/redact.Redactor).
type Redactor interface {
	Redact(rec *logs.Record) int
}

// Options configure a Writer.
type Options struct {
	Store    Appender
	Redactor Redactor // nil: no redaction
	Limits   Limits
	// Observe, if set, sees every batch once it is stored (live tail,
	// derived metrics). It must not keep or modify the slice.
	Observe    func([]logs.Record)
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	Now        func() time.Time
}

// ActiveFor is how long a stream counts as active after its last line.
const ActiveFor = time.Hour

// maxTenants bounds the per-tenant state: tenants beyond it share one
// bucket, so random X-Scope-OrgID values cannot grow memory.
const maxTenants = 1000

// Writer is the log sink. See the package comment.
type Writer struct {
	o Options

	mu        sync.Mutex
	tenants   map[string]*rate.Limiter
	streams   map[string]map[string]*streamState // tenant → stream → state
	lastSweep time.Time

	truncated prometheus.Counter
	refused   *prometheus.CounterVec
	active    prometheus.GaugeFunc
}

type streamState struct {
	limiter  *rate.Limiter
	lastSeen time.Time
	invalid  string // why the stream's labels are refused; "" when valid
}

// New returns a Writer.
func New(o Options) *Writer {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Writer{
		o:       o,
		tenants: map[string]*rate.Limiter{},
		streams: map[string]map[string]*streamState{},
		truncated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_logs_truncated_lines_total",
			Help: "Log lines cut to logs.limits.max_line_bytes.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_logs_refused_lines_total",
			Help: "Log lines refused by a limit, by reason.",
		}, []string{"reason"}),
	}
	w.active = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "vigil_logs_active_streams",
		Help: "Log streams written to within the last hour.",
	}, func() float64 {
		w.mu.Lock()
		defer w.mu.Unlock()
		n := 0
		for _, m := range w.streams {
			n += len(m)
		}
		return float64(n)
	})
	if o.Registerer != nil {
		o.Registerer.MustRegister(w.truncated, w.refused, w.active)
	}
	return w
}

// truncMarker ends a truncated line, naming how much was cut.
const truncMarker = " …[truncated %d bytes]"

// Append truncates, redacts and limits recs, then stores the records it
// keeps. It returns a *logline.LimitError when a limit refused some or
// all of them (the others are stored), or the store's error. recs is
// modified in place.
func (w *Writer) Append(ctx context.Context, recs []logs.Record) error {
	if len(recs) == 0 {
		return nil
	}
	now := w.o.Now()
	total := 0
	for i := range recs {
		r := &recs[i]
		if max := w.o.Limits.MaxLineBytes; max > 0 && len(r.Body) > max {
			r.Body = truncate(r.Body, max)
			w.truncated.Inc()
		}
		if w.o.Redactor != nil {
			w.o.Redactor.Redact(r)
		}
		total += len(r.Body)
	}
	tenant := logline.TenantFrom(ctx)

	w.mu.Lock()
	if now.Sub(w.lastSweep) > time.Minute {
		w.sweepLocked(now)
	}
	if _, ok := w.tenants[tenant]; !ok && len(w.tenants) >= maxTenants {
		tenant = "\x00overflow"
	}
	tl := w.tenantLocked(tenant)
	if !tl.AllowN(now, total) {
		w.mu.Unlock()
		w.refused.WithLabelValues("ingestion_rate").Add(float64(len(recs)))
		all := make([]int, len(recs))
		for i := range all {
			all[i] = i
		}
		return &logline.LimitError{Refused: len(recs), Which: all, Msg: fmt.Sprintf(
			"ingestion rate limit exceeded for tenant %q (limit: %d bytes/s, burst %d: logs.limits.ingestion_rate and ingestion_burst) while attempting to ingest %d lines totaling %d bytes; reduce log volume or raise the limit",
			tenant, w.o.Limits.IngestionRate, w.o.Limits.IngestionBurst, len(recs), total)}
	}
	// Per-stream limits, decided stream by stream: a batch's records of
	// one stream are usually adjacent, so the state lookup is memoised.
	keep := recs[:0]
	var msgs []string
	var which []int
	var cur *streamState
	curStream := ""
	streamBytes := map[*streamState]int{}
	for i := range recs {
		if cur == nil || recs[i].Stream != curStream {
			curStream = recs[i].Stream
			cur = w.streamLocked(tenant, curStream, now, &msgs)
		}
		if cur != nil && cur.invalid == "" {
			streamBytes[cur] += len(recs[i].Body)
		}
	}
	allowed := make(map[*streamState]bool, len(streamBytes))
	for st, n := range streamBytes {
		allowed[st] = st.limiter.AllowN(now, n)
		st.lastSeen = now
	}
	cur, curStream = nil, ""
	for i := range recs {
		if cur == nil || recs[i].Stream != curStream {
			curStream = recs[i].Stream
			cur = w.streams[tenant][curStream]
		}
		switch {
		case cur == nil:
			which = append(which, i)
			w.refused.WithLabelValues("max_streams").Inc()
		case cur.invalid != "":
			which = append(which, i)
			w.refused.WithLabelValues("invalid_labels").Inc()
		case !allowed[cur]:
			which = append(which, i)
			w.refused.WithLabelValues("stream_rate").Inc()
			if len(msgs) < 5 && (len(msgs) == 0 || !strings.Contains(msgs[len(msgs)-1], curStream)) {
				msgs = append(msgs, fmt.Sprintf("per-stream rate limit exceeded (limit: %d bytes/s, burst %d: logs.limits.stream_rate and stream_burst) for stream %s totaling %d bytes; split the stream with more labels or raise the limit",
					w.o.Limits.StreamRate, w.o.Limits.StreamBurst, curStream, streamBytes[cur]))
			}
		default:
			keep = append(keep, recs[i])
		}
	}
	w.mu.Unlock()

	if len(keep) > 0 {
		if err := w.o.Store.Append(ctx, keep); err != nil {
			return err
		}
		if w.o.Observe != nil {
			w.o.Observe(keep)
		}
	}
	if len(which) > 0 {
		return &logline.LimitError{Refused: len(which), Which: which, Msg: fmt.Sprintf("%d of %d lines refused, %d stored: %s", len(which), len(recs), len(keep), strings.Join(msgs, "; "))}
	}
	return nil
}

// tenantLocked returns the tenant's limiter; w.mu must be held.
func (w *Writer) tenantLocked(tenant string) *rate.Limiter {
	if l, ok := w.tenants[tenant]; ok {
		return l
	}
	l := rate.NewLimiter(rate.Limit(w.o.Limits.IngestionRate), w.o.Limits.IngestionBurst)
	w.tenants[tenant] = l
	return l
}

// streamLocked returns the state of a stream, creating it when the
// active-stream limit allows; nil when it does not (a message is added
// to msgs). w.mu must be held.
func (w *Writer) streamLocked(tenant, stream string, now time.Time, msgs *[]string) *streamState {
	ts := w.streams[tenant]
	if ts == nil {
		ts = map[string]*streamState{}
		w.streams[tenant] = ts
	}
	if st, ok := ts[stream]; ok {
		if st.invalid != "" && len(*msgs) < 5 {
			*msgs = append(*msgs, st.invalid)
		}
		return st
	}
	lim := w.o.Limits
	if lim.MaxStreams > 0 && len(ts) >= lim.MaxStreams {
		if len(*msgs) < 5 {
			*msgs = append(*msgs, fmt.Sprintf("maximum active stream limit exceeded (%d streams written within the last hour: logs.limits.max_streams) when adding stream %s; reduce the number of label values or raise the limit", lim.MaxStreams, stream))
		}
		return nil
	}
	st := &streamState{lastSeen: now, limiter: rate.NewLimiter(rate.Limit(lim.StreamRate), lim.StreamBurst)}
	st.invalid = validate(stream, lim)
	if st.invalid != "" && len(*msgs) < 5 {
		*msgs = append(*msgs, st.invalid)
	}
	ts[stream] = st
	return st
}

// validate checks a stream's labels against the label limits.
func validate(stream string, lim Limits) string {
	ls, err := parser.ParseMetric(stream)
	if err != nil {
		return fmt.Sprintf("stream %s has invalid labels: %v", stream, err)
	}
	if lim.MaxLabelsPerStream > 0 && ls.Len() > lim.MaxLabelsPerStream {
		return fmt.Sprintf("stream %s has %d labels, more than logs.limits.max_labels_per_stream (%d)", stream, ls.Len(), lim.MaxLabelsPerStream)
	}
	msg := ""
	ls.Range(func(l labels.Label) {
		switch {
		case msg != "":
		case lim.MaxLabelNameLength > 0 && len(l.Name) > lim.MaxLabelNameLength:
			msg = fmt.Sprintf("stream %s: label name %.40q… is longer than logs.limits.max_label_name_length (%d)", stream, l.Name, lim.MaxLabelNameLength)
		case lim.MaxLabelValueLength > 0 && len(l.Value) > lim.MaxLabelValueLength:
			msg = fmt.Sprintf("stream %s: the value of label %q is longer than logs.limits.max_label_value_length (%d)", stream, l.Name, lim.MaxLabelValueLength)
		}
	})
	return msg
}

// sweepLocked forgets streams idle for ActiveFor. w.mu must be held.
func (w *Writer) sweepLocked(now time.Time) {
	w.lastSweep = now
	for tenant, ts := range w.streams {
		for k, st := range ts {
			if now.Sub(st.lastSeen) > ActiveFor {
				delete(ts, k)
			}
		}
		if len(ts) == 0 {
			delete(w.streams, tenant)
		}
	}
}

// truncate cuts s to at most max bytes on a UTF-8 boundary, marker
// included where it fits.
func truncate(s string, max int) string {
	marker := fmt.Sprintf(truncMarker, len(s)-max)
	cut := max - len(marker)
	if cut < 0 {
		cut = max
		marker = ""
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + marker
}
