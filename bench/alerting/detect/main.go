// Command detect measures the detect-to-act latency of an alerting chain:
// from the remote-write request carrying a sample that crosses a threshold
// to the webhook receiving the alert's notification, and to the alert's
// actions starting.
//
// It serves, on -listen, the endpoints the chain under test is configured
// to call:
//
//	POST /webhook         an Alertmanager webhook receiver; each alert's
//	                      label "trial" names the trial it belongs to
//	POST /action/http     an HTTP action's request, body {"trial": "…"}
//	POST /action/command  what `detect -probe` posts: the trial and the
//	                      moment the probe process started
//
// Each trial has its own label value, so trials are distinct alerts
// (distinct Alertmanager groups with group_by [trial, …]). A trial
// remote-writes bench_value{trial="<id>"} = 500 at the current time, taking
// t0 just before the request is sent, and waits for the firing
// notification and every -actions kind to arrive; then it writes 0 and,
// with -resolve, waits for the resolved notification. Arrivals are timed
// when their request reaches the handler; the command probe's time is the
// start of its process, which it reports itself.
//
// Before each trial starts (once one of -concurrency slots is free) detect
// waits a uniformly random time in [0, -gap), so trial starts fall at
// random phases of the rule evaluation ticks instead of locking to them.
// The first -warmup trials are recorded but left out of the summary.
//
// Output: one CSV row per trial (-csv), the summary as JSON (-json) and as
// a table on stdout. detect exits non-zero when a measured trial timed out
// or failed; everything is written anyway.
//
// As the action's command, `detect -probe URL -trial ID` posts its start
// time to URL and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"
)

func main() {
	// The probe's start time is the action's start: take it before
	// anything else runs.
	started := time.Now()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, started); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "detect:", err)
		os.Exit(1)
	}
}

type options struct {
	listen         string
	write          string
	name           string
	prefix         string
	trials         int
	warmup         int
	concurrency    int
	gap            time.Duration
	timeout        time.Duration
	resolve        bool
	resolveTimeout time.Duration
	actions        []string
	csv            string
	json           string
	seed           uint64

	probe      string
	probeTrial string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("detect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "address of the webhook and action endpoints")
	fs.StringVar(&o.write, "write", "", "remote-write URL of the chain under test, e.g. http://127.0.0.1:9090/api/v1/write")
	fs.StringVar(&o.name, "name", "chain", "the configuration's name, in the CSV and the summary")
	fs.StringVar(&o.prefix, "prefix", "", "trial label prefix; default the name and the start time, so runs never share a label")
	fs.IntVar(&o.trials, "trials", 100, "measured trials")
	fs.IntVar(&o.warmup, "warmup", 1, "trials run first and left out of the summary")
	fs.IntVar(&o.concurrency, "concurrency", 1, "trials in flight at once")
	fs.DurationVar(&o.gap, "gap", time.Second, "before each trial, wait a random time in [0, gap)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "longest wait for a trial's notification and actions")
	fs.BoolVar(&o.resolve, "resolve", false, "after firing, wait for the resolved notification too")
	fs.DurationVar(&o.resolveTimeout, "resolve-timeout", 30*time.Second, "longest wait for the resolved notification")
	actions := fs.String("actions", "", "comma-separated action kinds each trial waits for: http, command")
	fs.StringVar(&o.csv, "csv", "", "file for one CSV row per trial")
	fs.StringVar(&o.json, "json", "", "file for the summary as JSON")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the random waits between trials")
	fs.StringVar(&o.probe, "probe", "", "probe mode: post this process's start time to this URL and exit")
	fs.StringVar(&o.probeTrial, "trial", "", "probe mode: the trial")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.probe != "" {
		if o.probeTrial == "" {
			return o, errors.New("-probe needs -trial")
		}
		return o, nil
	}
	for _, k := range strings.Split(*actions, ",") {
		switch k = strings.TrimSpace(k); k {
		case "":
		case kindHTTP, kindCommand:
			o.actions = append(o.actions, k)
		default:
			return o, fmt.Errorf("-actions: unknown kind %q (want http or command)", k)
		}
	}
	switch {
	case o.write == "":
		return o, errors.New("-write is required")
	case o.trials < 1 || o.warmup < 0 || o.concurrency < 1:
		return o, errors.New("-trials and -concurrency must be positive, -warmup not negative")
	case o.gap < 0 || o.timeout <= 0 || o.resolveTimeout <= 0:
		return o, errors.New("-gap must not be negative, -timeout and -resolve-timeout must be positive")
	}
	if o.prefix == "" {
		o.prefix = fmt.Sprintf("%s-%d", o.name, time.Now().Unix())
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout io.Writer, started time.Time) error {
	o, err := parseFlags(args, os.Stderr)
	if err != nil {
		return err
	}
	if o.probe != "" {
		return probe(ctx, o.probe, o.probeTrial, started)
	}
	return measure(ctx, o, stdout)
}
