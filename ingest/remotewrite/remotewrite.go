// Package remotewrite receives Prometheus remote write 1.0 and 2.0.
//
// Content negotiation, the 415 answers and the X-Prometheus-Remote-Write-*
// response headers come from client_golang's reference implementation of the
// specification (exp/api/remote); this package decodes the messages and
// appends them, sample by sample, so that one refused series never costs the
// rest of the batch. Status codes follow the specification: 2xx stored, 400
// for data that will never be accepted (the client must not retry), 413 for
// a body over the limit, 5xx when storage failed (the client retries).
package remotewrite

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"

	"github.com/golang/snappy"
	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/prometheus/prometheus/storage"

	"github.com/vigilhq/vigil/ingest"
	"github.com/vigilhq/vigil/limits"
)

const protocol = "remote_write"

// Options configure the handler.
type Options struct {
	// Appendable receives the samples; the server wraps it with limits.
	Appendable storage.AppendableV2
	// MaxRequestBytes bounds the decompressed body (default 64 MiB).
	MaxRequestBytes int64
	// MaxSamples bounds the samples (floats, histograms) of one request;
	// 0 means no bound.
	MaxSamples int
	// SetMetadata, if set, receives remote write 1.0 metadata, which comes
	// per family rather than per series.
	SetMetadata func(family string, m metadata.Metadata)
	Metrics     *ingest.Metrics
	Logger      *slog.Logger
}

// NewHandler returns the handler for POST /api/v1/write.
func NewHandler(o Options) http.Handler {
	if o.MaxRequestBytes <= 0 {
		o.MaxRequestBytes = 64 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &store{o: o}
	h := remoteapi.NewWriteHandler(s,
		remoteapi.MessageTypes{remoteapi.WriteV1MessageType, remoteapi.WriteV2MessageType},
		remoteapi.WithWriteHandlerLogger(o.Logger),
		remoteapi.WithWriteHandlerMiddlewares(s.decompress))
	return &counting{next: h, m: o.Metrics}
}

// counting records the response code of every request.
type counting struct {
	next http.Handler
	m    *ingest.Metrics
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	c.next.ServeHTTP(rec, r)
	if c.m != nil {
		c.m.Requests.WithLabelValues(protocol, fmt.Sprint(rec.code)).Inc()
	}
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

type store struct {
	o    Options
	bufs sync.Pool // *[]byte, decompression buffers
}

// decompress replaces the reference snappy middleware to enforce our own
// size limit and answer 413 (not 400) when it is exceeded.
func (s *store) decompress(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "Method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if enc := r.Header.Get("Content-Encoding"); enc != "" && enc != "snappy" {
			http.Error(w, fmt.Sprintf("%s encoding (compression) is not accepted by this server; only snappy is acceptable", enc), http.StatusUnsupportedMediaType)
			return
		}
		// Snappy compresses at best ~21:1 in block format, so the
		// compressed body can be bounded by the decoded limit too.
		body, err := io.ReadAll(io.LimitReader(r.Body, s.o.MaxRequestBytes+1))
		if err != nil {
			http.Error(w, fmt.Sprintf("cannot read request body: %v", err), http.StatusBadRequest)
			return
		}
		if int64(len(body)) > s.o.MaxRequestBytes {
			http.Error(w, fmt.Sprintf("request body is larger than the limit of %d bytes (limits.max_request_bytes)", s.o.MaxRequestBytes), http.StatusRequestEntityTooLarge)
			return
		}
		n, err := snappy.DecodedLen(body)
		if err != nil {
			http.Error(w, fmt.Sprintf("corrupt snappy body: %v", err), http.StatusBadRequest)
			return
		}
		if int64(n) > s.o.MaxRequestBytes {
			http.Error(w, fmt.Sprintf("decompressed body of %d bytes is larger than the limit of %d bytes (limits.max_request_bytes)", n, s.o.MaxRequestBytes), http.StatusRequestEntityTooLarge)
			return
		}
		bp, _ := s.bufs.Get().(*[]byte)
		if bp == nil {
			bp = new([]byte)
		}
		defer s.bufs.Put(bp)
		if cap(*bp) < n {
			*bp = make([]byte, n)
		}
		dec, err := snappy.Decode((*bp)[:cap(*bp)], body)
		if err != nil {
			http.Error(w, fmt.Sprintf("corrupt snappy body: %v", err), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(dec))
		r.Header.Del("Content-Encoding")
		next.ServeHTTP(w, r)
	})
}

