package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

const (
	// DefaultRetention is how long events are kept when Options set none.
	DefaultRetention = 30 * 24 * time.Hour
	// MaxDetailBytes bounds Event.Detail; longer text is cut.
	MaxDetailBytes = 4 << 10

	flushInterval     = time.Second
	retentionInterval = time.Hour
	// maxPendingBytes bounds the events held in memory while the disk is
	// stuck or nothing flushes; beyond it Record drops events.
	maxPendingBytes = 8 << 20
	// kickBytes of pending events wake Run to flush before its tick.
	kickBytes = 64 << 10
)

// Options configure a Store.
type Options struct {
	// Dir holds the day files; it is created if missing. One Store
	// at a time may use it.
	Dir string
	// Retention is how long events are kept (default DefaultRetention);
	// whole days are removed, so up to a day more is kept.
	Retention time.Duration
	// MaxBytes bounds the day files together; the oldest days are
	// removed first, and the newest is always kept. 0 is unlimited.
	MaxBytes   int64
	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Store is the alert history. Record only queues events in memory; Run
// writes them out every second (Flush and Query do too, and Close). It is
// safe for concurrent use.
//
// Lock order: ioMu before mu.
type Store struct {
	o Options

	mu           sync.Mutex
	pending      []pendingEvent // guarded by mu
	pendingBytes int            // guarded by mu
	closed       bool           // guarded by mu
	overflowing  bool           // guarded by mu: logged once per episode
	kick         chan struct{}
	maxPending   int // maxPendingBytes; tests lower it

	ioMu    sync.Mutex
	f       *os.File      // the open day file; guarded by ioMu
	fDay    day           // guarded by ioMu
	dirty   bool          // f written since its last fsync; guarded by ioMu
	sizes   map[day]int64 // day file sizes; guarded by ioMu
	failing bool          // the last write failed; guarded by ioMu

	events *prometheus.CounterVec
	errs   prometheus.Counter
}

type pendingEvent struct {
	day  day
	line []byte // JSON and '\n'
}

// Open opens (creating if needed) the history in o.Dir and removes the
// days already past retention.
func Open(o Options) (*Store, error) {
	if o.Dir == "" {
		return nil, errors.New("cannot open alert history: no directory given")
	}
	if o.Retention < 0 || o.MaxBytes < 0 {
		return nil, fmt.Errorf("cannot open alert history: retention (%s) and max bytes (%d) must not be negative", o.Retention, o.MaxBytes)
	}
	if o.Retention == 0 {
		o.Retention = DefaultRetention
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create alert history directory: %w", err)
	}
	s := &Store{
		o:          o,
		kick:       make(chan struct{}, 1),
		maxPending: maxPendingBytes,
		sizes:      map[day]int64{},
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_alert_history_events_total",
			Help: "Alert state changes and notifications recorded in the alert history, by state.",
		}, []string{"state"}),
		errs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_alert_history_write_errors_total",
			Help: "Alert history events that could not be written (disk errors, or dropped while the disk was stuck).",
		}),
	}
	s.ioMu.Lock()
	err := s.retainLocked()
	s.ioMu.Unlock()
	if err != nil {
		return nil, err
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(s.events, s.errs)
	}
	return s, nil
}

