package slo

import (
	"time"

	"github.com/prometheus/common/model"
)

const (
	minute = model.Duration(time.Minute)
	hour   = model.Duration(time.Hour)
	day    = 24 * hour
)

// burnWindows are the windows whose error ratio and burn rate are
// recorded: every long and short window of burnAlerts.
var burnWindows = []model.Duration{5 * minute, 30 * minute, hour, 2 * hour, 6 * hour, day, 3 * day}

// longestBurnWindow bounds the SLO window from below: a window no longer
// than the slowest alert's long window would make that alert's "share of
// the budget" meaningless.
const longestBurnWindow = 3 * day

// burnAlert is one multiwindow burn-rate condition of the SRE workbook
// ("Alerting on SLOs", table 5-8): it holds when the burn rate over both
// the long and the short window exceeds the factor at which BudgetPercent
// of the window's error budget is spent within the long window. The short
// window (1/12 of the long one) makes the alert stop soon after the errors
// do.
type burnAlert struct {
	Severity      string // "page" or "ticket"
	Long, Short   model.Duration
	BudgetPercent int
}

var burnAlerts = []burnAlert{
	{Severity: "page", Long: hour, Short: 5 * minute, BudgetPercent: 2},
	{Severity: "page", Long: 6 * hour, Short: 30 * minute, BudgetPercent: 5},
	{Severity: "ticket", Long: day, Short: 2 * hour, BudgetPercent: 10},
	{Severity: "ticket", Long: 3 * day, Short: 6 * hour, BudgetPercent: 10},
}

// Factor is the burn-rate threshold for an SLO window: 14.4, 6, 3 and 1
// for 30d, as in the workbook. Like Sloth, other windows keep the
// workbook's meaning (this share of the budget gone within Long) rather
// than its numbers, so a 7d window pages at 3.36, not 14.4: keeping 14.4
// would page only when 8.6% of a week's budget burns in an hour. The
// arithmetic is on whole numbers so that 30d gives exactly 14.4.
func (a burnAlert) Factor(window model.Duration) float64 {
	return float64(a.BudgetPercent) * time.Duration(window).Seconds() / (100 * time.Duration(a.Long).Seconds())
}
