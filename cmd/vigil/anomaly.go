package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"

	"github.com/vigilhq/vigil/anomaly"
	"github.com/vigilhq/vigil/report"
	"github.com/vigilhq/vigil/watch"
)

const anomalyUsage = `Usage:
  vigil anomaly backtest --rules FILE --rule NAME [--url URL] [--from T] [--to T] [--step D] [--format csv|json|summary] [--out FILE]
      run an anomaly rule over past data from Vigil (or any Prometheus API) and write each
      point's score and band, and what would have fired (the summary goes to stderr)
  vigil anomaly backtest --csv FILE [--out FILE] [detector flags]
      run the detector over a timestamp,value CSV file and write timestamp,value,anomaly_score
      (the Numenta Anomaly Benchmark's file format)
  vigil anomaly backtest --csv-dir DIR --out-dir DIR [--probation nab] [detector flags]
      the same for every DIR/<category>/<name>.csv, written as OUT/<category>/<detector>_<name>.csv
      where <detector> is OUT's base name (NAB's results layout)

Times (--from, --to): now, -30d (relative to now), a date (2026-11-01), RFC 3339 or Unix seconds.
`

func anomalyCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "backtest" {
		fmt.Fprint(stderr, anomalyUsage)
		if len(args) == 0 {
			return usageError{"vigil anomaly needs a subcommand: backtest"}
		}
		return usageError{fmt.Sprintf("unknown anomaly subcommand %q; the one there is: backtest", args[0])}
	}
	fs := flag.NewFlagSet("vigil anomaly backtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, anomalyUsage)
		fs.PrintDefaults()
	}
	var (
		rulesFile   = fs.String("rules", "", "rule file holding the anomaly rule")
		ruleName    = fs.String("rule", "", "the anomaly rule's name (needed when the file holds several)")
		base        = fs.String("url", "http://127.0.0.1:9090", "Vigil's (or a Prometheus's) HTTP address")
		fromS       = fs.String("from", "-30d", "start of the backtest")
		toS         = fs.String("to", "now", "end of the backtest")
		step        = fs.Duration("step", 0, "evaluation step (default: the rule group's interval, else 1m)")
		format      = fs.String("format", "csv", "rule mode output: csv (every point), json, or summary (the alerts only)")
		out         = fs.String("out", "", "output file (default: standard output)")
		tokenFile   = fs.String("read-token-file", "", "file holding the read bearer token (or set VIGIL_READ_TOKEN)")
		csvFile     = fs.String("csv", "", "CSV file of timestamp,value rows")
		csvDir      = fs.String("csv-dir", "", "directory of <category>/<name>.csv files")
		outDir      = fs.String("out-dir", "", "results directory for --csv-dir")
		probation   = fs.String("probation", "", `"nab": each file's first 15% of rows (at most 750) are history only, as NAB gives every detector`)
		seasonality = fs.String("seasonality", "auto", "detector: auto, none, daily or weekly")
		sensitivity = fs.Float64("sensitivity", 0.5, "detector: sensitivity in (0,1]")
		direction   = fs.String("direction", "both", "detector: up, down or both")
		timezone    = fs.String("timezone", "UTC", "detector: the time zone of the seasons")
		minHistory  = fs.Duration("min-history", 0, "detector: history before any alert (default 72h; negative: none)")
		minPoints   = fs.Int("min-points", 0, "detector: points before any alert (default 100)")
		holdOff     = fs.Int("hold-off-points", 0, "detector: points held quiet after an alert (default 100; negative: none)")
	)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q; every setting is a flag", fs.Arg(0))}
	}
	modes := 0
	for _, s := range []string{*rulesFile, *csvFile, *csvDir} {
		if s != "" {
			modes++
		}
	}
	if modes != 1 {
		fmt.Fprint(stderr, anomalyUsage)
		return usageError{"give exactly one of --rules, --csv or --csv-dir"}
	}
	if *rulesFile != "" {
		return backtestRule(ctx, backtestRuleArgs{
			file: *rulesFile, name: *ruleName, base: *base, from: *fromS, to: *toS, step: *step,
			format: *format, out: *out, tokenFile: *tokenFile,
		}, getenv, stdout, stderr)
	}
	loc, err := time.LoadLocation(*timezone)
	if err != nil {
		return usageError{fmt.Sprintf("--timezone: %v", err)}
	}
	cfg := anomaly.Config{
		Seasonality: *seasonality, Sensitivity: *sensitivity, Direction: *direction, Location: loc,
		MinHistory: *minHistory, MinPoints: *minPoints, HoldOffPoints: *holdOff,
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err.Error()}
	}
	if *probation != "" && *probation != "nab" {
		return usageError{fmt.Sprintf("--probation: unknown %q; the one there is: nab", *probation)}
	}
	if *csvFile != "" {
		if *outDir != "" {
			return usageError{"--out-dir goes with --csv-dir; use --out with --csv"}
		}
		return backtestCSV(*csvFile, *out, cfg, *probation == "nab", stdout, stderr)
	}
	if *outDir == "" {
		return usageError{"--csv-dir needs --out-dir"}
	}
	return backtestCorpus(ctx, *csvDir, *outDir, cfg, *probation == "nab", stdout)
}

