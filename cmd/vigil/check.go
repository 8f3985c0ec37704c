package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/vigilhq/vigil/action"
	"github.com/vigilhq/vigil/alert"
	"github.com/vigilhq/vigil/config"
	"github.com/vigilhq/vigil/ruler"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/slo"
)

const checkUsage = `Usage:
  vigil check config FILE           the Vigil configuration and every file it names
  vigil check rules FILE...         Prometheus rule files (as promtool check rules)
  vigil check alertmanager FILE     an Alertmanager configuration (as amtool check-config)
  vigil check slo FILE...           SLO spec files, and the rules they compile to
  vigil check actions FILE...       remediation action files
`

// check validates configuration files without starting a server: every
// problem is printed, and the exit code is non-zero if there is one.
func check(args []string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stderr, checkUsage)
		return usageError{"vigil check needs a kind and at least one file"}
	}
	kind, files := args[0], args[1:]
	var err error
	switch kind {
	case "config":
		if len(files) != 1 {
			return usageError{"vigil check config takes one file"}
		}
		var cfg config.Config
		if cfg, err = config.Load(files[0]); err == nil {
			if err = cfg.Resolve(func(string) string { return "" }); err == nil {
				if err = cfg.Validate(); err == nil {
					err = server.Check(cfg)
				}
			}
		}
	case "rules":
		var expanded []string
		if expanded, err = ruler.Expand(files); err == nil {
			err = errors.Join(ruler.Check(expanded...)...)
		}
	case "alertmanager":
		var errs []error
		for _, f := range files {
			errs = append(errs, alert.CheckConfig(f))
		}
		err = errors.Join(errs...)
	case "slo":
		var slos []slo.SLO
		if slos, err = slo.LoadFiles(files); err == nil {
			_, err = slo.RuleFile(slos)
		}
	case "actions":
		_, err = action.LoadFiles(files)
	default:
		fmt.Fprint(stderr, checkUsage)
		return usageError{fmt.Sprintf("unknown kind %q to check", kind)}
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return checkFailed{}
	}
	fmt.Fprintf(stdout, "SUCCESS: %s is valid\n", describe(kind, files))
	return nil
}

func describe(kind string, files []string) string {
	if len(files) == 1 {
		return files[0]
	}
	return fmt.Sprintf("%d %s files", len(files), kind)
}

// checkFailed is a check that found problems, already printed.
type checkFailed struct{}

func (checkFailed) Error() string { return "check failed" }
