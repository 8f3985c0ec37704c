package action

import (
	"maps"

	"github.com/prometheus/common/model"
)

// ActionStatus is an action's configuration summary, counters and last
// run, as GET /api/v1/actions shows them.
type ActionStatus struct {
	Name           string           `json:"name"`
	Source         string           `json:"source,omitempty"`
	Kind           string           `json:"kind"`
	Match          []string         `json:"match"`
	DryRun         bool             `json:"dry_run"`
	Cooldown       string           `json:"cooldown"`
	RateLimit      *RateLimitStatus `json:"rate_limit,omitempty"`
	MaxConcurrency int              `json:"max_concurrency"`
	Timeout        string           `json:"timeout"`
	Retries        int              `json:"retries"`
	Resolve        bool             `json:"resolve"`
	Running        int              `json:"running"`
	Queued         int              `json:"queued"`
	// Active counts the alerts whose fire step ran in their current
	// firing episode (their resolve step is still to come).
	Active int `json:"active"`
	// Runs counts this process's records by outcome.
	Runs    map[Outcome]uint64 `json:"runs"`
	LastRun *AuditRecord       `json:"last_run,omitempty"`
}

// RateLimitStatus is a rate limit as ActionStatus shows it.
type RateLimitStatus struct {
	Count int    `json:"count"`
	Per   string `json:"per"`
}

// Actions returns the status of each action, in configuration order.
func (d *Dispatcher) Actions() []ActionStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	active := map[string]int{}
	for key, p := range d.pairs {
		if p.fired {
			active[key.action]++
		}
	}
	out := make([]ActionStatus, 0, len(d.order))
	for _, r := range d.order {
		s := r.spec
		st := ActionStatus{
			Name:           s.Name,
			Source:         s.Source,
			Kind:           s.Fire.Kind(),
			Match:          matcherStrings(s.Match),
			DryRun:         s.DryRun,
			Cooldown:       model.Duration(s.Cooldown).String(),
			MaxConcurrency: s.MaxConcurrency,
			Timeout:        model.Duration(s.Timeout).String(),
			Retries:        s.Retries,
			Resolve:        s.resolve != nil,
			Running:        r.running,
			Queued:         len(r.queue),
			Active:         active[s.Name],
			Runs:           maps.Clone(r.counts),
		}
		if s.RateLimit.Count > 0 {
			st.RateLimit = &RateLimitStatus{Count: s.RateLimit.Count, Per: model.Duration(s.RateLimit.Per).String()}
		}
		if r.last != nil {
			last := *r.last
			st.LastRun = &last
		}
		out = append(out, st)
	}
	return out
}