// Record queues events for writing. It never does I/O and never fails
// the caller: events that cannot be kept (the Store is closed, or too
// many wait for a stuck disk) are counted in
// vigil_alert_history_write_errors_total. A zero or implausible Time
// (before 1970 or after 9999) is replaced by now; an event already past
// Retention when written out is not kept. Record copies what it keeps;
// the caller may reuse the events.
func (s *Store) Record(events ...Event) {
	if len(events) == 0 {
		return
	}
	now := s.o.Now()
	lines := make([]pendingEvent, 0, len(events))
	for _, e := range events {
		e = normalize(e, now)
		line, err := json.Marshal(e)
		if err == nil && len(line) > maxLineBytes {
			err = fmt.Errorf("it encodes to %d bytes, over the limit of %d", len(line), maxLineBytes)
		}
		if err != nil {
			s.errs.Inc()
			s.o.Logger.Error("cannot record alert history event", "alertname", e.AlertName, "state", e.State, "err", err)
			continue
		}
		lines = append(lines, pendingEvent{day: dayOf(e.Time), line: append(line, '\n')})
		s.events.WithLabelValues(stateLabel(e.State)).Inc()
	}

	s.mu.Lock()
	var dropped int
	for _, p := range lines {
		if s.closed || s.pendingBytes+len(p.line) > s.maxPending {
			dropped++
			continue
		}
		s.pending = append(s.pending, p)
		s.pendingBytes += len(p.line)
	}
	closed, logOverflow := s.closed, dropped > 0 && !s.closed && !s.overflowing
	if logOverflow {
		s.overflowing = true
	}
	wake := s.pendingBytes >= kickBytes
	s.mu.Unlock()

	if dropped > 0 {
		s.errs.Add(float64(dropped))
	}
	if logOverflow {
		s.o.Logger.Error("alert history is dropping events: too many wait to be written", "pending_bytes", s.maxPending)
	}
	if closed && dropped > 0 {
		s.o.Logger.Debug("alert history is closed; events dropped", "count", dropped)
	}
	if wake {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// normalize makes e what the store keeps: a plausible UTC time, labels
// that include alertname, a bounded detail, no non-JSON value.
func normalize(e Event, now time.Time) Event {
	if y := e.Time.Year(); e.Time.IsZero() || y < 1970 || y > 9999 {
		e.Time = now
	}
	e.Time = e.Time.UTC()
	if e.AlertName == "" {
		e.AlertName = e.Labels["alertname"]
	}
	ls := make(map[string]string, len(e.Labels)+1)
	maps.Copy(ls, e.Labels)
	if e.AlertName != "" {
		ls["alertname"] = e.AlertName
	}
	e.Labels = ls
	if e.Value != nil {
		if v := *e.Value; math.IsNaN(v) || math.IsInf(v, 0) {
			e.Value = nil
		} else {
			e.Value = &v
		}
	}
	if len(e.Detail) > MaxDetailBytes {
		i := MaxDetailBytes
		for i > 0 && !utf8.RuneStart(e.Detail[i]) {
			i--
		}
		e.Detail = e.Detail[:i]
	}
	return e
}

// stateLabel bounds the metric's label values to the known states.
func stateLabel(state string) string {
	if slices.Contains(States, state) {
		return state
	}
	return "other"
}

// Flush writes the queued events to the day files (without fsync). Write
// errors are logged and counted as well as returned; the events that
// failed are lost.
func (s *Store) Flush() error {
	s.ioMu.Lock()
	defer s.ioMu.Unlock()
	return s.flushLocked(false)
}

// Close writes the queued events, fsyncs and closes the open day file.
// Events recorded after Close are dropped. Close is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.ioMu.Lock()
	defer s.ioMu.Unlock()
	err := s.flushLocked(true)
	return errors.Join(err, s.closeFileLocked())
}

// Run writes queued events out every second (and fsyncs them), and
// applies Retention and MaxBytes every hour, until ctx ends. Errors are
// logged and counted; it does not Close the Store.
func (s *Store) Run(ctx context.Context) {
	flush := time.NewTicker(flushInterval)
	defer flush.Stop()
	retain := time.NewTicker(retentionInterval)
	defer retain.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-flush.C:
		case <-s.kick:
		case <-retain.C:
			s.ioMu.Lock()
			if err := s.retainLocked(); err != nil {
				s.o.Logger.Error("cannot apply alert history retention", "err", err)
			}
			s.ioMu.Unlock()
			continue
		}
		s.ioMu.Lock()
		_ = s.flushLocked(true) // logged and counted inside
		s.ioMu.Unlock()
	}
}

// flushLocked writes the pending events, grouped by day file, fsyncing
// the open file afterwards when sync is set. ioMu must be held.
func (s *Store) flushLocked(sync bool) error {
	s.mu.Lock()
	batch := s.pending
	s.pending, s.pendingBytes, s.overflowing = nil, 0, false
	s.mu.Unlock()

	var err error
	cutoff := dayOf(s.o.Now().Add(-s.o.Retention))
	lost := 0
	var buf []byte
	for i := 0; i < len(batch); {
		d := batch[i].day
		j := i
		for buf = buf[:0]; j < len(batch) && batch[j].day == d; j++ {
			buf = append(buf, batch[j].line...)
		}
		n := j - i
		i = j
		if d < cutoff {
			continue // would be removed at once; do not resurrect the file
		}
		if err != nil {
			lost += n
			continue
		}
		if err = s.appendLocked(d, buf); err != nil {
			lost += n
		}
	}
	if err == nil && sync && s.f != nil && s.dirty {
		if err = s.f.Sync(); err != nil {
			err = fmt.Errorf("cannot fsync alert history file %s: %w", s.fDay.fileName(), err)
			_ = s.closeFileLocked()
		}
		s.dirty = false
	}
	if err == nil && s.o.MaxBytes > 0 && len(s.sizes) > 1 && s.totalLocked() > s.o.MaxBytes {
		err = s.retainLocked()
	}
	s.noteLocked(err, lost)
	return err
}

