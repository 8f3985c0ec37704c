// Package syslog receives syslog messages over UDP and TCP, as rsyslog,
// syslog-ng, journald's forwarders, network devices and `logger` send
// them: RFC 5424 and RFC 3164 (with or without PRI, and rsyslog's
// variant with an RFC 3339 timestamp), framed on TCP by octet counting or
// by newlines (RFC 6587), one or more per datagram on UDP.
//
// Each message becomes one log record (see Message.Record). Records are
// handed to the sink in batches, so a stream of small messages does not
// cost one WAL sync each: on TCP a batch is flushed when 500 messages
// are pending or the connection has nothing more buffered; on UDP when
// 500 are pending or no more datagrams are waiting.
package syslog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilhq/vigil/ingest"
	"github.com/vigilhq/vigil/ingest/logline"
	"github.com/vigilhq/vigil/storage/logs"
)

// Options configure a Server.
type Options struct {
	// Sink receives the records; it must be safe for concurrent use
	// (every TCP connection appends on its own).
	Sink logline.Sink
	// UDPAddr and TCPAddr are the addresses to listen on; "" disables.
	UDPAddr, TCPAddr string
	// MaxMessageBytes cuts longer messages (the cut is recorded in the
	// syslog.truncated_bytes attribute); 0 means 64 KiB.
	MaxMessageBytes int
	// MaxConnections bounds concurrent TCP connections; more are closed
	// at once. 0 means 256.
	MaxConnections int
	Metrics        *ingest.Metrics // protocol "syslog"; messages count as samples
	Logger         *slog.Logger
	// Now is the clock for the observed time and the year of RFC 3164
	// timestamps (read in its location); nil means time.Now.
	Now func() time.Time
}

// Server is a syslog receiver. New binds its listeners; Run serves them.
type Server struct {
	o   Options
	udp net.PacketConn
	tcp net.Listener

	mu      sync.Mutex
	conns   map[net.Conn]struct{} // open TCP connections; mu must be held
	closing bool                  // Run is shutting down; mu must be held

	wg    sync.WaitGroup
	stats struct{ messages, truncated, notSyslog, refused, connsRefused atomic.Int64 }
}

const protocol = "syslog"

// batchSize is how many messages are pending at most before they go to
// the sink.
const batchSize = 500

// New binds the listeners o names, so that an address in use is an error
// at start. Run must be called to serve them and release them.
func New(o Options) (*Server, error) {
	if o.Sink == nil {
		return nil, errors.New("cannot start syslog receiver: no sink")
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 64 << 10
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = 256
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{o: o, conns: map[net.Conn]struct{}{}}
	if o.UDPAddr != "" {
		pc, err := net.ListenPacket("udp", o.UDPAddr)
		if err != nil {
			return nil, fmt.Errorf("cannot listen for syslog on UDP %s: %w", o.UDPAddr, err)
		}
		s.udp = pc
	}
	if o.TCPAddr != "" {
		ln, err := net.Listen("tcp", o.TCPAddr)
		if err != nil {
			if s.udp != nil {
				s.udp.Close()
			}
			return nil, fmt.Errorf("cannot listen for syslog on TCP %s: %w", o.TCPAddr, err)
		}
		s.tcp = ln
	}
	return s, nil
}

// UDPAddr is the bound UDP address, or nil.
func (s *Server) UDPAddr() net.Addr {
	if s.udp == nil {
		return nil
	}
	return s.udp.LocalAddr()
}

// TCPAddr is the bound TCP address, or nil.
func (s *Server) TCPAddr() net.Addr {
	if s.tcp == nil {
		return nil
	}
	return s.tcp.Addr()
}

// Stats counts what the server has seen since New.
type Stats struct {
	Messages     int64 // messages decoded (including those not syslog)
	Truncated    int64 // messages cut to MaxMessageBytes
	NotSyslog    int64 // lines kept whole because they are not syslog
	Refused      int64 // records the sink refused
	ConnsRefused int64 // TCP connections closed for MaxConnections
}

// Stats returns the counts so far. It is safe to call at any time.
func (s *Server) Stats() Stats {
	return Stats{
		Messages:     s.stats.messages.Load(),
		Truncated:    s.stats.truncated.Load(),
		NotSyslog:    s.stats.notSyslog.Load(),
		Refused:      s.stats.refused.Load(),
		ConnsRefused: s.stats.connsRefused.Load(),
	}
}

// Run serves until ctx is done, then closes the listeners and the open
// connections, hands what it has decoded to the sink, and returns once
// every goroutine it started has ended. It must be called once.
func (s *Server) Run(ctx context.Context) error {
	// Records decoded before shutdown are still stored: appends use a
	// context that shutdown does not cancel.
	sinkCtx := context.WithoutCancel(ctx)
	if s.udp != nil {
		ch := make(chan []byte, 2*batchSize)
		s.wg.Go(func() { s.readUDP(ch) })
		s.wg.Go(func() { s.batchUDP(sinkCtx, ch) })
	}
	if s.tcp != nil {
		s.wg.Go(func() { s.acceptTCP(ctx, sinkCtx) })
	}
	<-ctx.Done()
	s.mu.Lock()
	s.closing = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	if s.udp != nil {
		s.udp.Close()
	}
	if s.tcp != nil {
		s.tcp.Close()
	}
	s.wg.Wait()
	return nil
}

// readUDP reads datagrams until the socket is closed, then closes ch.
func (s *Server) readUDP(ch chan<- []byte) {
	defer close(ch)
	buf := make([]byte, 64<<10)
	for {
		n, _, err := s.udp.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.o.Logger.Warn("cannot read syslog datagram", "err", err)
			continue
		}
		ch <- bytes.Clone(buf[:n])
	}
}

