package syslog

import (
	"bytes"
	"strconv"
	"time"

	"github.com/vigilhq/vigil/ingest/logline"
	"github.com/vigilhq/vigil/storage/logs"
)

// Format is the syslog format a message was read as.
type Format int

const (
	// NotSyslog is a line that is neither format: no valid PRI and no
	// timestamp where one would be. Its whole text is the message.
	NotSyslog Format = iota
	RFC3164
	RFC5424
)

func (f Format) String() string {
	switch f {
	case RFC3164:
		return "RFC3164"
	case RFC5424:
		return "RFC5424"
	}
	return "not syslog"
}

// Message is one decoded syslog message. Absent and NILVALUE ("-")
// fields are empty.
type Message struct {
	Format Format
	// Priority is facility*8 + severity, or -1 when the message has none
	// (rsyslog's file format, not syslog at all).
	Priority int
	// Time is zero when the message has none (or one that cannot be
	// read).
	Time   time.Time
	Host   string
	App    string // RFC 5424 APP-NAME, RFC 3164 TAG
	ProcID string
	MsgID  string
	Params []Param // structured data, in order
	// Msg is the free-form message: a sub-slice of the input Parse was
	// given, valid as long as it is.
	Msg []byte
	// Truncated is how many bytes of the message the receiver dropped
	// because it was longer than its limit (Parse leaves it 0).
	Truncated int
}

// Param is one structured data parameter of RFC 5424.
type Param struct{ ID, Name, Value string }

// Facility returns the facility number, or -1 without a priority.
func (m *Message) Facility() int {
	if m.Priority < 0 {
		return -1
	}
	return m.Priority >> 3
}

// Severity returns the severity number (0 emergency .. 7 debug), or -1
// without a priority.
func (m *Message) Severity() int {
	if m.Priority < 0 {
		return -1
	}
	return m.Priority & 7
}

var facilities = [...]string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
	"authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"}

// FacilityName is the keyword of a facility number ("user", "local0"),
// or its number as text if it has none.
func FacilityName(f int) string {
	if f >= 0 && f < len(facilities) {
		return facilities[f]
	}
	return strconv.Itoa(f)
}

var bom = []byte("\xef\xbb\xbf")

// Parse reads one syslog message (without its framing): RFC 5424,
// RFC 3164 with or without PRI, or rsyslog's traditional format with an
// RFC 3339 timestamp. RFC 3164 timestamps have no year or zone: the year
// is now's (the previous or next one when that puts the message more
// than half a year from now, as at the turn of the year), the zone now's
// location. Parse never fails: what it cannot read as syslog is returned
// with Format NotSyslog and the whole line as Msg, and a header that
// breaks off keeps the fields read so far.
func Parse(b []byte, now time.Time) Message {
	b = bytes.TrimRight(b, "\r\n\x00")
	m := Message{Priority: -1}
	rest := b
	if len(b) > 0 && b[0] == '<' {
		pri, r, ok := parsePRI(b)
		if !ok {
			return Message{Format: NotSyslog, Priority: -1, Msg: b}
		}
		m.Priority, rest = pri, r
		if len(rest) >= 2 && rest[0] == '1' && rest[1] == ' ' {
			m.Format = RFC5424
			parse5424(&m, rest[2:])
			return m
		}
	}
	if !parse3164(&m, rest, now) {
		return Message{Format: NotSyslog, Priority: -1, Msg: b}
	}
	return m
}

// parsePRI reads "<PRI>" with PRI 0..191.
func parsePRI(b []byte) (int, []byte, bool) {
	pri := 0
	for i := 1; i < len(b) && i <= 4; i++ {
		c := b[i]
		switch {
		case c == '>' && i > 1:
			if pri > 191 {
				return 0, nil, false
			}
			return pri, b[i+1:], true
		case c >= '0' && c <= '9' && i <= 3:
			pri = pri*10 + int(c-'0')
		default:
			return 0, nil, false
		}
	}
	return 0, nil, false
}

// token splits b at the first space.
func token(b []byte) (tok, rest []byte, ok bool) {
	if len(b) == 0 {
		return nil, nil, false
	}
	if i := bytes.IndexByte(b, ' '); i >= 0 {
		return b[:i], b[i+1:], true
	}
	return b, nil, true
}

func nilValue(tok []byte) string {
	if len(tok) == 1 && tok[0] == '-' {
		return ""
	}
	return string(tok)
}

