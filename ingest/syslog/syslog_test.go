package syslog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/vigilhq/vigil/ingest"
	"github.com/vigilhq/vigil/ingest/logline"
	"github.com/vigilhq/vigil/storage/logs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type frame struct {
	msg     string
	dropped int
}

// frames runs the framer over in, read one byte at a time when slow, so
// every message is split across reads.
func frames(in string, max int, slow bool) []frame {
	var r io.Reader = strings.NewReader(in)
	if slow {
		r = iotest.OneByteReader(r)
	}
	f := newFramer(bufio.NewReaderSize(r, 16), max)
	var out []frame
	for range len(in) + 1 {
		msg, dropped, err := f.next()
		if err != nil {
			return out
		}
		out = append(out, frame{string(msg), dropped})
	}
	panic("BUG: framer does not end")
}

func TestFraming(t *testing.T) {
	for _, c := range []struct {
		name string
		in   string
		max  int
		want []frame
	}{
		{"newlines", "<13>a\n<13>b\r\n\n<13>c", 100, []frame{{"<13>a", 0}, {"<13>b", 0}, {"<13>c", 0}}},
		{"NUL terminated", "<13>a\x00<13>b\x00", 100, []frame{{"<13>a", 0}, {"<13>b", 0}}},
		{"octet counting", "5 <13>a7 <13>b\nc", 100, []frame{{"<13>a", 0}, {"<13>b\nc", 0}}},
		{"mixed per message", "5 <13>a<13>b\n6 <13>cd", 100, []frame{{"<13>a", 0}, {"<13>b", 0}, {"<13>cd", 0}}},
		{"digits, not a length", "2024-05-01T10:00:00Z h a: x\n", 100, []frame{{"2024-05-01T10:00:00Z h a: x", 0}}},
		{"digits alone", "123\n456", 100, []frame{{"123", 0}, {"456", 0}}},
		{"ten digits are not a length", "1234567890 x\n", 100, []frame{{"1234567890 x", 0}}},
		{"zero length", "0 x\n", 100, []frame{{"0 x", 0}}},
		{"line cut", "<13>abcdefgh\n<13>b\n", 6, []frame{{"<13>ab", 6}, {"<13>b", 0}}},
		{"counted cut", "10 <13>abcdef<13>b\n", 6, []frame{{"<13>ab", 4}, {"<13>b", 0}}},
		{"cut at a rune", "<13>\u00e9\u00e9\n", 6, []frame{{"<13>\u00e9", 2}}},
		{"stream ends inside counted", "10 <13>a", 100, []frame{{"<13>a", 5}}},
		{"stream ends inside line", "<13>a\n<13>b", 100, []frame{{"<13>a", 0}, {"<13>b", 0}}},
		{"empty", "", 100, nil},
	} {
		for _, slow := range []bool{false, true} {
			if got := frames(c.in, c.max, slow); fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("%s (split reads %v): %+v, want %+v", c.name, slow, got, c.want)
			}
		}
	}
}

// FuzzFraming: the framer ends, its messages come from the input and fit
// the limit, and how the stream is split into reads changes nothing.
func FuzzFraming(f *testing.F) {
	f.Add([]byte("5 <13>a<13>b\n6 <13>cd\x00"), 8)
	f.Add([]byte("2024-05-01T10:00:00Z h a: x\n999999999 y"), 100)
	f.Add([]byte("\n\n\r0 1 22 \xe9\xe9\xe9"), 3)
	f.Fuzz(func(t *testing.T, in []byte, max int) {
		if max <= 0 || max > 1<<16 {
			max = 64
		}
		fast, slow := frames(string(in), max, false), frames(string(in), max, true)
		if fmt.Sprint(fast) != fmt.Sprint(slow) {
			t.Fatalf("framing depends on reads: %+v vs %+v", fast, slow)
		}
		for _, fr := range fast {
			if len(fr.msg) > max || !bytes.Contains(in, []byte(fr.msg)) || fr.dropped < 0 {
				t.Fatalf("frame %q (dropped %d) of input %q, max %d", fr.msg, fr.dropped, in, max)
			}
		}
	})
}

// sink collects records and signals each append.
type sink struct {
	mu      sync.Mutex
	batches [][]logs.Record
	err     error
	got     chan struct{}
}

func newSink() *sink { return &sink{got: make(chan struct{}, 1<<12)} }

func (s *sink) Append(_ context.Context, recs []logs.Record) error {
	s.mu.Lock()
	s.batches = append(s.batches, recs)
	s.mu.Unlock()
	s.got <- struct{}{}
	return s.err
}