// nabProbation is NAB's probationary period: 15% of the rows, at most 750.
func nabProbation(rows int) int { return min(int(0.15*float64(rows)), 750) }

// scoreCSV streams one CSV file through a detector and writes NAB's
// results format.
func scoreCSV(src string, w io.Writer, cfg anomaly.Config, nab bool) (points, alerts int, err error) {
	f, err := os.Open(src)
	if err != nil {
		return 0, 0, err
	}
	pts, err := anomaly.ReadCSV(f, 0)
	f.Close()
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", src, err)
	}
	if nab {
		cfg.MinPoints, cfg.MinHistory = nabProbation(len(pts)), -1
	}
	det := anomaly.New(cfg)
	scores := make([]float64, len(pts))
	for i, p := range pts {
		r := det.Observe(p.T, p.V)
		scores[i] = r.Score
		if r.Anomalous {
			alerts++
		}
	}
	return len(pts), alerts, anomaly.WriteResults(w, pts, scores)
}

func backtestCSV(src, dst string, cfg anomaly.Config, nab bool, stdout, stderr io.Writer) error {
	w, done, err := output(dst, stdout)
	if err != nil {
		return err
	}
	n, alerts, err := scoreCSV(src, w, cfg, nab)
	if err2 := done(); err == nil {
		err = err2
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%s: %d points, %d anomalous (threshold %.3f)\n", src, n, alerts, cfg.Threshold())
	return nil
}

func backtestCorpus(ctx context.Context, dir, outDir string, cfg anomaly.Config, nab bool, stdout io.Writer) error {
	files, err := filepath.Glob(filepath.Join(dir, "*", "*.csv"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no <category>/<name>.csv files under %s", dir)
	}
	name := filepath.Base(filepath.Clean(outDir))
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, runtime.GOMAXPROCS(0))
	)
	for _, f := range files {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if ctx.Err() != nil {
				return
			}
			dst := filepath.Join(outDir, filepath.Base(filepath.Dir(f)), name+"_"+filepath.Base(f))
			err := os.MkdirAll(filepath.Dir(dst), 0o755)
			if err == nil {
				var w io.Writer
				var done func() error
				if w, done, err = output(dst, nil); err == nil {
					_, _, err = scoreCSV(f, w, cfg, nab)
					if err2 := done(); err == nil {
						err = err2
					}
				}
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d results files under %s\n", len(files), outDir)
	return nil
}

type backtestRuleArgs struct {
	file, name, base, from, to, format, out, tokenFile string
	step                                               time.Duration
}

func backtestRule(ctx context.Context, a backtestRuleArgs, getenv func(string) string, stdout, stderr io.Writer) error {
	_, found, errs := watch.ParseFile(a.file)
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	var r *watch.Rule
	var names []string
	for _, x := range found {
		names = append(names, x.Name)
		if x.Name == a.name || (a.name == "" && len(found) == 1) {
			r = x
		}
	}
	if r == nil {
		sort.Strings(names)
		if a.name == "" {
			return usageError{fmt.Sprintf("%s holds %d anomaly rules (%s): name one with --rule", a.file, len(found), strings.Join(names, ", "))}
		}
		return usageError{fmt.Sprintf("%s has no anomaly rule %q (it has: %s)", a.file, a.name, strings.Join(names, ", "))}
	}
	switch a.format {
	case "csv", "json", "summary":
	default:
		return usageError{fmt.Sprintf("--format: unknown %q; want csv, json or summary", a.format)}
	}
	now := time.Now()
	from, err := parseWhen(a.from, now)
	if err != nil {
		return usageError{fmt.Sprintf("--from: %v", err)}
	}
	to, err := parseWhen(a.to, now)
	if err != nil {
		return usageError{fmt.Sprintf("--to: %v", err)}
	}
	u, err := url.Parse(a.base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageError{fmt.Sprintf("--url: %q is not an http or https URL", a.base)}
	}
	token, err := report.ReadToken(a.tokenFile, getenv)
	if err != nil {
		return err
	}
	client, err := promapi.NewClient(promapi.Config{Address: a.base, RoundTripper: bearer{token: token, next: http.DefaultTransport}})
	if err != nil {
		return err
	}
	bt, err := watch.RunBacktest(ctx, r, httpRange(promv1.NewAPI(client)), from, to, a.step)
	if err != nil {
		return err
	}
	w, done, err := output(a.out, stdout)
	if err != nil {
		return err
	}
	switch a.format {
	case "csv":
		err = bt.WriteCSV(w)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		err = enc.Encode(bt)
	case "summary":
		err = bt.WriteSummary(w)
	}
	if err2 := done(); err == nil {
		err = err2
	}
	if err != nil {
		return err
	}
	if a.format != "summary" {
		return bt.WriteSummary(stderr)
	}
	return nil
}

// parseWhen reads now, a negative duration from now (-30d), or what
// report.ParseTime reads.
func parseWhen(s string, now time.Time) (time.Time, error) {
	switch {
	case s == "now":
		return now, nil
	case strings.HasPrefix(s, "-"):
		d, err := model.ParseDuration(s[1:])
		if err != nil {
			return time.Time{}, fmt.Errorf("%q: %w", s, err)
		}
		return now.Add(-time.Duration(d)), nil
	}
	return report.ParseTime(s)
}

// httpRange queries a Prometheus HTTP API with Prometheus's own client.
func httpRange(api promv1.API) watch.RangeFunc {
	return func(ctx context.Context, expr string, start, end time.Time, step time.Duration) (promql.Matrix, error) {
		v, _, err := api.QueryRange(ctx, expr, promv1.Range{Start: start, End: end, Step: step})
		if err != nil {
			return nil, err
		}
		m, ok := v.(model.Matrix)
		if !ok {
			return nil, fmt.Errorf("expression gives a %s, not a range of vectors", v.Type())
		}
		out := make(promql.Matrix, 0, len(m))
		for _, s := range m {
			b := labels.NewScratchBuilder(len(s.Metric))
			for k, v := range s.Metric {
				b.Add(string(k), string(v))
			}
			b.Sort()
			ps := make([]promql.FPoint, len(s.Values))
			for i, p := range s.Values {
				ps[i] = promql.FPoint{T: int64(p.Timestamp), F: float64(p.Value)}
			}
			out = append(out, promql.Series{Metric: b.Labels(), Floats: ps})
		}
		return out, nil
	}
}

type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	if b.token != "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return b.next.RoundTrip(r)
}

// output opens dst, or gives stdout when dst is empty; done closes it.
func output(dst string, stdout io.Writer) (io.Writer, func() error, error) {
	if dst == "" {
		return stdout, func() error { return nil }, nil
	}
	f, err := os.Create(dst)
	if err != nil {
		return nil, nil, err
	}
	return f, f.Close, nil
}
