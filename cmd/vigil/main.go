// Command vigil is the Vigil server and its tools in one binary.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	// Time intervals and schedules name IANA zones; the binary carries
	// the database so they work on machines without tzdata.
	_ "time/tzdata"

	"github.com/vigilhq/vigil/report"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "vigil:", err)
		os.Exit(exitCode(err))
	}
}

const usage = `Vigil: real-time monitoring of services and infrastructure, in one binary.

Usage:
  vigil serve [flags]    run the server (vigil serve --help lists the flags)
  vigil check KIND FILE  check config, rules, alertmanager, slo or actions files
  vigil report sla       an SLA report of a service (vigil report sla --help)
  vigil anomaly backtest what an anomaly rule, or the detector on a CSV file,
                         would have found over past data (vigil anomaly backtest --help)
  vigil version          print the version
  vigil help             show this help

Ingest: Prometheus remote write and scrape, Pushgateway-style push, OTLP.
Query: the Prometheus HTTP API (PromQL) and the web UI on --http-addr.
`

// usageError is a mistake on the command line: exit code 2, as flag does.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var ue *report.UsageError
	if _, ok := err.(usageError); ok || errors.As(err, &ue) {
		return 2
	}
	return 1
}

// run is main without the process: arguments, environment and output are
// passed in so tests can drive it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "check":
		return check(args[1:], stdout, stderr)
	case "anomaly":
		return anomalyCommand(ctx, args[1:], getenv, stdout, stderr)
	case "report":
		err := report.Command(ctx, args[1:], getenv, stdout, stderr)
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	case "version", "--version", "-version":
		return printVersion(stdout)
	case "help", "--help", "-help", "-h":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return usageError{fmt.Sprintf("unknown command %q", args[0])}
	}
}
