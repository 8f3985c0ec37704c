package report

import (
	"context"
	"fmt"
	"math"
	"time"
)

// days splits [from, to) at UTC midnights.
func days(from, to time.Time) []DayRow {
	var rows []DayRow
	for start := from; start.Before(to); {
		y, m, d := start.Date()
		end := time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
		if end.After(to) {
			end = to
		}
		rows = append(rows, DayRow{Date: start.Format(time.DateOnly), From: start, To: end})
		start = end
	}
	return rows
}

// daily runs the total and error queries of each day at its end. The
// queries run one after the other: a 31-day month is 62 small queries,
// and the caller's engine decides how much it runs at once.
func daily(ctx context.Context, q QueryFunc, e exprs, from, to time.Time) ([]DayRow, error) {
	rows := days(from, to)
	for i := range rows {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		row := &rows[i]
		rng := promDuration(row.To.Sub(row.From))
		total, ok, err := instant(ctx, q, e.total(rng), row.To)
		if err != nil {
			return nil, err
		}
		if !ok || math.IsNaN(total) {
			row.NoData = true
			continue
		}
		failed, _, err := instant(ctx, q, e.errors(rng), row.To)
		if err != nil {
			return nil, err
		}
		if math.IsNaN(failed) || failed < 0 {
			failed = 0
		}
		row.TotalRequests, row.ErrorCount = total, failed
		if total > 0 {
			a := max(0, 100*(1-failed/total))
			row.Availability = &a
		}
	}
	return rows, nil
}

// checkStart refuses a period whose first days have no data because the
// store no longer (or never) held any, so a report on half a month is not
// taken for one on a whole month. A service that was merely idle on its
// first days, while others sent span metrics, is reported with NoData
// rows; span metrics need the second check because they drop idle label
// sets, whereas a scraped counter keeps being stored while idle.
func checkStart(ctx context.Context, q QueryFunc, e exprs, r Request, rows []DayRow) error {
	first := -1
	for i, row := range rows {
		if !row.NoData {
			first = i
			break
		}
	}
	if first <= 0 {
		return nil
	}
	day0, start := rows[0], rows[first].Date
	if e.anyData != nil {
		n, ok, err := instant(ctx, q, e.anyData(promDuration(day0.To.Sub(day0.From))), day0.To)
		if err != nil {
			return err
		}
		if ok && n > 0 {
			return nil
		}
		return fmt.Errorf("%w: no span metrics of any service are stored for %s, the first day of the period, and service %q has data from %s on: the period starts before the oldest data kept (see the retention); start it on %s or later", ErrNoData, day0.Date, r.Service, start, start)
	}
	return fmt.Errorf("%w: the total query of service %q has no samples before %s: the period starts before the oldest data kept (see the retention) or before the service reported; start it on %s or later", ErrNoData, r.Service, start, start)
}