// noteLocked logs a change between failing and working writes (not
// every failure: a full disk fails every second) and counts lost events.
// ioMu must be held.
func (s *Store) noteLocked(err error, lost int) {
	if lost > 0 {
		s.errs.Add(float64(lost))
	}
	switch {
	case err != nil && !s.failing:
		s.failing = true
		s.o.Logger.Error("cannot write alert history; events are lost until writes succeed", "lost", lost, "err", err)
	case err == nil && s.failing:
		s.failing = false
		s.o.Logger.Info("alert history writes succeed again")
	}
}

// appendLocked appends whole lines to day d's file. ioMu must be held.
func (s *Store) appendLocked(d day, b []byte) error {
	if s.f == nil || s.fDay != d {
		if err := s.openLocked(d); err != nil {
			return err
		}
	}
	n, err := s.f.Write(b)
	s.sizes[d] += int64(n)
	s.dirty = true
	if err != nil {
		// A part of a line may have landed; reopening starts the next
		// append on a new line.
		_ = s.closeFileLocked()
		return fmt.Errorf("cannot append to alert history file %s: %w", d.fileName(), err)
	}
	return nil
}

// openLocked makes day d's file the open one, creating it if needed. A
// file whose last line was cut short gets a '\n', so the next line stands
// alone. ioMu must be held.
func (s *Store) openLocked(d day) error {
	if err := s.closeFileLocked(); err != nil {
		s.o.Logger.Warn("cannot close alert history file", "err", err)
	}
	path := filepath.Join(s.o.Dir, d.fileName())
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("cannot open alert history file: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("cannot stat alert history file: %w", err)
	}
	size := info.Size()
	if size == 0 {
		// A new file: fsync the directory so the file survives a crash.
		if err := syncDir(s.o.Dir); err != nil {
			s.o.Logger.Warn("cannot fsync alert history directory", "err", err)
		}
	}
	if size > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, size-1); err != nil {
			_ = f.Close()
			return fmt.Errorf("cannot read the end of alert history file %s: %w", path, err)
		}
		if last[0] != '\n' {
			n, err := f.Write([]byte{'\n'})
			size += int64(n)
			if err != nil {
				_ = f.Close()
				return fmt.Errorf("cannot append to alert history file %s: %w", path, err)
			}
		}
	}
	s.f, s.fDay, s.sizes[d] = f, d, size
	return nil
}

// closeFileLocked fsyncs (when written) and closes the open day file.
// ioMu must be held.
func (s *Store) closeFileLocked() error {
	if s.f == nil {
		return nil
	}
	var err error
	if s.dirty {
		err = s.f.Sync()
	}
	err = errors.Join(err, s.f.Close())
	s.f, s.dirty = nil, false
	if err != nil {
		return fmt.Errorf("cannot close alert history file %s: %w", s.fDay.fileName(), err)
	}
	return nil
}

func (s *Store) totalLocked() int64 {
	var t int64
	for _, n := range s.sizes {
		t += n
	}
	return t
}

// retainLocked removes the day files past Retention, then the oldest
// while they exceed MaxBytes (keeping the newest, however large). It
// rereads the directory, so files removed or added by hand are accounted.
// ioMu must be held.
func (s *Store) retainLocked() error {
	files, err := listDays(s.o.Dir)
	if err != nil {
		return err
	}
	clear(s.sizes)
	var total int64
	for _, f := range files {
		s.sizes[f.day] = f.size
		total += f.size
	}
	cutoff := dayOf(s.o.Now().Add(-s.o.Retention))
	var errs []error
	for i, f := range files {
		old := f.day < cutoff
		over := s.o.MaxBytes > 0 && total > s.o.MaxBytes && i < len(files)-1
		if !old && !over {
			break // files are oldest first: the rest are kept too
		}
		if err := s.removeLocked(f.day); err != nil {
			errs = append(errs, err)
			continue
		}
		total -= f.size
		s.o.Logger.Info("removed alert history file", "file", f.day.fileName(), "past_retention", old, "bytes", f.size)
	}
	return errors.Join(errs...)
}

// removeLocked removes day d's file, closing it first if it is open.
// ioMu must be held.
func (s *Store) removeLocked(d day) error {
	if s.f != nil && s.fDay == d {
		if err := s.closeFileLocked(); err != nil {
			s.o.Logger.Warn("cannot close alert history file", "err", err)
		}
	}
	err := os.Remove(filepath.Join(s.o.Dir, d.fileName()))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cannot remove old alert history file: %w", err)
	}
	delete(s.sizes, d)
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
