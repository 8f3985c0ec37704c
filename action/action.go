// Package action runs remediation actions when alerts fire: an HTTP
// request or a local command, chosen by the alert's labels, with an
// optional resolve step for when the alert clears.
//
// A Dispatcher is fed every alert update the alerting pipeline sees
// (Observe never blocks) and decides, per (action, alert fingerprint)
// pair, whether a step runs: once per firing episode, subject to a
// cooldown, a rate limit, silences and inhibitions, and a bounded queue
// in front of each action's concurrency limit. Every decision that is not
// a plain repeat, and every run, leaves an audit record; the records are
// appended to day files so that a restart remembers what already ran.
//
// Lock order: Dispatcher.mu, then nothing else; the audit log is only
// used with Dispatcher.mu held.
package action

import (
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
)

// Defaults and bounds of an action's settings. The bounds keep one
// action file from tying up the server (hours-long runs, hundreds of
// retries).
const (
	// DefaultCooldown is the cooldown of an action whose file sets none:
	// a flapping alert must not restart a service every minute unless
	// someone asked for that with an explicit `cooldown: 0s`.
	DefaultCooldown       = 5 * time.Minute
	DefaultTimeout        = 30 * time.Second
	DefaultRetryBackoff   = time.Second
	DefaultMaxConcurrency = 1

	MaxTimeout        = time.Hour
	MaxRetries        = 10
	MaxRetryBackoff   = time.Minute
	MaxConcurrency    = 64
	MaxRateLimitCount = 10000
)

// Action is one remediation action. Parse and LoadFiles build them from
// files; the dispatcher validates them again, so they may also be built
// in code. The zero value of a setting means its default, except
// Cooldown, where zero means no cooldown (files that omit it get
// DefaultCooldown).
type Action struct {
	// Name is unique among the actions, [a-zA-Z0-9_-]+.
	Name string
	// Match selects alerts: all matchers must match the alert's labels.
	// At least one is required.
	Match []*labels.Matcher
	// DryRun renders the steps and records what would run, running
	// nothing.
	DryRun bool
	// Cooldown is the least time between two fire steps of one
	// (action, alert fingerprint) pair.
	Cooldown time.Duration
	// RateLimit bounds the fire steps of the action across all alerts.
	RateLimit RateLimit
	// MaxConcurrency bounds the runs of the action at once; more wait in
	// a bounded queue. Default 1.
	MaxConcurrency int
	// Timeout bounds each attempt. Default 30s.
	Timeout time.Duration
	// Retries is the number of extra attempts after a failed one.
	Retries int
	// RetryBackoff is the wait before the first retry; it doubles for
	// each further one, up to MaxRetryBackoff. Default 1s.
	RetryBackoff time.Duration
	// Fire runs when an alert starts firing.
	Fire Step
	// Resolve, if set, runs once when an alert that Fire ran for
	// resolves.
	Resolve *Step
	// Source is where the action was defined ("file:line"), for messages.
	Source string
}

// RateLimit allows Count fire steps in any window of length Per. A zero
// Count means no limit.
type RateLimit struct {
	Count int
	Per   time.Duration
}

// Step is what an action runs: exactly one of HTTP and Command.
type Step struct {
	HTTP    *HTTPStep
	Command *CommandStep
}

// HTTPStep sends one HTTP request. URL, header values and Body are Go
// text/templates (see docs/actions.md for their data and functions).
type HTTPStep struct {
	// Method defaults to POST.
	Method string
	URL    string
	// Headers are never logged or audited: audit records keep their
	// names only.
	Headers map[string]string
	Body    string
	// SuccessStatus lists the status codes that count as success;
	// default any 2xx.
	SuccessStatus []int
}

// CommandStep runs one local process, without a shell unless Shell is
// set. Each Argv element and each Env value is a Go text/template.
type CommandStep struct {
	Argv []string
	// Shell runs the one Argv element with /bin/sh -c.
	Shell bool
	// Env is added to a minimal environment (the server's PATH and HOME
	// only). Values are never audited.
	Env map[string]string
	// Dir is the working directory, an absolute path; empty means the
	// server's.
	Dir string
}

// Kind is "http" or "command", or "" for an invalid step.
func (s Step) Kind() string {
	switch {
	case s.HTTP != nil && s.Command == nil:
		return "http"
	case s.Command != nil && s.HTTP == nil:
		return "command"
	}
	return ""
}

// Alert is one alert update as the alerting pipeline sees it.
type Alert struct {
	Fingerprint  uint64
	Labels       map[string]string
	Annotations  map[string]string
	StartsAt     time.Time
	EndsAt       time.Time
	GeneratorURL string
}

// firing reports whether the alert fires at now: it has no end, or its
// end is still ahead.
func (a Alert) firing(now time.Time) bool {
	return a.EndsAt.IsZero() || a.EndsAt.After(now)
}

// clone copies the maps, so a caller may reuse its own after Observe.
func (a Alert) clone() Alert {
	a.Labels = maps.Clone(a.Labels)
	a.Annotations = maps.Clone(a.Annotations)
	return a
}

// Phase is the step a record is about.
type Phase string

// The phases of a run.
const (
	PhaseFire    Phase = "fire"
	PhaseResolve Phase = "resolve"
)

// Outcome is how a run, or a decision not to run, ended.
type Outcome string

// Outcomes. Running is the outcome of a run's first record, written
// before the run starts so that a restart after a crash knows it began;
// the run's final record, with the same ID, replaces it.
const (
	OutcomeRunning         Outcome = "running"
	OutcomeSucceeded       Outcome = "succeeded"
	OutcomeFailed          Outcome = "failed"
	OutcomeTimedOut        Outcome = "timed_out"
	OutcomeDryRun          Outcome = "dry_run"
	OutcomeSkippedCooldown Outcome = "skipped_cooldown"
	OutcomeRateLimited     Outcome = "rate_limited"
	OutcomeMuted           Outcome = "muted"
	OutcomeDropped         Outcome = "dropped"
)

// executed reports whether the outcome belongs to a step that started
// (as opposed to one that was skipped or dropped).
func (o Outcome) executed() bool {
	switch o {
	case OutcomeRunning, OutcomeSucceeded, OutcomeFailed, OutcomeTimedOut, OutcomeDryRun:
		return true
	}
	return false
}

// matches reports whether all matchers match the labels.
func matches(ms []*labels.Matcher, ls map[string]string) bool {
	for _, m := range ms {
		if !m.Matches(ls[m.Name]) {
			return false
		}
	}
	return true
}

// fingerprintString is how records and templates show a fingerprint:
// Alertmanager's 16 hex digits.
func fingerprintString(fp uint64) string { return fmt.Sprintf("%016x", fp) }

// matcherStrings renders matchers for status and messages.
func matcherStrings(ms []*labels.Matcher) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		if m == nil {
			continue
		}
		out = append(out, m.String())
	}
	return out
}

// validName reports whether s is a usable action name.
func validName(s string) bool {
	if s == "" {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) < 0
}
