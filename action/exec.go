package action

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// attempt is the result of one try of a step.
type attempt struct {
	ok        bool
	timedOut  bool
	retryable bool
	exitCode  *int
	status    int
	output    *cappedBuffer
	err       error
}

// waitDelay bounds how long a finished command's output pipes are read
// once it exited or was killed: a child that left the process group could
// otherwise hold them open for ever.
const waitDelay = 5 * time.Second

// runCommand runs r once within timeout. The process gets its own process
// group, and a timeout or cancellation kills the whole group, so a
// script's children die with it.
func runCommand(ctx context.Context, r *rendered, timeout time.Duration) attempt {
	res := attempt{output: newCappedBuffer(outputLimit), retryable: true}
	path, err := lookPath(r.argv[0], r.env)
	if err != nil {
		res.err = err
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, r.argv[1:]...)
	cmd.Args[0] = r.argv[0]
	cmd.Env = r.env
	cmd.Dir = r.dir
	cmd.Stdout = res.output
	cmd.Stderr = res.output
	cmd.WaitDelay = waitDelay
	ownProcessGroup(cmd)
	err = cmd.Run()
	if cmd.ProcessState != nil && cmd.ProcessState.Exited() {
		code := cmd.ProcessState.ExitCode()
		res.exitCode = &code
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		res.timedOut = true
		res.err = fmt.Errorf("timed out after %s; process group killed", timeout)
	case err != nil:
		res.err = err
	default:
		res.ok = true
	}
	return res
}

// lookPath finds a program in the PATH of the command's own environment
// (exec.LookPath would use the server's).
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	var path string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue // a relative PATH entry would depend on the working directory
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("cannot find program %q in PATH %q", name, path)
}

// runHTTP sends r once within timeout.
func runHTTP(ctx context.Context, client *http.Client, r *rendered, timeout time.Duration) attempt {
	res := attempt{output: newCappedBuffer(outputLimit)}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		res.err = fmt.Errorf("cannot build request: %w", err)
		return res
	}
	req.Header = r.header.Clone()
	if h := req.Header.Get("Host"); h != "" {
		req.Host = h
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "vigil-action")
	}
	resp, err := client.Do(req)
	if err != nil {
		res.retryable = true
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			res.timedOut = true
			res.err = fmt.Errorf("timed out after %s", timeout)
		} else {
			res.err = err
		}
		return res
	}
	// Read a bounded amount so the connection can be reused; the record
	// keeps only the capped excerpt.
	_, err = io.Copy(res.output, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	res.status = resp.StatusCode
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		res.timedOut = true
		res.retryable = true
		res.err = fmt.Errorf("timed out after %s reading the response", timeout)
		return res
	}
	if successStatus(r.success, resp.StatusCode) {
		res.ok = true
		return res
	}
	res.err = fmt.Errorf("unexpected status %s", resp.Status)
	// A client error other than a timeout or throttling will not go away
	// by asking again.
	res.retryable = resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests
	return res
}

func successStatus(codes []int, code int) bool {
	if len(codes) == 0 {
		return code >= 200 && code < 300
	}
	return slices.Contains(codes, code)
}
