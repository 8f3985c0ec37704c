package logs

import (
	"strconv"
	"strings"
)

// Levels, as the `level` stream label and Loki's detected_level name them.
const (
	LevelTrace   = "trace"
	LevelDebug   = "debug"
	LevelInfo    = "info"
	LevelWarn    = "warn"
	LevelError   = "error"
	LevelFatal   = "fatal"
	LevelUnknown = "unknown"
)

// LevelOf maps an OpenTelemetry severity number to its level name.
func LevelOf(n int32) string {
	switch {
	case n >= 1 && n <= 4:
		return LevelTrace
	case n >= 5 && n <= 8:
		return LevelDebug
	case n >= 9 && n <= 12:
		return LevelInfo
	case n >= 13 && n <= 16:
		return LevelWarn
	case n >= 17 && n <= 20:
		return LevelError
	case n >= 21 && n <= 24:
		return LevelFatal
	}
	return LevelUnknown
}

// SeverityOf maps a level as sources write it to an OpenTelemetry
// severity number: Python's logging and structlog names (debug, info,
// warning, error, exception, critical), their numbers (10..50), the usual
// short and long spellings (warn, err, crit, fatal, panic, emerg...), and
// syslog keywords. Unknown text gives 0.
func SeverityOf(level string) int32 {
	l := strings.ToLower(strings.TrimSpace(level))
	switch l {
	case "trace", "trc", "finest", "finer", "verbose":
		return 1
	case "debug", "dbg", "fine", "debug1", "debug2":
		return 5
	case "info", "inf", "information", "informational", "notice", "log":
		return 9
	case "warn", "warning", "wrn":
		return 13
	case "error", "err", "eror", "exception", "severe":
		return 17
	case "critical", "crit", "alert":
		return 21
	case "fatal", "panic", "emerg", "emergency", "dpanic":
		return 21
	}
	// Python's numeric levels: 10 DEBUG, 20 INFO, 30 WARNING, 40 ERROR,
	// 50 CRITICAL.
	if n, err := strconv.Atoi(l); err == nil {
		switch {
		case n <= 0:
			return 0
		case n < 20:
			return 5
		case n < 30:
			return 9
		case n < 40:
			return 13
		case n < 50:
			return 17
		default:
			return 21
		}
	}
	return 0
}

// SyslogSeverity maps a syslog severity (0 emergency .. 7 debug) to an
// OpenTelemetry severity number and the keyword syslog uses for it.
func SyslogSeverity(s int) (int32, string) {
	switch s {
	case 0:
		return 24, "emerg"
	case 1:
		return 23, "alert"
	case 2:
		return 22, "crit"
	case 3:
		return 17, "err"
	case 4:
		return 13, "warning"
	case 5:
		return 10, "notice"
	case 6:
		return 9, "info"
	default:
		return 5, "debug"
	}
}
