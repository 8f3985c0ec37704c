package action

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	runs     *prometheus.CounterVec
	duration *prometheus.HistogramVec
	dropped  prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_action_runs_total",
			Help: "Action steps by final outcome, skipped and dropped ones included.",
		}, []string{"action", "phase", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vigil_action_run_duration_seconds",
			Help:    "Wall time of action steps that ran, retries included.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"action"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_action_queue_dropped_total",
			Help: "Alert updates and action steps dropped because a queue was full or Vigil was stopping.",
		}),
	}
}

// register adds the metrics to reg, if any.
func (m *metrics) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{m.runs, m.duration, m.dropped} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return fmt.Errorf("cannot register action metrics (is a second action dispatcher using the same registry?): %w", err)
			}
			return fmt.Errorf("cannot register action metrics: %w", err)
		}
	}
	return nil
}
