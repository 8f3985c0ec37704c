package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// The threshold the chain's rule compares bench_value with is 100.
const (
	firingValue   = 500
	resolvedValue = 0
)

func measure(ctx context.Context, o options, stdout io.Writer) error {
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("cannot listen on -listen %s: %w", o.listen, err)
	}
	return measureOn(ctx, o, ln, stdout)
}

// measureOn serves the receiver on ln, which it closes, and runs the
// trials.
func measureOn(ctx context.Context, o options, ln net.Listener, stdout io.Writer) error {
	rc := newReceiver(time.Now)
	srv := &http.Server{Handler: rc.handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-served
	}()
	logf("listening on %s; %d trials (+%d warm-up), %d at once, writing to %s", ln.Addr(), o.trials, o.warmup, o.concurrency, o.write)

	s := &session{o: o, rc: rc, client: &http.Client{Timeout: 10 * time.Second}}
	trials := s.runAll(ctx)
	if err := ctx.Err(); err != nil {
		return err
	}
	rows := rc.snapshot(trials)
	sum := summarize(o, rows, rc.strays())
	if o.csv != "" {
		if err := writeFile(o.csv, func(w io.Writer) error { return writeCSV(w, o.name, rows) }); err != nil {
			return err
		}
	}
	if o.json != "" {
		if err := writeFile(o.json, func(w io.Writer) error { return writeJSON(w, sum) }); err != nil {
			return err
		}
	}
	printSummary(stdout, sum)
	if sum.Failed > 0 {
		return fmt.Errorf("%d of %d measured trials failed or timed out (see -csv)", sum.Failed, sum.Trials)
	}
	return nil
}

// session runs the trials of one measure call.
type session struct {
	o      options
	rc     *receiver
	client *http.Client
}

// runAll starts the trials, at most o.concurrency at once, each after a
// random wait, and returns them once all have finished.
func (s *session) runAll(ctx context.Context) []*trial {
	rng := rand.New(rand.NewPCG(s.o.seed, 0x5eed))
	slots := make(chan struct{}, s.o.concurrency)
	var wg sync.WaitGroup
	var all []*trial
	for i := range s.o.warmup + s.o.trials {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return all
		}
		if s.o.gap > 0 && !sleep(ctx, time.Duration(rng.Int64N(int64(s.o.gap)))) {
			<-slots
			break
		}
		t := &trial{id: fmt.Sprintf("%s-%04d", s.o.prefix, i), warmup: i < s.o.warmup}
		all = append(all, t)
		s.rc.add(t)
		wg.Go(func() {
			defer func() { <-slots }()
			s.runTrial(ctx, t)
		})
	}
	wg.Wait()
	return all
}

func sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *session) runTrial(ctx context.Context, t *trial) {
	fail := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		s.rc.set(t, func(t *trial) {
			t.err = strings.TrimPrefix(t.err+"; "+msg, "; ")
		})
		logf("trial %s: %s", t.id, msg)
	}
	start, err := s.write(ctx, t.id, firingValue)
	s.rc.set(t, func(t *trial) { t.start, t.writeDone = start, time.Now() })
	if err != nil {
		fail("%v", err)
		return
	}
	fired := s.rc.wait(ctx, t, s.o.timeout, func(t *trial) bool { return len(s.missing(t)) == 0 })
	if !fired {
		s.rc.mu.Lock()
		missing := s.missing(t)
		s.rc.mu.Unlock()
		fail("no %s after %s", strings.Join(missing, ", "), s.o.timeout)
	}
	// Always end the alert, so that a slow chain does not accumulate
	// firing alerts across trials.
	rs, err := s.write(ctx, t.id, resolvedValue)
	s.rc.set(t, func(t *trial) { t.resolveStart = rs })
	if err != nil {
		fail("%v", err)
		return
	}
	if s.o.resolve && !s.rc.wait(ctx, t, s.o.resolveTimeout, func(t *trial) bool { return !t.resolved.IsZero() }) {
		fail("no resolved notification after %s", s.o.resolveTimeout)
	}
	s.rc.mu.Lock()
	line := fmt.Sprintf("trial %s: webhook %s", t.id, since(t.start, t.webhook))
	if !t.actionHTTP.IsZero() {
		line += ", http action " + since(t.start, t.actionHTTP)
	}
	if !t.commandStart.IsZero() {
		line += ", command action " + since(t.start, t.commandStart)
	}
	if !t.resolved.IsZero() {
		line += ", resolved " + since(t.resolveStart, t.resolved)
	}
	s.rc.mu.Unlock()
	logf("%s", line)
}

func since(from, to time.Time) string {
	if to.IsZero() {
		return "-"
	}
	return to.Sub(from).Round(time.Millisecond).String()
}

// missing lists what a trial still waits for; rc.mu must be held.
func (s *session) missing(t *trial) []string {
	var m []string
	if t.webhook.IsZero() {
		m = append(m, "webhook")
	}
	if slices.Contains(s.o.actions, kindHTTP) && t.actionHTTP.IsZero() {
		m = append(m, "http action")
	}
	if slices.Contains(s.o.actions, kindCommand) && t.commandStart.IsZero() {
		m = append(m, "command action")
	}
	return m
}

// write remote-writes one sample of bench_value{trial=id} stamped with the
// current time and returns the moment just before the request was sent.
func (s *session) write(ctx context.Context, id string, v float64) (time.Time, error) {
	body, err := encodeSample(id, v, time.Now())
	if err != nil {
		return time.Time{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.o.write, bytes.NewReader(body))
	if err != nil {
		return time.Time{}, fmt.Errorf("cannot make the remote-write request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	req.Header.Set("User-Agent", "detect")
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return start, fmt.Errorf("cannot remote-write: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode/100 != 2 {
		return start, fmt.Errorf("remote write to %s: %s: %s", s.o.write, resp.Status, bytes.TrimSpace(msg))
	}
	return start, nil
}

// encodeSample is a snappy-compressed remote-write request with the one
// sample bench_value{trial=id} = v at ts.
func encodeSample(id string, v float64, ts time.Time) ([]byte, error) {
	req := prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: "bench_value"}, {Name: "trial", Value: id}},
		Samples: []prompb.Sample{{Value: v, Timestamp: ts.UnixMilli()}},
	}}}
	raw, err := req.Marshal()
	if err != nil {
		return nil, fmt.Errorf("cannot encode the remote-write request: %w", err)
	}
	return snappy.Encode(nil, raw), nil
}

// set changes a trial's fields with rc.mu held, since handlers write
// the same trial concurrently.
func (rc *receiver) set(t *trial, f func(*trial)) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	f(t)
}

// snapshot copies the trials, rc.mu held: a late notification may still
// be arriving for one that timed out.
func (rc *receiver) snapshot(ts []*trial) []trial {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make([]trial, len(ts))
	for i, t := range ts {
		out[i] = *t
		out[i].changed = nil
	}
	return out
}

func (rc *receiver) strays() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.stray
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("cannot create %s: %w", path, err)
	}
	if err := errors.Join(write(f), f.Close()); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "detect: %s %s\n", time.Now().UTC().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}
