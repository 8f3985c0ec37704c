package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

const (
	kindHTTP    = "http"
	kindCommand = "command"
)

// maxBody bounds what a handler reads: an Alertmanager webhook with a
// large group is a few KiB per alert.
const maxBody = 4 << 20

// trial is one measured alert. Its times are set by the receiver's
// handlers, mu held; the zero time means "not arrived".
type trial struct {
	id     string
	warmup bool
	start  time.Time // t0: just before the firing sample's request is sent

	writeDone     time.Time
	webhook       time.Time
	actionHTTP    time.Time
	commandStart  time.Time // reported by the probe process
	commandArrive time.Time
	resolveStart  time.Time // just before the resolving sample's request
	resolved      time.Time
	err           string

	// changed is signalled (never blocking: capacity 1) whenever an
	// arrival for this trial is recorded.
	changed chan struct{}
}

// receiver attributes arrivals to trials. Its handlers may run on any
// goroutine.
type receiver struct {
	now func() time.Time

	mu     sync.Mutex
	trials map[string]*trial // mu must be held
	stray  int               // arrivals for no known trial; mu must be held
}

func newReceiver(now func() time.Time) *receiver {
	return &receiver{now: now, trials: map[string]*trial{}}
}

func (rc *receiver) add(t *trial) {
	t.changed = make(chan struct{}, 1)
	rc.mu.Lock()
	rc.trials[t.id] = t
	rc.mu.Unlock()
}

// record calls set with the trial named id, mu held, and wakes the
// trial's waiter; an unknown trial counts as stray.
func (rc *receiver) record(id string, set func(*trial)) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	t, ok := rc.trials[id]
	if !ok {
		rc.stray++
		return
	}
	set(t)
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

// wait returns once done(t) holds, with mu held while it is checked, or
// reports false when ctx ends or timeout passes first.
func (rc *receiver) wait(ctx context.Context, t *trial, timeout time.Duration, done func(*trial) bool) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		rc.mu.Lock()
		ok := done(t)
		rc.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-t.changed:
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// setFirst sets *dst to at unless an earlier arrival already did:
// repeated notifications must not move a trial's time.
func setFirst(dst *time.Time, at time.Time) {
	if dst.IsZero() {
		*dst = at
	}
}

func (rc *receiver) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhook", rc.serveWebhook)
	mux.HandleFunc("POST /action/http", rc.serveAction)
	mux.HandleFunc("POST /action/command", rc.serveAction)
	return mux
}

// webhookMessage is the part of Alertmanager's webhook payload detect
// reads.
type webhookMessage struct {
	Alerts []struct {
		Status string            `json:"status"`
		Labels map[string]string `json:"labels"`
	} `json:"alerts"`
}

func (rc *receiver) serveWebhook(w http.ResponseWriter, r *http.Request) {
	at := rc.now()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := rc.webhook(at, body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
	}
}

// webhook records the firing and resolved alerts of one webhook body
// that arrived at at.
func (rc *receiver) webhook(at time.Time, body []byte) error {
	var m webhookMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return fmt.Errorf("cannot decode webhook body: %w", err)
	}
	for _, a := range m.Alerts {
		switch a.Status {
		case "firing":
			rc.record(a.Labels["trial"], func(t *trial) { setFirst(&t.webhook, at) })
		case "resolved":
			rc.record(a.Labels["trial"], func(t *trial) { setFirst(&t.resolved, at) })
		}
	}
	return nil
}

// actionMessage is what an action posts: the HTTP action's templated
// body, or the probe's report.
type actionMessage struct {
	Trial string `json:"trial"`
	// StartUnixNano is when the probe process started (command actions).
	StartUnixNano int64 `json:"startUnixNano"`
}

func (rc *receiver) serveAction(w http.ResponseWriter, r *http.Request) {
	at := rc.now()
	var m actionMessage
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&m); err != nil {
		http.Error(w, fmt.Sprintf("cannot decode action body: %v", err), http.StatusBadRequest)
		return
	}
	if r.URL.Path == "/action/command" {
		if m.StartUnixNano == 0 {
			http.Error(w, "startUnixNano is missing", http.StatusBadRequest)
			return
		}
		rc.record(m.Trial, func(t *trial) {
			if t.commandArrive.IsZero() {
				t.commandArrive, t.commandStart = at, time.Unix(0, m.StartUnixNano)
			}
		})
		return
	}
	rc.record(m.Trial, func(t *trial) { setFirst(&t.actionHTTP, at) })
}

// probe is the command action: it posts the moment its process started.
func probe(ctx context.Context, url, trialID string, started time.Time) error {
	body, err := json.Marshal(actionMessage{Trial: trialID, StartUnixNano: started.UnixNano()})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("cannot make the probe request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("cannot post the probe: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("probe posted to %s: %s: %s", url, resp.Status, bytes.TrimSpace(b))
	}
	return nil
}