// Store implements the reference handler's storage: decode, append, answer.
func (s *store) Store(r *http.Request, msgType remoteapi.WriteMessageType) (*remoteapi.WriteResponse, error) {
	resp := remoteapi.NewWriteResponse()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		resp.SetStatusCode(http.StatusBadRequest)
		return resp, fmt.Errorf("cannot read request body: %w", err)
	}
	batch := ingest.NewBatch(protocol)
	var stats remoteapi.WriteResponseStats
	switch msgType {
	case remoteapi.WriteV1MessageType:
		var req prompb.WriteRequest
		if err := req.Unmarshal(body); err != nil {
			resp.SetStatusCode(http.StatusBadRequest)
			return resp, fmt.Errorf("cannot decode remote write 1.0 request (prometheus.WriteRequest): %w", err)
		}
		if err := s.checkCount(countV1(&req)); err != nil {
			resp.SetStatusCode(http.StatusBadRequest)
			return resp, err
		}
		stats, err = s.writeV1(r, &req, batch)
	case remoteapi.WriteV2MessageType:
		var req writev2.Request
		if err := req.Unmarshal(body); err != nil {
			resp.SetStatusCode(http.StatusBadRequest)
			return resp, fmt.Errorf("cannot decode remote write 2.0 request (io.prometheus.write.v2.Request): %w", err)
		}
		if err := s.checkCount(countV2(&req)); err != nil {
			resp.SetStatusCode(http.StatusBadRequest)
			return resp, err
		}
		stats, err = s.writeV2(r, &req, batch)
	default:
		resp.SetStatusCode(http.StatusUnsupportedMediaType)
		return resp, fmt.Errorf("unsupported message type %s", msgType)
	}
	batch.Record(s.o.Metrics)
	resp.Add(stats)
	if err != nil {
		// A storage failure: nothing of this request was committed, and
		// the client should retry.
		resp.Samples, resp.Histograms, resp.Exemplars = 0, 0, 0
		resp.SetStatusCode(http.StatusServiceUnavailable)
		s.o.Logger.Error("cannot store remote write request", "err", err)
		return resp, fmt.Errorf("cannot store samples: %w", err)
	}
	if berr := batch.Err(); berr != nil {
		resp.SetStatusCode(http.StatusBadRequest)
		return resp, berr
	}
	return resp, nil
}

func (s *store) checkCount(n int) error {
	if s.o.MaxSamples > 0 && n > s.o.MaxSamples {
		return fmt.Errorf("request has %d samples, more than the limit of %d (limits.max_samples_per_request); send smaller batches (remote_write queue_config.max_samples_per_send)", n, s.o.MaxSamples)
	}
	return nil
}

func countV1(req *prompb.WriteRequest) int {
	n := 0
	for i := range req.Timeseries {
		n += len(req.Timeseries[i].Samples) + len(req.Timeseries[i].Histograms)
	}
	return n
}

func countV2(req *writev2.Request) int {
	n := 0
	for i := range req.Timeseries {
		n += len(req.Timeseries[i].Samples) + len(req.Timeseries[i].Histograms)
	}
	return n
}

// appender appends one request's samples and keeps its tallies.
type appender struct {
	app   storage.AppenderV2
	batch *ingest.Batch
	stats remoteapi.WriteResponseStats
}

// add appends one sample. Client errors are recorded in the batch and the
// request goes on; a storage failure is returned and fails the request.
func (a *appender) add(ref storage.SeriesRef, ls labels.Labels, st, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, opts storage.AppendV2Options) (storage.SeriesRef, error) {
	newRef, err := a.app.Append(ref, ls, st, t, v, h, fh, opts)
	var pe *storage.AppendPartialError
	switch {
	case err == nil:
		a.stats.Exemplars += len(opts.Exemplars)
	case errors.As(err, &pe):
		// The sample was written; some exemplars were not.
		a.stats.Exemplars += len(opts.Exemplars) - len(pe.ExemplarErrors)
		for _, e := range pe.ExemplarErrors {
			a.batch.Reject(e, 1)
		}
	case a.batch.Reject(err, 1):
		return ref, nil
	default:
		return ref, err
	}
	if h != nil || fh != nil {
		a.stats.Histograms++
	} else {
		a.stats.Samples++
	}
	a.batch.Accepted++
	return newRef, nil
}

// commit ends the request's transaction: rolled back when err is set,
// committed otherwise. Nothing counts as written unless committed.
func (a *appender) commit(err error) (remoteapi.WriteResponseStats, error) {
	if err != nil {
		_ = a.app.Rollback()
		return remoteapi.WriteResponseStats{}, err
	}
	if err := a.app.Commit(); err != nil {
		return remoteapi.WriteResponseStats{}, err
	}
	return a.stats, nil
}

func (s *store) writeV1(r *http.Request, req *prompb.WriteRequest, batch *ingest.Batch) (remoteapi.WriteResponseStats, error) {
	if s.o.SetMetadata != nil {
		for _, m := range req.Metadata {
			s.o.SetMetadata(m.MetricFamilyName, metadata.Metadata{
				Type: metricTypeV1(m.Type), Help: m.Help, Unit: m.Unit,
			})
		}
	}
	a := &appender{app: s.o.Appendable.AppenderV2(r.Context()), batch: batch}
	return a.commit(s.appendV1(a, req))
}

