// Command nab streams every series of the Numenta Anomaly Benchmark through
// one anomaly.Detector configuration and writes NAB results files, to be
// scored by the independent scorer (see docs/anomaly.md):
//
//	go run ./anomaly/nab -data ../shared/anomaly/nab/data -out /tmp/nab/vigil
//	nabscore -nab ../shared/anomaly/nab -cv /tmp/nab/vigil
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/vigilhq/vigil/anomaly"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "nab:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("nab", flag.ContinueOnError)
	data := fs.String("data", "../shared/anomaly/nab/data", "NAB data directory (<category>/<name>.csv)")
	out := fs.String("out", "", "results directory; its base name is the detector name in file names")
	season := fs.String("seasonality", "auto", "seasonality for every series")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("cannot run: -out is required")
	}
	files, err := filepath.Glob(filepath.Join(*data, "*", "*.csv"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("cannot find NAB series under %s: want <category>/<name>.csv (set -data)", *data)
	}
	name := filepath.Base(filepath.Clean(*out))
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
			dst := filepath.Join(*out, filepath.Base(filepath.Dir(f)), name+"_"+filepath.Base(f))
			if err := runFile(f, dst, *season); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return errs[0]
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d results files under %s\n", len(files), *out)
	return nil
}

// runFile scores one series. The only per-file input is NAB's own
// probationary period (15% of the rows, at most 750), which NAB gives every
// detector and does not score: it is used as the minimum history.
func runFile(src, dst, season string) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("cannot open series: %w", err)
	}
	pts, err := anomaly.ReadCSV(f, 0)
	f.Close()
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", src, err)
	}
	probation := min(int(0.15*float64(len(pts))), 750)
	det := anomaly.New(anomaly.Config{Seasonality: season, MinPoints: probation, MinHistory: -1})
	scores := make([]float64, len(pts))
	for i, p := range pts {
		scores[i] = det.Observe(p.T, p.V).Score
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("cannot create results directory: %w", err)
	}
	w, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("cannot create results file: %w", err)
	}
	if err := anomaly.WriteResults(w, pts, scores); err != nil {
		w.Close()
		return fmt.Errorf("cannot write %s: %w", dst, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("cannot write %s: %w", dst, err)
	}
	return nil
}
