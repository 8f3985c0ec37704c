package lokiapi

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// paramError is a bad request parameter; the message names it.
type paramError struct{ msg string }

func (e *paramError) Error() string { return e.msg }

func badParam(name, value string, err error) error {
	return &paramError{fmt.Sprintf("could not parse '%s' parameter %q: %v", name, value, err)}
}

// parseTime reads a timestamp as Loki accepts it: Unix nanoseconds (an
// integer of more than 10 digits), Unix seconds (an integer of up to 10
// digits, or a float), or RFC 3339.
func parseTime(name, v string, def time.Time) (time.Time, error) {
	if v == "" {
		return def, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if len(strings.TrimPrefix(v, "-")) <= 10 {
			return time.Unix(n, 0), nil
		}
		return time.Unix(0, n), nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, badParam(name, v, fmt.Errorf("want Unix seconds or nanoseconds, or RFC 3339"))
	}
	return t, nil
}

// parseDuration reads a duration as Loki does: a Prometheus duration
// ("5m", "1h30m") or float seconds.
func parseDuration(name, v string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f <= 0 || f > float64(math.MaxInt64/int64(time.Second)) {
			return 0, badParam(name, v, fmt.Errorf("must be a positive number of seconds"))
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := model.ParseDuration(v)
	if err != nil || d <= 0 {
		if err == nil {
			err = fmt.Errorf("must be positive")
		}
		return 0, badParam(name, v, err)
	}
	return time.Duration(d), nil
}

// timeRange reads start, end and since: end defaults to now, start to
// end minus since (default one hour), as Loki does.
func timeRange(r *http.Request, now time.Time) (time.Time, time.Time, error) {
	q := r.Form
	end, err := parseTime("end", q.Get("end"), now)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	since := time.Hour
	if v := q.Get("since"); v != "" {
		if since, err = parseDuration("since", v); err != nil {
			return time.Time{}, time.Time{}, err
		}
	}
	start, err := parseTime("start", q.Get("start"), end.Add(-since))
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	if end.Before(start) {
		return time.Time{}, time.Time{}, &paramError{"end timestamp must not be before or equal to start time"}
	}
	return start, end, nil
}

// parseLimit reads limit (default def, at most max).
func parseLimit(r *http.Request, def, max int) (int, error) {
	v := r.Form.Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, badParam("limit", v, fmt.Errorf("must be a positive integer"))
	}
	if n > max {
		return 0, &paramError{fmt.Sprintf("limit %d is over the maximum of %d lines per query", n, max)}
	}
	return n, nil
}

// defaultStep is Loki's: the range split in about 250 steps, at least 1s.
func defaultStep(start, end time.Time) time.Duration {
	step := end.Sub(start) / 250
	step = step.Truncate(time.Second)
	if step < time.Second {
		step = time.Second
	}
	return step
}