func (s *store) appendV1(a *appender, req *prompb.WriteRequest) error {
	var b labels.ScratchBuilder
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		ls := ts.ToLabels(&b, nil)
		// Exemplars ride on the series' last sample: remote write 1.0
		// sends them beside the samples, not attached to one.
		var ex []exemplar.Exemplar
		for _, e := range ts.Exemplars {
			ex = append(ex, e.ToExemplar(&b, nil))
		}
		var ref storage.SeriesRef
		var err error
		for j, smp := range ts.Samples {
			opts := storage.AppendV2Options{}
			if j == len(ts.Samples)-1 && len(ts.Histograms) == 0 {
				opts.Exemplars = ex
			}
			if ref, err = a.add(ref, ls, 0, smp.Timestamp, smp.Value, nil, nil, opts); err != nil {
				return err
			}
		}
		for j, hp := range ts.Histograms {
			opts := storage.AppendV2Options{}
			if j == len(ts.Histograms)-1 {
				opts.Exemplars = ex
			}
			if hp.IsFloatHistogram() {
				ref, err = a.add(ref, ls, 0, hp.Timestamp, 0, nil, hp.ToFloatHistogram(), opts)
			} else {
				ref, err = a.add(ref, ls, 0, hp.Timestamp, 0, hp.ToIntHistogram(), nil, opts)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *store) writeV2(r *http.Request, req *writev2.Request, batch *ingest.Batch) (remoteapi.WriteResponseStats, error) {
	a := &appender{app: s.o.Appendable.AppenderV2(r.Context()), batch: batch}
	return a.commit(s.appendV2(a, req))
}

func (s *store) appendV2(a *appender, req *writev2.Request) error {
	var b labels.ScratchBuilder
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		n := len(ts.Samples) + len(ts.Histograms)
		ls, err := ts.ToLabels(&b, req.Symbols)
		if err != nil {
			a.batch.RejectReason(limits.ReasonInvalidLabels, fmt.Sprintf("series %d: invalid label references: %v", i, err), n)
			continue
		}
		// ToMetadata indexes the symbol table unchecked.
		if int(ts.Metadata.HelpRef) >= len(req.Symbols) || int(ts.Metadata.UnitRef) >= len(req.Symbols) {
			a.batch.RejectReason("invalid_metadata", fmt.Sprintf("metric %q: metadata references a symbol outside the table of %d", ls.Get(labels.MetricName), len(req.Symbols)), n)
			continue
		}
		md := ts.ToMetadata(req.Symbols)
		var ex []exemplar.Exemplar
		for _, e := range ts.Exemplars {
			x, err := e.ToExemplar(&b, req.Symbols)
			if err != nil {
				a.batch.RejectReason("invalid_exemplar", fmt.Sprintf("metric %q: invalid exemplar: %v", ls.Get(labels.MetricName), err), 1)
				continue
			}
			ex = append(ex, x)
		}
		var ref storage.SeriesRef
		for j, smp := range ts.Samples {
			opts := storage.AppendV2Options{Metadata: md}
			if j == len(ts.Samples)-1 && len(ts.Histograms) == 0 {
				opts.Exemplars = ex
			}
			if ref, err = a.add(ref, ls, smp.StartTimestamp, smp.Timestamp, smp.Value, nil, nil, opts); err != nil {
				return err
			}
		}
		for j, hp := range ts.Histograms {
			opts := storage.AppendV2Options{Metadata: md}
			if j == len(ts.Histograms)-1 {
				opts.Exemplars = ex
			}
			if hp.IsFloatHistogram() {
				ref, err = a.add(ref, ls, hp.StartTimestamp, hp.Timestamp, 0, nil, hp.ToFloatHistogram(), opts)
			} else {
				ref, err = a.add(ref, ls, hp.StartTimestamp, hp.Timestamp, 0, hp.ToIntHistogram(), nil, opts)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func metricTypeV1(t prompb.MetricMetadata_MetricType) model.MetricType {
	switch t {
	case prompb.MetricMetadata_COUNTER:
		return model.MetricTypeCounter
	case prompb.MetricMetadata_GAUGE:
		return model.MetricTypeGauge
	case prompb.MetricMetadata_HISTOGRAM:
		return model.MetricTypeHistogram
	case prompb.MetricMetadata_GAUGEHISTOGRAM:
		return model.MetricTypeGaugeHistogram
	case prompb.MetricMetadata_SUMMARY:
		return model.MetricTypeSummary
	case prompb.MetricMetadata_INFO:
		return model.MetricTypeInfo
	case prompb.MetricMetadata_STATESET:
		return model.MetricTypeStateset
	}
	return model.MetricTypeUnknown
}