// parse5424 reads what follows "<PRI>1 ": TIMESTAMP HOSTNAME APP-NAME
// PROCID MSGID STRUCTURED-DATA [MSG].
func parse5424(m *Message, b []byte) {
	var tok []byte
	var ok bool
	for field := range 5 {
		if tok, b, ok = token(b); !ok {
			return // the header breaks off: keep what was read
		}
		switch field {
		case 0:
			if t, err := time.Parse(time.RFC3339Nano, string(tok)); err == nil {
				m.Time = t
			}
		case 1:
			m.Host = nilValue(tok)
		case 2:
			m.App = nilValue(tok)
		case 3:
			m.ProcID = nilValue(tok)
		case 4:
			m.MsgID = nilValue(tok)
		}
	}
	switch {
	case len(b) == 0:
		return
	case b[0] == '-':
		b = b[1:]
	case b[0] == '[':
		m.Params, b = parseSD(b)
	}
	if len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	m.Msg = bytes.TrimPrefix(b, bom)
}

// parseSD reads SD-ELEMENTs, [id name="value" ...], with the escapes
// \" \\ \]. A malformed element ends structured data: it and what
// follows are returned as the message, so no text is lost.
func parseSD(b []byte) ([]Param, []byte) {
	var params []Param
	for len(b) > 0 && b[0] == '[' {
		el, n, ok := parseElement(b)
		if !ok {
			return params, b
		}
		params = append(params, el...)
		b = b[n:]
	}
	return params, b
}

// parseElement reads one [id params...] at the start of b and returns
// its length.
func parseElement(b []byte) ([]Param, int, bool) {
	i := 1
	for i < len(b) && b[i] != ' ' && b[i] != ']' && b[i] != '=' && b[i] != '"' {
		i++
	}
	if i == 1 || i >= len(b) || b[i] == '=' || b[i] == '"' {
		return nil, 0, false
	}
	id := string(b[1:i])
	var params []Param
	for {
		if i >= len(b) {
			return nil, 0, false
		}
		if b[i] == ']' {
			if len(params) == 0 {
				// An element without parameters still says something.
				params = append(params, Param{ID: id})
			}
			return params, i + 1, true
		}
		if b[i] != ' ' {
			return nil, 0, false
		}
		for i < len(b) && b[i] == ' ' {
			i++
		}
		start := i
		for i < len(b) && b[i] != '=' && b[i] != ' ' && b[i] != ']' && b[i] != '"' {
			i++
		}
		if i == start || i+1 >= len(b) || b[i] != '=' || b[i+1] != '"' {
			return nil, 0, false
		}
		name := string(b[start:i])
		i += 2
		var val []byte
		closed := false
		for i < len(b) {
			c := b[i]
			if c == '\\' && i+1 < len(b) && (b[i+1] == '"' || b[i+1] == '\\' || b[i+1] == ']') {
				val = append(val, b[i+1])
				i += 2
				continue
			}
			i++
			if c == '"' {
				closed = true
				break
			}
			val = append(val, c)
		}
		if !closed {
			return nil, 0, false
		}
		params = append(params, Param{ID: id, Name: name, Value: string(val)})
	}
}

var months = map[string]time.Month{
	"Jan": time.January, "Feb": time.February, "Mar": time.March, "Apr": time.April,
	"May": time.May, "Jun": time.June, "Jul": time.July, "Aug": time.August,
	"Sep": time.September, "Oct": time.October, "Nov": time.November, "Dec": time.December,
}

// parse3164 reads "[TIMESTAMP SP [HOSTNAME SP]] [TAG[pid]: ]MSG" after
// the PRI. Without a PRI (m.Priority < 0) a timestamp is required for the
// line to count as syslog.
func parse3164(m *Message, b []byte, now time.Time) bool {
	m.Format = RFC3164
	t, rest, ok := bsdTime(b, now)
	if !ok {
		t, rest, ok = rfc3339Time(b)
	}
	if !ok && m.Priority < 0 {
		return false
	}
	if ok {
		m.Time = t
		b = rest
		// A host, unless the next word is already the tag: local
		// messages (logger, /dev/log) have none.
		if tok, r, ok := token(b); ok && r != nil && len(tok) > 0 && !bytes.ContainsAny(tok, ":[") {
			m.Host, b = string(tok), r
		}
	}
	m.App, m.ProcID, b = tag(b)
	m.Msg = b
	return true
}

// tag reads "TAG: " or "TAG[pid]: " at the start of b; without one the
// whole of b is the message.
func tag(b []byte) (app, pid string, rest []byte) {
	for i := 0; i < len(b) && i < 128; i++ {
		switch b[i] {
		case ':':
			if i == 0 {
				return "", "", b
			}
			return string(b[:i]), "", skipSpace(b[i+1:])
		case '[':
			end := bytes.IndexByte(b[i:], ']')
			if i == 0 || end < 0 || i+end+1 >= len(b) || b[i+end+1] != ':' {
				return "", "", b
			}
			return string(b[:i]), string(b[i+1 : i+end]), skipSpace(b[i+end+2:])
		case ' ':
			return "", "", b
		}
	}
	return "", "", b
}