func (s *sink) records() []logs.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []logs.Record
	for _, b := range s.batches {
		out = append(out, b...)
	}
	return out
}

// waitFor waits until the sink holds n records. The deadline only keeps a
// broken receiver from hanging the test.
func (s *sink) waitFor(t *testing.T, n int) []logs.Record {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if recs := s.records(); len(recs) >= n {
			return recs
		}
		select {
		case <-s.got:
		case <-deadline:
			t.Fatalf("sink has %d records, want %d", len(s.records()), n)
		}
	}
}

// start runs a server on loopback until stop is called or the test
// ends.
func start(t *testing.T, o Options) (srv *Server, stop func()) {
	t.Helper()
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- srv.Run(ctx) }()
	stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	t.Cleanup(stop)
	return srv, stop
}

var fixedNow = func() time.Time { return now }

func TestTCP(t *testing.T) {
	s := newSink()
	m := ingest.NewMetrics(prometheus.NewRegistry())
	srv, stop := start(t, Options{Sink: s, TCPAddr: "127.0.0.1:0", MaxMessageBytes: 64, Metrics: m, Now: fixedNow})
	if srv.UDPAddr() != nil {
		t.Errorf("UDP bound though disabled: %v", srv.UDPAddr())
	}
	c, err := net.Dial("tcp", srv.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	counted := "<14>1 - web nginx - - - counted"
	parts := []string{
		"<13>Jun 15 10:00:00 web app[1]: newline\n",
		fmt.Sprintf("%d %s", len(counted), counted),
		"<13>Jun 15 10:00:00 web app[1]: split ", // one message in two writes
		"across writes\n",
		"not syslog at all\x00",
		"<13>Jun 15 10:00:00 web app: " + strings.Repeat("x", 100) + "\n",
	}
	for _, p := range parts {
		if _, err := io.WriteString(c, p); err != nil {
			t.Fatal(err)
		}
	}
	recs := s.waitFor(t, 5)
	var bodies []string
	for _, r := range recs {
		bodies = append(bodies, r.Body)
	}
	want := []string{"newline", "counted", "split across writes", "not syslog at all", strings.Repeat("x", 64-len("<13>Jun 15 10:00:00 web app: "))}
	if fmt.Sprint(bodies) != fmt.Sprint(want) {
		t.Errorf("bodies %q, want %q", bodies, want)
	}
	if recs[1].Service != "nginx" || recs[0].Stream != `{host="web", level="info", service_name="app"}` || recs[3].Level() != logs.LevelUnknown {
		t.Errorf("records %+v", recs)
	}
	if recs[4].Attributes["syslog.truncated_bytes"] != "65" {
		t.Errorf("truncated record attributes %v", recs[4].Attributes)
	}
	c.Close()
	stop() // the counters are final once Run has returned
	st := srv.Stats()
	if st.Messages != 5 || st.Truncated != 1 || st.NotSyslog != 1 {
		t.Errorf("stats %+v", st)
	}
	if got := testutil.ToFloat64(m.Samples.WithLabelValues(protocol)); got != 5 {
		t.Errorf("samples counted %v", got)
	}
}

func TestUDP(t *testing.T) {
	s := newSink()
	srv, _ := start(t, Options{Sink: s, UDPAddr: "127.0.0.1:0", Now: fixedNow})
	if srv.TCPAddr() != nil {
		t.Errorf("TCP bound though disabled")
	}
	c, err := net.Dial("udp", srv.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, d := range []string{
		"<13>Jun 15 10:00:00 h app: one\n",
		"<13>Jun 15 10:00:00 h app: two\n<13>Jun 15 10:00:00 h app: three",
		"<11>1 - h java - - - Exception\n\tat Main.run(Main.java:3)\n",
	} {
		if _, err := c.Write([]byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	recs := s.waitFor(t, 4)
	got := map[string]bool{}
	for _, r := range recs {
		got[r.Body] = true
	}
	for _, b := range []string{"one", "two", "three", "Exception\n\tat Main.run(Main.java:3)"} {
		if !got[b] {
			t.Errorf("no record %q in %v", b, got)
		}
	}
}

// Messages arriving together go to the sink together, at most 500 at a
// time: net.Pipe hands the whole write to one read, so the batches are
// exact.
func TestBatching(t *testing.T) {
	s := newSink()
	srv, err := New(Options{Sink: s, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	server, client := net.Pipe()
	done := make(chan struct{})
	go func() { defer close(done); srv.serveConn(context.Background(), server) }()
	var buf bytes.Buffer
	for i := range 1200 {
		fmt.Fprintf(&buf, "<13>Jun 15 10:00:00 h a: %d\n", i)
	}
	if _, err := client.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, 1200)
	client.Close()
	<-done
	var sizes []int
	for _, b := range s.batches {
		sizes = append(sizes, len(b))
	}
	if fmt.Sprint(sizes) != "[500 500 200]" {
		t.Errorf("TCP batches %v", sizes)
	}

	// UDP: what is waiting is one batch, up to 500.
	s2 := newSink()
	srv2, _ := New(Options{Sink: s2, Now: fixedNow, MaxMessageBytes: 8})
	ch := make(chan []byte, 1200)
	for range 1200 {
		ch <- []byte("<13>Jun 15 10:00:00 h a: x")
	}
	close(ch)
	srv2.batchUDP(context.Background(), ch)
	sizes = nil
	for _, b := range s2.batches {
		sizes = append(sizes, len(b))
	}
	if fmt.Sprint(sizes) != "[500 500 200]" {
		t.Errorf("UDP batches %v", sizes)
	}
	if srv2.Stats().Truncated != 1200 || s2.batches[0][0].Attributes["syslog.truncated_bytes"] != "18" {
		t.Errorf("UDP truncation: %+v %v", srv2.Stats(), s2.batches[0][0].Attributes)
	}
}

// Run stops on cancel: idle connections are closed, every goroutine ends
// (goleak checks), and a message still in the connection's buffer when
// the connection closes is stored.
func TestShutdown(t *testing.T) {
	s := newSink()
	srv, err := New(Options{Sink: s, TCPAddr: "127.0.0.1:0", UDPAddr: "127.0.0.1:0", MaxConnections: 1, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- srv.Run(ctx) }()

	idle, err := net.Dial("tcp", srv.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	io.WriteString(idle, "<13>Jun 15 10:00:00 h a: first\n")
	s.waitFor(t, 1)

	// Over MaxConnections: closed by the server.
	extra, err := net.Dial("tcp", srv.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	if n, err := extra.Read(make([]byte, 1)); err == nil {
		t.Errorf("connection over the limit read %d bytes", n)
	}
	if st := srv.Stats(); st.ConnsRefused != 1 {
		t.Errorf("stats %+v", st)
	}

	// An unterminated last message: stored when the sender closes.
	io.WriteString(idle, "<13>Jun 15 10:00:00 h a: last words")
	idle.(*net.TCPConn).CloseWrite()
	recs := s.waitFor(t, 2)
	if recs[1].Body != "last words" {
		t.Errorf("last record %q", recs[1].Body)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", srv.TCPAddr().String()); err == nil {
		t.Error("TCP listener still open after Run returned")
	}
}

// A sink that refuses is logged and counted; the server goes on.
func TestSinkRefusal(t *testing.T) {
	s := newSink()
	s.err = &logline.LimitError{Refused: 1, Msg: "rate limit"}
	m := ingest.NewMetrics(prometheus.NewRegistry())
	srv, _ := New(Options{Sink: s, Metrics: m, Now: fixedNow})
	ch := make(chan []byte, 2)
	ch <- []byte("<13>a")
	ch <- []byte("<13>b")
	close(ch)
	srv.batchUDP(context.Background(), ch)
	s.err = errors.New("disk gone")
	ch = make(chan []byte, 1)
	ch <- []byte("<13>c")
	close(ch)
	srv.batchUDP(context.Background(), ch)
	if st := srv.Stats(); st.Refused != 2 || st.Messages != 3 {
		t.Errorf("stats %+v", st)
	}
	if got := testutil.ToFloat64(m.Rejected.WithLabelValues(protocol, "limit")); got != 1 {
		t.Errorf("limit refusals counted %v", got)
	}
	if got := testutil.ToFloat64(m.Rejected.WithLabelValues(protocol, "store_error")); got != 1 {
		t.Errorf("store errors counted %v", got)
	}
	if got := testutil.ToFloat64(m.Samples.WithLabelValues(protocol)); got != 1 {
		t.Errorf("samples counted %v", got)
	}
}

func TestBindError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = New(Options{Sink: newSink(), UDPAddr: "127.0.0.1:0", TCPAddr: ln.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), "cannot listen for syslog on TCP") {
		t.Errorf("bind error %v", err)
	}
	if _, err := New(Options{}); err == nil {
		t.Error("no error without a sink")
	}
}