// batchUDP decodes datagrams, flushing when a batch is full or no more
// datagrams are waiting.
func (s *Server) batchUDP(ctx context.Context, ch <-chan []byte) {
	var pending []logs.Record
	for d := range ch {
		pending = s.appendDatagram(ctx, pending, d)
	drain:
		for len(pending) < batchSize {
			select {
			case d, ok := <-ch:
				if !ok {
					break drain
				}
				pending = s.appendDatagram(ctx, pending, d)
			default:
				break drain
			}
		}
		s.flush(ctx, pending)
		pending = nil
	}
}

// appendDatagram decodes the messages of one datagram: usually one, but
// a sender may pack several, one per line. A line break is taken as a
// message boundary only before "<", so a multi-line message (a stack
// trace) stays whole.
func (s *Server) appendDatagram(ctx context.Context, pending []logs.Record, d []byte) []logs.Record {
	for len(d) > 0 {
		msg := d
		if i := bytes.Index(d, []byte("\n<")); i >= 0 {
			msg, d = d[:i], d[i+1:]
		} else {
			d = nil
		}
		msg = bytes.TrimRight(msg, "\r\n\x00")
		if len(msg) == 0 {
			continue
		}
		dropped := 0
		if len(msg) > s.o.MaxMessageBytes {
			dropped = len(msg) - s.o.MaxMessageBytes
			var cut int
			msg, cut = cutRune(msg[:s.o.MaxMessageBytes])
			dropped += cut
		}
		pending = append(pending, s.record(msg, dropped))
		if len(pending) >= batchSize {
			s.flush(ctx, pending)
			pending = nil
		}
	}
	return pending
}

func (s *Server) acceptTCP(ctx, sinkCtx context.Context) {
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.o.Logger.Warn("cannot accept syslog connection", "err", err)
			// Out of file descriptors and the like: give them a moment.
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		s.mu.Lock()
		switch {
		case s.closing:
			c.Close()
		case len(s.conns) >= s.o.MaxConnections:
			s.stats.connsRefused.Add(1)
			c.Close()
			s.o.Logger.Warn("syslog connection refused: too many open", "remote", c.RemoteAddr().String(), "max_connections", s.o.MaxConnections)
		default:
			s.conns[c] = struct{}{}
			s.wg.Go(func() { s.serveConn(sinkCtx, c) })
		}
		s.mu.Unlock()
	}
}

// serveConn reads messages until the connection ends, flushing when a
// batch is full or nothing more is buffered.
func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	r := bufio.NewReaderSize(c, 64<<10)
	f := newFramer(r, s.o.MaxMessageBytes)
	var pending []logs.Record
	for {
		msg, dropped, err := f.next()
		if err != nil {
			break
		}
		if len(msg) > 0 || dropped > 0 {
			pending = append(pending, s.record(msg, dropped))
		}
		if len(pending) >= batchSize || (len(pending) > 0 && r.Buffered() == 0) {
			s.flush(ctx, pending)
			pending = nil
		}
	}
	s.flush(ctx, pending)
}

// record decodes one message.
func (s *Server) record(msg []byte, dropped int) logs.Record {
	now := s.o.Now()
	m := Parse(msg, now)
	m.Truncated = dropped
	s.stats.messages.Add(1)
	if dropped > 0 {
		s.stats.truncated.Add(1)
	}
	if m.Format == NotSyslog {
		s.stats.notSyslog.Add(1)
	}
	return m.Record(now)
}

// flush hands recs to the sink. There is no one to answer: refusals are
// logged and counted.
func (s *Server) flush(ctx context.Context, recs []logs.Record) {
	if len(recs) == 0 {
		return
	}
	batch := ingest.NewBatch(protocol)
	batch.Accepted = len(recs)
	if err := s.o.Sink.Append(ctx, recs); err != nil {
		var le *logline.LimitError
		refused, reason := len(recs), "store_error"
		if errors.As(err, &le) {
			refused, reason = min(le.Refused, len(recs)), "limit"
		}
		batch.Accepted -= refused
		batch.RejectReason(reason, err.Error(), refused)
		s.stats.refused.Add(int64(refused))
		s.o.Logger.Warn("cannot store syslog messages", "err", err, "refused", refused, "of", len(recs))
	}
	batch.Record(s.o.Metrics)
}
