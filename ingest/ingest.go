// Package ingest holds what every wire protocol's handler shares: counting
// what was accepted and refused, and turning a batch's refusals into one
// clear client error. The protocols themselves live in subpackages, one each.
package ingest

import (
	"errors"
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilhq/vigil/limits"
)

// Metrics are the ingest counters, labelled by protocol. One value is
// shared by every handler of a server.
type Metrics struct {
	Samples  *prometheus.CounterVec // protocol
	Rejected *prometheus.CounterVec // protocol, reason
	Requests *prometheus.CounterVec // protocol, code
}

// NewMetrics registers the ingest counters with reg (which may be nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Samples: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_ingest_samples_total",
			Help: "Samples (floats, histograms) stored, by protocol.",
		}, []string{"protocol"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_ingest_rejected_samples_total",
			Help: "Samples refused, by protocol and reason.",
		}, []string{"protocol", "reason"}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_ingest_requests_total",
			Help: "Ingest requests, by protocol and response code.",
		}, []string{"protocol", "code"}),
	}
	if reg != nil {
		reg.MustRegister(m.Samples, m.Rejected, m.Requests)
	}
	return m
}

// maxMessages is how many refusals a batch error spells out; the rest are
// only counted, so a batch of a million bad samples gives a short answer.
const maxMessages = 5

// Batch tallies the outcome of one request. It is not safe for concurrent use.
type Batch struct {
	Protocol string
	Accepted int
	rejected int
	byReason map[string]int
	msgs     []string
}

// NewBatch starts the tally of one request of the given protocol.
func NewBatch(protocol string) *Batch {
	return &Batch{Protocol: protocol}
}

// Reject records one refused sample (or series, when one error refuses
// several samples: n is how many). It returns false, recording nothing, when
// err is not a client error: the caller must then fail the request as a
// server error.
func (b *Batch) Reject(err error, n int) bool {
	if !limits.IsClientError(err) {
		return false
	}
	b.RejectReason(limits.Reason(err), err.Error(), n)
	return true
}

// RejectReason records n refused samples for a reason found by the decoder
// itself (a NaN timestamp, an unknown metric type, ...).
func (b *Batch) RejectReason(reason, msg string, n int) {
	if n <= 0 {
		n = 1
	}
	if b.byReason == nil {
		b.byReason = map[string]int{}
	}
	b.byReason[reason] += n
	b.rejected += n
	if len(b.msgs) < maxMessages {
		b.msgs = append(b.msgs, msg)
	}
}

// Rejected returns the number of refused samples.
func (b *Batch) Rejected() int { return b.rejected }

// Err returns nil when nothing was refused, or an error that says how many
// samples were refused and why, naming the first few.
func (b *Batch) Err() error {
	if b.rejected == 0 {
		return nil
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d of %d samples rejected: %s", b.rejected, b.rejected+b.Accepted, strings.Join(b.msgs, "; "))
	if more := b.rejected - len(b.msgs); more > 0 {
		fmt.Fprintf(&sb, "; and %d more", more)
	}
	return &BatchError{Msg: sb.String()}
}

// Record adds the batch's tallies to m.
func (b *Batch) Record(m *Metrics) {
	if m == nil {
		return
	}
	if b.Accepted > 0 {
		m.Samples.WithLabelValues(b.Protocol).Add(float64(b.Accepted))
	}
	for reason, n := range b.byReason {
		m.Rejected.WithLabelValues(b.Protocol, reason).Add(float64(n))
	}
}

// BatchError says that part of a request was refused; the rest was stored.
type BatchError struct{ Msg string }

func (e *BatchError) Error() string { return e.Msg }

// IsBatchError reports whether err is a *BatchError.
func IsBatchError(err error) bool {
	var be *BatchError
	return errors.As(err, &be)
}
