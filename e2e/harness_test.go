// Package e2e runs the built vigil binary against real clients: Debian's
// Prometheus, promtool and node_exporter, the OpenTelemetry Go and Python
// SDKs, telemetrygen, prometheus_client, curl and headless Chromium.
//
// It is black-box: the product is built from ../cmd/vigil and reached only
// over the network. Clients come from scripts/install-test-deps.sh; a
// missing one fails the test with a message saying so, never skips it,
// because CI must not pass by not testing.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var vigilBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vigil-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	vigilBin = filepath.Join(dir, "vigil")
	build := exec.Command("go", "build", "-o", vigilBin, "./cmd/vigil")
	build.Dir = ".."
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "cannot build vigil:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// tool finds an executable the install script provides, or fails the test.
func tool(t *testing.T, name string, also ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range also {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("%s not found: run scripts/install-test-deps.sh (make test does)", name)
	return ""
}

func goBin(name string) string {
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return ""
	}
	return filepath.Join(strings.TrimSpace(string(out)), "bin", name)
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer collects a process's output for the test log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// vigil is one running server.
type vigil struct {
	t        *testing.T
	URL      string // http://host:port of --http-addr
	GRPC     string // host:port of OTLP gRPC
	OTLPHTTP string // host:port of OTLP HTTP
	DataDir  string
	args     []string
	cmd      *exec.Cmd
	log      *syncBuffer
	done     chan struct{}
	scheme   string
}

type vigilOpt func(*vigil)

func withArgs(a ...string) vigilOpt { return func(v *vigil) { v.args = append(v.args, a...) } }
func withDataDir(d string) vigilOpt { return func(v *vigil) { v.DataDir = d } }
func withOTLP(grpc, http string) vigilOpt {
	return func(v *vigil) { v.GRPC, v.OTLPHTTP = grpc, http }
}
func withScheme(s string) vigilOpt { return func(v *vigil) { v.scheme = s } }

// startVigil runs the binary on free loopback ports and waits until it is
// ready. It is stopped with SIGTERM at the end of the test.
func startVigil(t *testing.T, opts ...vigilOpt) *vigil {
	t.Helper()
	v := &vigil{t: t, scheme: "http"}
	for _, o := range opts {
		o(v)
	}
	if v.DataDir == "" {
		v.DataDir = t.TempDir()
	}
	ownOTLP := v.GRPC == ""
	// A port freePort found free can be taken by another test's process
	// before vigil binds it; with ports of its own choosing the start is
	// tried again on fresh ones.
	for attempt := 1; ; attempt++ {
		if ownOTLP {
			v.GRPC, v.OTLPHTTP = freePort(t), freePort(t)
		}
		addr := freePort(t)
		v.URL = v.scheme + "://" + addr
		if v.tryStart(addr) {
			break
		}
		if attempt == 3 || !ownOTLP || !strings.Contains(v.log.String(), "address already in use") {
			t.Fatalf("vigil exited during start:\n%s", v.log.String())
		}
	}
	t.Cleanup(func() {
		v.stop(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("vigil log:\n%s", tail(v.log.String(), 60))
		}
	})
	return v
}

func (v *vigil) start(addr string) {
	v.t.Helper()
	if !v.tryStart(addr) {
		v.t.Fatalf("vigil exited during start:\n%s", v.log.String())
	}
}

// tryStart runs the binary and waits until it is ready; it reports false
// if the process exited first.
func (v *vigil) tryStart(addr string) bool {
	t := v.t
	t.Helper()
	args := append([]string{"serve", "--data-dir", v.DataDir, "--http-addr", addr,
		"--otlp-grpc-addr", v.GRPC, "--otlp-http-addr", v.OTLPHTTP}, v.args...)
	v.cmd = exec.Command(vigilBin, args...)
	v.log = &syncBuffer{}
	v.cmd.Stdout, v.cmd.Stderr = v.log, v.log
	if err := v.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	v.done = make(chan struct{})
	go func() { _ = v.cmd.Wait(); close(v.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := insecureClient.Get(v.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return true
			}
		}
		select {
		case <-v.done:
			return false
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("vigil not ready after 30s:\n%s", v.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop signals the process and waits for it; it returns the exit code.
func (v *vigil) stop(sig syscall.Signal) int {
	select {
	case <-v.done:
		return v.cmd.ProcessState.ExitCode()
	default:
	}
	_ = v.cmd.Process.Signal(sig)
	select {
	case <-v.done:
	case <-time.After(60 * time.Second):
		_ = v.cmd.Process.Kill()
		<-v.done
		v.t.Errorf("vigil did not stop within 60s of %v", sig)
	}
	return v.cmd.ProcessState.ExitCode()
}

// restart starts the same configuration again on the same data directory.
func (v *vigil) restart() {
	v.t.Helper()
	addr := strings.TrimPrefix(v.URL, v.scheme+"://")
	v.start(addr)
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

var insecureClient = &http.Client{Timeout: 30 * time.Second, Transport: insecureTransport()}

// apiResponse is the Prometheus API envelope.
type apiResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
	Values [][2]any          `json:"values"`
	Hist   *[2]any           `json:"histogram"`
}

type queryData struct {
	ResultType string       `json:"resultType"`
	Result     []promSample `json:"result"`
}

// query runs an instant query against base (Vigil or Prometheus) at time
// at (zero: now).
func query(t *testing.T, base, q string, at time.Time) queryData {
	t.Helper()
	p := url.Values{"query": {q}}
	if !at.IsZero() {
		p.Set("time", fmt.Sprintf("%.3f", float64(at.UnixMilli())/1000))
	}
	var d queryData
	apiGet(t, base, "/api/v1/query", p, &d)
	return d
}

func queryRange(t *testing.T, base, q string, start, end time.Time, step time.Duration) queryData {
	t.Helper()
	p := url.Values{"query": {q}, "start": {fmt.Sprint(start.Unix())}, "end": {fmt.Sprint(end.Unix())}, "step": {fmt.Sprint(step.Seconds())}}
	var d queryData
	apiGet(t, base, "/api/v1/query_range", p, &d)
	return d
}

func apiGet(t *testing.T, base, path string, p url.Values, into any) {
	t.Helper()
	resp, err := insecureClient.Get(base + path + "?" + p.Encode())
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r apiResponse
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("GET %s?%s: %d %s", path, p.Encode(), resp.StatusCode, b)
	}
	if r.Status != "success" {
		t.Fatalf("GET %s?%s: %s: %s", path, p.Encode(), r.ErrorType, r.Error)
	}
	if err := json.Unmarshal(r.Data, into); err != nil {
		t.Fatalf("GET %s: cannot decode data %s: %v", path, r.Data, err)
	}
}

// eventually polls f until it returns "" or the deadline passes, then
// fails with f's last complaint. Clients export on their own schedule, so
// tests wait for data instead of asserting how fast it came.
func eventually(t *testing.T, within time.Duration, f func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for {
		if last = f(); last == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// value returns the float value of an instant vector element.
func value(s promSample) float64 {
	var f float64
	fmt.Sscan(fmt.Sprint(s.Value[1]), &f)
	return f
}

// waitValue waits until the instant query q has exactly one series with
// value want.
func waitValue(t *testing.T, base, q string, want float64) promSample {
	t.Helper()
	var got promSample
	eventually(t, 60*time.Second, func() string {
		d := query(t, base, q, time.Time{})
		if len(d.Result) != 1 {
			return fmt.Sprintf("%s: %d series, want 1: %+v", q, len(d.Result), d.Result)
		}
		got = d.Result[0]
		if v := value(got); v != want {
			return fmt.Sprintf("%s = %v, want %v", q, v, want)
		}
		return ""
	})
	return got
}

// run executes a command and fails the test with its output on error.
func run(t *testing.T, ctx context.Context, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// background starts a helper process that is killed at the end of the test.
func background(t *testing.T, env []string, name string, args ...string) *syncBuffer {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(name), tail(out.String(), 40))
		}
	})
	return out
}
