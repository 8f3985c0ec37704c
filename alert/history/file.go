package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

const (
	filePrefix = "events-"
	fileSuffix = ".jsonl"
	secPerDay  = 24 * 60 * 60

	// maxLineBytes bounds one line. Record refuses events that encode
	// longer, so a longer line on disk is damage and is skipped without
	// being held in memory.
	maxLineBytes = 1 << 20
)

// day is a UTC calendar day, counted from 1970-01-01.
type day int64

func dayOf(t time.Time) day {
	s := t.Unix()
	d := s / secPerDay
	if s%secPerDay < 0 {
		d--
	}
	return day(d)
}

func (d day) start() time.Time { return time.Unix(int64(d)*secPerDay, 0).UTC() }

func (d day) fileName() string {
	return filePrefix + d.start().Format(time.DateOnly) + fileSuffix
}

// parseFileName reads the day of a day file's name; other names are not
// day files.
func parseFileName(name string) (day, bool) {
	s, ok := strings.CutPrefix(name, filePrefix)
	if !ok {
		return 0, false
	}
	if s, ok = strings.CutSuffix(s, fileSuffix); !ok {
		return 0, false
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || t.Format(time.DateOnly) != s {
		return 0, false
	}
	return dayOf(t), true
}

// dayFile is a day file found in the directory.
type dayFile struct {
	day  day
	size int64
}

// listDays returns the day files in dir, oldest first.
func listDays(dir string) ([]dayFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot list alert history directory: %w", err)
	}
	var out []dayFile
	for _, e := range entries {
		d, ok := parseFileName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, os.ErrNotExist) {
			continue // removed since ReadDir
		}
		if err != nil {
			return nil, fmt.Errorf("cannot stat alert history file: %w", err)
		}
		out = append(out, dayFile{day: d, size: info.Size()})
	}
	slices.SortFunc(out, func(a, b dayFile) int { return int(a.day - b.day) })
	return out, nil
}

// readLines calls fn with every complete line of r, without its '\n'.
// The line is only valid during the call. A final line without '\n' is
// either torn by a crash or still being appended, so it is skipped, and
// so are lines longer than maxLineBytes. fn returning false stops the
// read.
func readLines(r io.Reader, fn func(line []byte) bool) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var long []byte // the start of a line longer than br's buffer
	skip := false   // the current line is over maxLineBytes
	for {
		chunk, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			line := chunk[:len(chunk)-1]
			if len(long) > 0 {
				long = append(long, line...)
				line = long
			}
			ok := skip || len(line) > maxLineBytes || fn(line)
			if !ok {
				return nil
			}
			long, skip = long[:0], false
		case errors.Is(err, bufio.ErrBufferFull):
			if !skip && len(long)+len(chunk) > maxLineBytes {
				long, skip = nil, true
			}
			if !skip {
				long = append(long, chunk...)
			}
		case errors.Is(err, io.EOF):
			return nil
		default:
			return err
		}
	}
}

// decodeLine reads one stored event; ok is false for a line that is not
// an event (damage), which readers skip.
func decodeLine(line []byte) (Event, bool) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return Event{}, false
	}
	var e Event
	if err := json.Unmarshal(line, &e); err != nil || e.Time.IsZero() || e.State == "" {
		return Event{}, false
	}
	return e, true
}