func skipSpace(b []byte) []byte {
	if len(b) > 0 && b[0] == ' ' {
		return b[1:]
	}
	return b
}

// bsdTime reads "Mmm dd hh:mm:ss[.frac] " (the day space- or
// zero-padded, or one digit).
func bsdTime(b []byte, now time.Time) (time.Time, []byte, bool) {
	if len(b) < 14 || b[3] != ' ' {
		return time.Time{}, nil, false
	}
	month, ok := months[string(b[:3])]
	if !ok {
		return time.Time{}, nil, false
	}
	i := 4
	if b[i] == ' ' {
		i++
	}
	day := 0
	for n := 0; n < 2 && i < len(b) && b[i] >= '0' && b[i] <= '9'; n++ {
		day = day*10 + int(b[i]-'0')
		i++
	}
	if day < 1 || day > 31 || i+9 > len(b) || b[i] != ' ' {
		return time.Time{}, nil, false
	}
	i++
	c := b[i : i+8]
	if c[2] != ':' || c[5] != ':' {
		return time.Time{}, nil, false
	}
	hh, ok1 := twoDigits(c[0:2])
	mm, ok2 := twoDigits(c[3:5])
	ss, ok3 := twoDigits(c[6:8])
	if !ok1 || !ok2 || !ok3 || hh > 23 || mm > 59 || ss > 60 {
		return time.Time{}, nil, false
	}
	i += 8
	nsec := 0
	if i < len(b) && b[i] == '.' {
		i++
		scale := 100000000
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			nsec += int(b[i]-'0') * scale
			scale /= 10
		}
	}
	if i < len(b) && b[i] != ' ' {
		return time.Time{}, nil, false
	}
	rest := b[i:]
	if len(rest) > 0 {
		rest = rest[1:]
	}
	loc := now.Location()
	t := time.Date(now.Year(), month, day, hh, mm, ss, nsec, loc)
	const halfYear = 183 * 24 * time.Hour
	switch {
	case t.Sub(now) > halfYear: // December's message read in January
		t = time.Date(now.Year()-1, month, day, hh, mm, ss, nsec, loc)
	case now.Sub(t) > halfYear: // January's message from a clock ahead
		t = time.Date(now.Year()+1, month, day, hh, mm, ss, nsec, loc)
	}
	return t, rest, true
}

func twoDigits(b []byte) (int, bool) {
	if b[0] < '0' || b[0] > '9' || b[1] < '0' || b[1] > '9' {
		return 0, false
	}
	return int(b[0]-'0')*10 + int(b[1]-'0'), true
}

// rfc3339Time reads an RFC 3339 timestamp word, as rsyslog's
// RSYSLOG_FileFormat and RSYSLOG_ForwardFormat write it.
func rfc3339Time(b []byte) (time.Time, []byte, bool) {
	tok, rest, ok := token(b)
	if !ok || len(tok) < 20 || tok[4] != '-' || tok[10] != 'T' {
		return time.Time{}, nil, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(tok))
	if err != nil {
		return time.Time{}, nil, false
	}
	return t, rest, true
}

// Record turns a message into a log record completed by logline.Finish:
// severity from the PRI, service from the app name, the host as a stream
// label, facility, procid, msgid and structured data as attributes
// (syslog.facility, syslog.procid, syslog.msgid, <sd-id>.<param-name>),
// and a message that is a JSON object read by logline.ParseJSONBody.
func (m *Message) Record(now time.Time) logs.Record {
	rec := logs.Record{Time: m.Time, Service: m.App}
	attrs := make(map[string]string, 4+len(m.Params))
	if m.Priority >= 0 {
		rec.SeverityNumber, rec.SeverityText = logs.SyslogSeverity(m.Severity())
		attrs["syslog.facility"] = FacilityName(m.Facility())
	}
	if m.ProcID != "" {
		attrs["syslog.procid"] = m.ProcID
	}
	if m.MsgID != "" {
		attrs["syslog.msgid"] = m.MsgID
	}
	for _, p := range m.Params {
		if p.Name == "" {
			attrs[p.ID] = ""
			continue
		}
		attrs[p.ID+"."+p.Name] = p.Value
	}
	if m.Truncated > 0 {
		attrs["syslog.truncated_bytes"] = strconv.Itoa(m.Truncated)
	}
	if len(attrs) > 0 {
		rec.Attributes = attrs
	}
	if !logline.ParseJSONBody(&rec, m.Msg, logline.Fields{}) {
		rec.Body = string(m.Msg)
	}
	var extra map[string]string
	if m.Host != "" {
		extra = map[string]string{"host": m.Host}
	}
	logline.Finish(&rec, nil, logline.Options{Now: now, ExtraLabels: extra})
	return rec
}
