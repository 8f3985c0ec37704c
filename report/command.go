package report

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// UsageError is a mistake on the command line; it names the flag.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error { return &UsageError{Msg: fmt.Sprintf(format, args...)} }

const commandUsage = `Usage: vigil report sla --service S [flags]

Asks a running Vigil (GET /api/v1/sla) for the SLA of a service over a
period and writes it to stdout. Without --from and --to the period is the
last full calendar month in UTC. The read token comes from
--read-token-file or VIGIL_READ_TOKEN.

Flags:
`

// Command runs "vigil report <args>"; the only report is sla. The report
// goes to stdout, usage and flag help to stderr. It returns *UsageError
// for a bad command line, flag.ErrHelp after -h, and an error carrying
// the server's message when the server refuses; the caller picks exit
// codes.
func Command(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "sla" {
		fmt.Fprint(stderr, commandUsage)
		if len(args) == 0 {
			return usagef("no report named; the one there is: vigil report sla")
		}
		return usagef("unknown report %q; the one there is: vigil report sla", args[0])
	}
	fs := flag.NewFlagSet("vigil report sla", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, commandUsage)
		fs.PrintDefaults()
	}
	var (
		service   = fs.String("service", "", "the service to report on (required)")
		from      = fs.String("from", "", "start of the period: a date (2026-11-01, 00:00 UTC), RFC 3339 or Unix seconds")
		to        = fs.String("to", "", "end of the period, as --from; 2026-12-01 ends November (default: now when --from is set)")
		format    = fs.String("format", "json", "json, csv, csv-daily, md or html")
		base      = fs.String("url", "http://127.0.0.1:9090", "Vigil's HTTP address")
		objective = fs.String("objective", "", "availability objective in percent (99.9); default: the service's SLO")
		latency   = fs.String("latency-objective", "", "latency objective, like p99:500ms; default: the service's SLO")
		source    = fs.String("source", "", "spans, slo or custom (default: span metrics when the service has them)")
		total     = fs.String("total", "", "custom source: counter selector of all requests, or PromQL using {{.range}}")
		failed    = fs.String("errors", "", "custom source: counter selector of failed requests, or PromQL using {{.range}}")
		histogram = fs.String("latency-histogram", "", "custom source: latency histogram name in seconds (http_request_duration_seconds)")
		selector  = fs.String("latency-selector", "", `custom source: label matchers of the histogram (job="api")`)
		spanKinds = fs.String("span-kinds", "", "spans source: comma-separated span kinds (default SPAN_KIND_SERVER,SPAN_KIND_CONSUMER)")
		tokenFile = fs.String("read-token-file", "", "file holding the read bearer token (or set VIGIL_READ_TOKEN)")
	)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &UsageError{Msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q; every setting is a flag", fs.Arg(0))
	}

	if *service == "" {
		return usagef("--service is required")
	}
	if *from == "" && *to != "" {
		return usagef("--from is required when --to is given")
	}
	for _, f := range []struct{ name, v string }{{"from", *from}, {"to", *to}} {
		if f.v == "" {
			continue
		}
		if _, err := ParseTime(f.v); err != nil {
			return usagef("--%s: %v", f.name, err)
		}
	}
	if _, ok := formats[*format]; !ok {
		return usagef("--format: unknown format %q; want json, csv, csv-daily, md or html", *format)
	}
	if *objective != "" {
		if _, err := strconv.ParseFloat(*objective, 64); err != nil {
			return usagef("--objective: cannot parse %q as a percentage", *objective)
		}
	}
	if *latency != "" {
		if _, err := ParseLatencyObjective(*latency); err != nil {
			return usagef("--latency-objective: %v", err)
		}
	}
	u, err := url.Parse(*base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--url: %q is not an http or https URL", *base)
	}
	token, err := ReadToken(*tokenFile, getenv)
	if err != nil {
		return err
	}

	params := url.Values{"service": {*service}, "format": {*format}}
	for name, v := range map[string]string{
		"from": *from, "to": *to, "objective": *objective, "latency_objective": *latency,
		"source": *source, "total": *total, "errors": *failed,
		"latency_histogram": *histogram, "latency_selector": *selector, "span_kinds": *spanKinds,
	} {
		if v != "" {
			params.Set(name, v)
		}
	}
	endpoint := strings.TrimRight(u.String(), "/") + "/api/v1/sla?" + params.Encode()
	body, err := get(ctx, http.DefaultClient, endpoint, token)
	if err != nil {
		return fmt.Errorf("cannot get the SLA report: %w", err)
	}
	_, err = stdout.Write(body)
	return err
}

// ReadToken reads the read token of a command-line client: from the
// file when one is given, else from VIGIL_READ_TOKEN, as the server does.
// A file that cannot be read or is empty is a *UsageError.
func ReadToken(file string, getenv func(string) string) (string, error) {
	if file == "" {
		return strings.TrimSpace(getenv("VIGIL_READ_TOKEN")), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", usagef("--read-token-file: %v", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", usagef("--read-token-file: %s is empty", file)
	}
	return tok, nil
}
