package action

import (
	"context"
	"time"
)

// execute renders and runs a job's step, retrying failed attempts, and
// returns its final record. In dry-run mode it renders only.
func (d *Dispatcher) execute(ctx context.Context, j *job) (rec AuditRecord) {
	rec = j.rec
	start := time.Now() // a measurement, so real time even with a fake Options.Now
	defer func() { rec.DurationSeconds = time.Since(start).Seconds() }()
	status := "firing"
	if j.phase == PhaseResolve {
		status = "resolved"
	}
	data := &templateData{
		Status:       status,
		Labels:       nonNil(j.alert.Labels),
		Annotations:  nonNil(j.alert.Annotations),
		StartsAt:     j.alert.StartsAt,
		EndsAt:       j.alert.EndsAt,
		Fingerprint:  fingerprintString(j.alert.Fingerprint),
		GeneratorURL: j.alert.GeneratorURL,
		Action:       j.spec.Name,
		DryRun:       j.spec.DryRun,
	}
	r, err := j.step.render(data)
	if err != nil {
		rec.Outcome = OutcomeFailed
		rec.Error = err.Error()
		return rec
	}
	t := r.target()
	rec.Target = &t
	if j.spec.DryRun {
		rec.Outcome = OutcomeDryRun
		return rec
	}
	backoff := j.spec.RetryBackoff
	for n := 1; ; n++ {
		var a attempt
		if r.kind == "http" {
			a = runHTTP(ctx, d.client, r, j.spec.Timeout)
		} else {
			a = runCommand(ctx, r, j.spec.Timeout)
		}
		rec.Attempts = n
		rec.ExitCode = a.exitCode
		rec.HTTPStatus = a.status
		rec.Output = r.redact.Replace(a.output.String())
		rec.OutputTruncated = a.output.truncated()
		rec.Error = ""
		if a.err != nil {
			rec.Error = r.redact.Replace(a.err.Error())
		}
		switch {
		case a.ok:
			rec.Outcome = OutcomeSucceeded
			return rec
		case ctx.Err() != nil:
			rec.Outcome = OutcomeFailed
			rec.Error = "cancelled, Vigil is stopping: " + rec.Error
			return rec
		case a.timedOut:
			rec.Outcome = OutcomeTimedOut
		default:
			rec.Outcome = OutcomeFailed
		}
		if !a.retryable || n > j.spec.Retries {
			return rec
		}
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			rec.Error += " (no retry: Vigil is stopping)"
			return rec
		case <-timer.C:
		}
		backoff = min(2*backoff, MaxRetryBackoff)
	}
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
