package action

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// AuditRecord is one run of a step, or one decision not to run it. A run
// has two records with the same ID: one with outcome running, written as
// it starts, and its final one, which replaces it. Records are shared:
// callers must not modify them.
type AuditRecord struct {
	ID     string `json:"id"`
	Action string `json:"action"`
	// Phase is empty on the record of alert updates dropped before any
	// action was chosen (the observe queue was full).
	Phase       Phase             `json:"phase,omitempty"`
	Fingerprint string            `json:"fingerprint,omitempty"`
	AlertName   string            `json:"alertname,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	StartedAt   time.Time         `json:"started_at"`
	// DurationSeconds is the wall time of the run, retries and backoff
	// included.
	DurationSeconds float64 `json:"duration_seconds"`
	Attempts        int     `json:"attempts"`
	Outcome         Outcome `json:"outcome"`
	DryRun          bool    `json:"dry_run,omitempty"`
	// ExitCode is set when a command exited (not when it was killed).
	ExitCode   *int `json:"exit_code,omitempty"`
	HTTPStatus int  `json:"http_status,omitempty"`
	// Output is the command's stdout and stderr, or the response body, of
	// the last attempt, cut to 4 KiB with a marker where bytes were left
	// out.
	Output          string  `json:"output,omitempty"`
	OutputTruncated bool    `json:"output_truncated,omitempty"`
	Error           string  `json:"error,omitempty"`
	Target          *Target `json:"target,omitempty"`
}

// AuditQuery selects audit records; zero fields select everything.
type AuditQuery struct {
	Action    string
	AlertName string
	Outcome   Outcome
	Phase     Phase
	// Since and Until bound StartedAt (inclusive).
	Since, Until time.Time
	// Limit is the most records returned; default 100.
	Limit int
}

const (
	defaultAuditLimit  = 100
	defaultAuditMemory = 10000
	auditPrefix        = "audit-"
	auditSuffix        = ".jsonl"
	dayLayout          = "2006-01-02"
)

// auditLog keeps recent records in a ring and appends every record to a
// JSON-lines file per UTC day. It is not safe for concurrent use (the
// Dispatcher's mutex guards it).
//
// Durability: each record is one write of one line, not synced. A crash
// can lose the last records or tear the last line; a torn line is skipped
// when read, and the next append starts on a fresh line, so older lines
// are never damaged.
type auditLog struct {
	dir       string
	retention time.Duration
	logger    *slog.Logger

	ring  []AuditRecord // oldest first once full, from start
	start int
	index map[string]int // ID -> ring position, to replace running records

	f   *os.File
	day string
}

func newAuditLog(dir string, memory int, retention time.Duration, logger *slog.Logger) *auditLog {
	return &auditLog{dir: dir, retention: retention, logger: logger, ring: make([]AuditRecord, 0, memory), index: map[string]int{}}
}

// put adds rec to the ring, replacing the record with its ID if the ring
// still holds it.
func (l *auditLog) put(rec AuditRecord) {
	if i, ok := l.index[rec.ID]; ok && l.ring[i].ID == rec.ID {
		l.ring[i] = rec
		return
	}
	if len(l.ring) < cap(l.ring) {
		l.index[rec.ID] = len(l.ring)
		l.ring = append(l.ring, rec)
		return
	}
	delete(l.index, l.ring[l.start].ID)
	l.ring[l.start] = rec
	l.index[rec.ID] = l.start
	l.start = (l.start + 1) % len(l.ring)
}

// append records rec in memory and, with a directory, in the file of
// now's day. A write error is returned, but the record stays in memory.
func (l *auditLog) append(rec AuditRecord, now time.Time) error {
	l.put(rec)
	if l.dir == "" {
		return nil
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("cannot encode audit record: %w", err)
	}
	line = append(line, '\n')
	day := now.UTC().Format(dayLayout)
	if l.f == nil || l.day != day {
		if err := l.open(day); err != nil {
			return err
		}
	}
	if _, err := l.f.Write(line); err != nil {
		// Reopen next time: the file may have been removed or the disk
		// may have room again.
		l.closeFile()
		return fmt.Errorf("cannot append audit record to %s: %w", l.fileOf(day), err)
	}
	return nil
}

func (l *auditLog) fileOf(day string) string {
	return filepath.Join(l.dir, auditPrefix+day+auditSuffix)
}

// open opens day's file for appending. If the last line was torn by a
// crash, a newline ends it first, so the next record is a line of its
// own.
func (l *auditLog) open(day string) error {
	l.closeFile()
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		return fmt.Errorf("cannot create audit directory: %w", err)
	}
	name := l.fileOf(day)
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("cannot open audit file: %w", err)
	}
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, fi.Size()-1); err == nil && last[0] != '\n' {
			if _, err := f.Write([]byte{'\n'}); err != nil {
				f.Close()
				return fmt.Errorf("cannot repair audit file %s: %w", name, err)
			}
		}
	}
	l.f, l.day = f, day
	return nil
}

func (l *auditLog) closeFile() {
	if l.f != nil {
		if err := l.f.Close(); err != nil {
			l.logger.Warn("cannot close audit file", "err", err)
		}
		l.f = nil
	}
}

// dayFiles lists the audit files, oldest first, with their days.
func (l *auditLog) dayFiles() ([]string, []time.Time, error) {
	ents, err := os.ReadDir(l.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("cannot list audit directory: %w", err)
	}
	var names []string
	var days []time.Time
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || !strings.HasPrefix(n, auditPrefix) || !strings.HasSuffix(n, auditSuffix) {
			continue
		}
		day, err := time.Parse(dayLayout, strings.TrimSuffix(strings.TrimPrefix(n, auditPrefix), auditSuffix))
		if err != nil {
			continue
		}
		names = append(names, filepath.Join(l.dir, n))
		days = append(days, day)
	}
	// ReadDir sorts by name, and the names sort by day.
	return names, days, nil
}

// prune removes day files older than the retention.
func (l *auditLog) prune(now time.Time) {
	if l.dir == "" || l.retention <= 0 {
		return
	}
	names, days, err := l.dayFiles()
	if err != nil {
		l.logger.Warn("cannot prune audit files", "err", err)
		return
	}
	cutoff := now.Add(-l.retention)
	for i, name := range names {
		// A day file may hold records until the end of its day.
		if !days[i].Add(24 * time.Hour).After(cutoff) {
			if name == l.fileOf(l.day) {
				l.closeFile()
			}
			if err := os.Remove(name); err != nil {
				l.logger.Warn("cannot remove old audit file", "file", name, "err", err)
			}
		}
	}
}

// load reads the day files in order, filling the ring and calling fn on
// each record. Lines that do not decode (a line torn by a crash) are
// skipped and counted in the log.
func (l *auditLog) load(fn func(AuditRecord)) error {
	if l.dir == "" {
		return nil
	}
	names, _, err := l.dayFiles()
	if err != nil {
		return err
	}
	skipped := 0
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("cannot read audit file: %w", err)
		}
		br := bufio.NewReader(f)
		for {
			line, err := br.ReadBytes('\n')
			if len(strings.TrimSpace(string(line))) > 0 {
				var rec AuditRecord
				if jerr := json.Unmarshal(line, &rec); jerr != nil || rec.ID == "" {
					skipped++
				} else {
					l.put(rec)
					fn(rec)
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Close()
				return fmt.Errorf("cannot read audit file %s: %w", name, err)
			}
		}
		f.Close()
	}
	if skipped > 0 {
		l.logger.Warn("skipped unreadable audit lines (torn by a crash?)", "lines", skipped)
	}
	return nil
}

// query returns the matching records in the ring, most recently recorded
// first. Records older than the ring are only in the files.
func (l *auditLog) query(q AuditQuery) []AuditRecord {
	limit := q.Limit
	if limit <= 0 {
		limit = defaultAuditLimit
	}
	var out []AuditRecord
	n := len(l.ring)
	for k := n - 1; k >= 0 && len(out) < limit; k-- {
		r := l.ring[(l.start+k)%n]
		if q.Action != "" && r.Action != q.Action ||
			q.AlertName != "" && r.AlertName != q.AlertName ||
			q.Outcome != "" && r.Outcome != q.Outcome ||
			q.Phase != "" && r.Phase != q.Phase ||
			!q.Since.IsZero() && r.StartedAt.Before(q.Since) ||
			!q.Until.IsZero() && r.StartedAt.After(q.Until) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// lastRuns returns each action's most recent record of a step that ran.
func (l *auditLog) lastRuns() map[string]AuditRecord {
	out := map[string]AuditRecord{}
	n := len(l.ring)
	for k := n - 1; k >= 0; k-- {
		r := l.ring[(l.start+k)%n]
		if _, ok := out[r.Action]; !ok && r.Outcome.executed() {
			out[r.Action] = r
		}
	}
	return out
}

func (l *auditLog) close() { l.closeFile() }
