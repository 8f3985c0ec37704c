package report

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
)

var (
	from3 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	to3   = time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC)
)

// series finds a synthetic series by its labels' string form.
func series(t *testing.T, want string) synthSeries {
	t.Helper()
	for _, s := range synthetic() {
		if s.labels.String() == want {
			return s
		}
	}
	t.Fatalf("no synthetic series %s", want)
	return synthSeries{}
}

var checkoutErrors = `{__name__="traces_spanmetrics_calls_total", service="checkout", span_kind="SPAN_KIND_SERVER", span_name="GET /cart", status_code="STATUS_CODE_ERROR"}`

func TestBuildSpans(t *testing.T) {
	q := testQuery(t)
	rep, err := Build(context.Background(), q, Request{Service: "checkout", From: from3, To: to3})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Source != SourceSpans {
		t.Errorf("source = %q, want spans", rep.Source)
	}
	// 70 entry spans a minute, linear, for 3 days: exact.
	checkNear(t, "total", rep.TotalRequests, 70*3*1440)
	// 1 error a minute plus 59 more in each outage minute; the first
	// step's 5 errors fall before the first sample in the range, which
	// increase() makes up for by stretching the rest over 4320/4315.
	errs := series(t, checkoutErrors)
	wantErrors := extrapolated(errs, to3, to3.Sub(from3))
	checkNear(t, "errors (hand)", wantErrors, (4320+60*59-5)*4320.0/4315)
	checkNear(t, "errors", rep.ErrorCount, wantErrors)
	checkNear(t, "availability", rep.Availability, 100*(1-wantErrors/(70*3*1440)))

	// histogram_quantile interpolates linearly inside the bucket holding
	// rank q*70 (per minute; the range scales all counts alike):
	// p50: rank 35 in (0.1, 0.25] holding 28..56
	checkNearPtr(t, "p50", rep.LatencyP50, 0.1+(0.25-0.1)*(35-28)/(56-28.0))
	// p95: rank 66.5 in (0.5, 1] holding 66..70
	checkNearPtr(t, "p95", rep.LatencyP95, 0.5+(1-0.5)*(66.5-66)/(70-66.0))
	// p99: rank 69.3 in (0.5, 1]
	checkNearPtr(t, "p99", rep.LatencyP99, 0.5+(1-0.5)*(69.3-66)/(70-66.0))

	wantTotal := `sum(increase(traces_spanmetrics_calls_total{service="checkout",span_kind=~"SPAN_KIND_SERVER|SPAN_KIND_CONSUMER"}[3d]))`
	if rep.Queries["total"] != wantTotal {
		t.Errorf("total query = %s, want %s", rep.Queries["total"], wantTotal)
	}
	if !strings.Contains(rep.Queries["daily_errors"], `status_code="STATUS_CODE_ERROR"}[1d]`) {
		t.Errorf("daily_errors query = %s", rep.Queries["daily_errors"])
	}
	if rep.Objective != nil || rep.ObjectiveMet != nil || rep.LatencyObjectiveMet != nil {
		t.Errorf("judged without objectives: %+v", rep)
	}

	if len(rep.Daily) != 3 {
		t.Fatalf("daily rows = %d, want 3: %+v", len(rep.Daily), rep.Daily)
	}
	for i, d := range rep.Daily {
		start := from3.AddDate(0, 0, i)
		if d.Date != start.Format(time.DateOnly) || !d.From.Equal(start) || !d.To.Equal(start.AddDate(0, 0, 1)) || d.NoData {
			t.Errorf("day %d = %+v", i, d)
		}
		checkNear(t, d.Date+" total", d.TotalRequests, 70*1440)
		e := extrapolated(errs, d.To, 24*time.Hour)
		checkNear(t, d.Date+" errors", d.ErrorCount, e)
		checkNearPtr(t, d.Date+" availability", d.Availability, 100*(1-e/(70*1440)))
	}
	// Only the outage day differs: 1440 errors, or (4980-5)*1440/1435.
	checkNear(t, "2026-11-01 errors (hand)", rep.Daily[0].ErrorCount, 1440)
	checkNear(t, "2026-11-02 errors (hand)", rep.Daily[1].ErrorCount, 4975*1440.0/1435)
}

func TestBuildObjectives(t *testing.T) {
	q := testQuery(t)
	base := Request{Service: "checkout", From: from3, To: to3}
	total := 70.0 * 3 * 1440
	errs := extrapolated(series(t, checkoutErrors), to3, to3.Sub(from3))
	avail := 100 * (1 - errs/total) // about 97.4

	f := func(name string, obj float64, lo *LatencyObjective, wantMet, wantLatMet *bool) {
		t.Run(name, func(t *testing.T) {
			r := base
			r.Objective, r.LatencyObjective = obj, lo
			rep, err := Build(context.Background(), q, r)
			if err != nil {
				t.Fatal(err)
			}
			if !sameBool(rep.ObjectiveMet, wantMet) {
				t.Errorf("objective met = %v, want %v (availability %v, objective %v)", str(rep.ObjectiveMet), str(wantMet), rep.Availability, obj)
			}
			if !sameBool(rep.LatencyObjectiveMet, wantLatMet) {
				t.Errorf("latency objective met = %v, want %v (latency %v)", str(rep.LatencyObjectiveMet), str(wantLatMet), rep.LatencyAtObjective)
			}
			if obj > 0 {
				allowed := total * (1 - obj/100)
				checkNearPtr(t, "error budget remaining", rep.ErrorBudgetRemaining, 100*(1-errs/allowed))
			}
		})
	}
	yes, no := new(true), new(false)
	if !(avail > 97 && avail < 99.9) {
		t.Fatalf("the data's availability %v is not between the objectives the cases judge", avail)
	}
	f("met", 97, nil, yes, nil)
	f("missed", 99.9, nil, no, nil)
	f("p99 met", 0, &LatencyObjective{Quantile: 0.99, Seconds: 1}, nil, yes)
	f("p99 missed", 0, &LatencyObjective{Quantile: 0.99, Seconds: 0.5}, nil, no)
	// p90: rank 63 in (0.25, 0.5] holding 56..66 is 0.425, its own query.
	f("p90 met", 97, &LatencyObjective{Quantile: 0.9, Seconds: 0.43}, yes, yes)
	f("p90 missed", 97, &LatencyObjective{Quantile: 0.9, Seconds: 0.42}, yes, no)

	r := base
	r.LatencyObjective = &LatencyObjective{Quantile: 0.9, Seconds: 1}
	rep, err := Build(context.Background(), q, r)
	if err != nil {
		t.Fatal(err)
	}
	checkNearPtr(t, "p90", rep.LatencyAtObjective, 0.25+(0.5-0.25)*(63-56)/(66-56.0))
	if !strings.HasPrefix(rep.Queries["latency_objective"], "histogram_quantile(0.9, ") {
		t.Errorf("latency_objective query = %q", rep.Queries["latency_objective"])
	}

	// The budget goes negative when overspent: 99.9% allows 0.1% errors,
	// the data has about 2.6%.
	r = base
	r.Objective = 99.9
	if rep, err = Build(context.Background(), q, r); err != nil {
		t.Fatal(err)
	}
	if rep.ErrorBudgetRemaining == nil || *rep.ErrorBudgetRemaining >= 0 {
		t.Errorf("error budget remaining = %v, want negative", rep.ErrorBudgetRemaining)
	}
}

func TestBuildPartialDays(t *testing.T) {
	q := testQuery(t)
	from, to := from3.Add(6*time.Hour), time.Date(2026, 11, 3, 18, 0, 0, 0, time.UTC)
	rep, err := Build(context.Background(), q, Request{Service: "checkout", From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	checkNear(t, "total", rep.TotalRequests, 70*(18+24+18)*60)
	want := []struct {
		date    string
		from    time.Time
		minutes float64
	}{
		{"2026-11-01", from, 18 * 60},
		{"2026-11-02", from3.AddDate(0, 0, 1), 24 * 60},
		{"2026-11-03", from3.AddDate(0, 0, 2), 18 * 60},
	}
	if len(rep.Daily) != len(want) {
		t.Fatalf("daily = %+v", rep.Daily)
	}
	for i, w := range want {
		d := rep.Daily[i]
		end := w.from.Add(time.Duration(w.minutes) * time.Minute)
		if d.Date != w.date || !d.From.Equal(w.from) || !d.To.Equal(end) {
			t.Errorf("day %d = %s %s..%s, want %s %s..%s", i, d.Date, d.From, d.To, w.date, w.from, end)
		}
		checkNear(t, w.date+" total", d.TotalRequests, 70*w.minutes)
	}
}

func TestBuildCustom(t *testing.T) {
	q := testQuery(t)
	check := func(t *testing.T, rep Report, source string) {
		t.Helper()
		if rep.Source != source {
			t.Errorf("source = %q, want %q", rep.Source, source)
		}
		// 100 requests a minute, 1 failing, for 3 days; linear: exact.
		checkNear(t, "total", rep.TotalRequests, 100*3*1440)
		checkNear(t, "errors", rep.ErrorCount, 3*1440)
		checkNear(t, "availability", rep.Availability, 99)
		// Per minute le 0.05: 50, 0.1: 90, 0.5: 100.
		checkNearPtr(t, "p50", rep.LatencyP50, 0+0.05*50/50)
		checkNearPtr(t, "p95", rep.LatencyP95, 0.1+(0.5-0.1)*(95-90)/(100-90.0))
		checkNearPtr(t, "p99", rep.LatencyP99, 0.1+(0.5-0.1)*(99-90)/(100-90.0))
		if len(rep.Daily) != 3 {
			t.Fatalf("daily = %+v", rep.Daily)
		}
		for _, d := range rep.Daily {
			checkNear(t, d.Date+" total", d.TotalRequests, 100*1440)
			checkNearPtr(t, d.Date+" availability", d.Availability, 99)
		}
	}
	t.Run("auto falls back to the SLO's selectors", func(t *testing.T) {
		rep, err := Build(context.Background(), q, Request{
			Service: "legacy", From: from3, To: to3,
			TotalQuery: `http_requests_total{job="legacy"}`, ErrorQuery: `http_requests_total{job="legacy",code=~"5.."}`,
			LatencyHistogram: "http_request_duration_seconds", LatencySelector: `job="legacy"`,
		})
		if err != nil {
			t.Fatal(err)
		}
		check(t, rep, SourceSLO)
		if want := `sum(increase(http_requests_total{job="legacy"}[3d]))`; rep.Queries["total"] != want {
			t.Errorf("total query = %s, want %s", rep.Queries["total"], want)
		}
	})
	t.Run("templates", func(t *testing.T) {
		rep, err := Build(context.Background(), q, Request{
			Service: "legacy", From: from3, To: to3, Source: SourceCustom,
			TotalQuery:       `sum(increase(http_requests_total{job="legacy"}[{{.range}}]))`,
			ErrorQuery:       `sum(increase(http_requests_total{job="legacy",code="500"}[{{ .range }}])) or vector(0)`,
			LatencyHistogram: "http_request_duration_seconds", LatencySelector: `{job="legacy"}`,
		})
		if err != nil {
			t.Fatal(err)
		}
		check(t, rep, SourceCustom)
		if want := `sum(increase(http_requests_total{job="legacy"}[1d]))`; rep.Queries["daily_total"] != want {
			t.Errorf("daily_total = %s, want %s", rep.Queries["daily_total"], want)
		}
	})
	t.Run("spans win over the SLO's queries when present", func(t *testing.T) {
		rep, err := Build(context.Background(), q, Request{
			Service: "checkout", From: from3, To: to3,
			TotalQuery: `http_requests_total{job="legacy"}`, ErrorQuery: `http_requests_total{job="legacy",code="500"}`,
		})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Source != SourceSpans {
			t.Errorf("source = %q, want spans", rep.Source)
		}
	})
	t.Run("several series", func(t *testing.T) {
		_, err := Build(context.Background(), q, Request{
			Service: "legacy", From: from3, To: to3, Source: SourceCustom,
			TotalQuery: `sum by (code) (increase(http_requests_total{job="legacy"}[{{.range}}]))`,
			ErrorQuery: `http_requests_total{code="500"}`,
		})
		if err == nil || !strings.Contains(err.Error(), "returned 2 series") {
			t.Errorf("err = %v, want one about 2 series", err)
		}
	})
}

func TestBuildNoData(t *testing.T) {
	q := testQuery(t)
	f := func(name string, r Request, want string) {
		t.Run(name, func(t *testing.T) {
			_, err := Build(context.Background(), q, r)
			if !errors.Is(err, ErrNoData) || !strings.Contains(err.Error(), want) {
				t.Errorf("err = %v, want ErrNoData containing %q", err, want)
			}
		})
	}
	f("unknown service", Request{Service: "ghost", From: from3, To: to3}, `no request metrics for service "ghost"`)
	f("spans asked for", Request{Service: "legacy", From: from3, To: to3, Source: SourceSpans}, `no span metrics of service "legacy"`)
	f("before any data", Request{Service: "checkout", From: from3.AddDate(0, -1, 0), To: from3.AddDate(0, 0, -10)}, `no request metrics for service "checkout"`)
	// The store's data starts on 2026-10-31: a period from the 25th would
	// be six days short.
	f("past the retention", Request{Service: "checkout", From: time.Date(2026, 10, 25, 0, 0, 0, 0, time.UTC), To: to3}, "start it on 2026-10-31 or later")
	f("custom past the retention", Request{Service: "legacy", Source: SourceCustom, From: time.Date(2026, 10, 25, 0, 0, 0, 0, time.UTC), To: to3,
		TotalQuery: `http_requests_total{job="legacy"}`, ErrorQuery: `http_requests_total{job="legacy",code="500"}`}, "start it on 2026-10-31 or later")
	f("custom without samples", Request{Service: "legacy", Source: SourceCustom, From: from3, To: to3,
		TotalQuery: `nope_total`, ErrorQuery: `nope_total`}, "total query of service \"legacy\" has no samples")
}

// A service that was idle while others reported is not mistaken for a
// period past the retention.
func TestBuildIdleStart(t *testing.T) {
	rep, err := Build(context.Background(), testQuery(t), Request{Service: "nightly", From: from3, To: to3})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Daily) != 3 || !rep.Daily[0].NoData || rep.Daily[0].Availability != nil || rep.Daily[1].NoData {
		t.Fatalf("daily = %+v", rep.Daily)
	}
	checkNear(t, "2026-11-02 total", rep.Daily[1].TotalRequests, 5*1440)
}

func TestBuildQuotesServiceName(t *testing.T) {
	hostile := "a\"b\\c}[5m])) or vector(1) #\n"
	var exprs []string
	q := func(_ context.Context, expr string, _ time.Time) (model.Vector, error) {
		exprs = append(exprs, expr)
		return nil, nil
	}
	_, err := Build(context.Background(), q, Request{Service: hostile, From: from3, To: to3})
	if !errors.Is(err, ErrNoData) {
		t.Fatalf("err = %v, want ErrNoData", err)
	}
	if len(exprs) == 0 {
		t.Fatal("no query ran")
	}
	for _, e := range exprs {
		expr, err := parser.ParseExpr(e)
		if err != nil {
			t.Fatalf("%s: %v", e, err)
		}
		found := false
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				for _, m := range vs.LabelMatchers {
					found = found || (m.Name == "service" && m.Value == hostile)
				}
			}
			return nil
		})
		if !found {
			t.Errorf("%s does not select the service by its exact name", e)
		}
	}
}

func TestBuildQueryError(t *testing.T) {
	boom := errors.New("store unavailable")
	q := func(context.Context, string, time.Time) (model.Vector, error) { return nil, boom }
	_, err := Build(context.Background(), q, Request{Service: "checkout", From: from3, To: to3})
	if !errors.Is(err, boom) || errors.Is(err, ErrNoData) {
		t.Errorf("err = %v, want the query's error", err)
	}
}

func TestBuildInvalid(t *testing.T) {
	ok := Request{Service: "checkout", From: from3, To: to3}
	f := func(field string, edit func(*Request)) {
		t.Helper()
		r := ok
		edit(&r)
		_, err := Build(context.Background(), func(context.Context, string, time.Time) (model.Vector, error) {
			t.Errorf("%s: a query ran for an invalid request", field)
			return nil, nil
		}, r)
		var inv *InvalidRequestError
		if !errors.As(err, &inv) || inv.Field != field {
			t.Errorf("err = %v, want an InvalidRequestError on %s", err, field)
		}
	}
	f("Service", func(r *Request) { r.Service = "" })
	f("Service", func(r *Request) { r.Service = "\xff" })
	f("From", func(r *Request) { r.From = time.Time{} })
	f("To", func(r *Request) { r.To = time.Time{} })
	f("From", func(r *Request) { r.From, r.To = r.To, r.From })
	f("From", func(r *Request) { r.To = r.From })
	f("From", func(r *Request) { r.From = r.To.Add(-MaxRange - time.Hour) })
	f("Source", func(r *Request) { r.Source = "logs" })
	f("TotalQuery", func(r *Request) { r.Source = SourceCustom })
	f("ErrorQuery", func(r *Request) { r.ErrorQuery = ""; r.TotalQuery = "x_total" })
	f("Objective", func(r *Request) { r.Objective = 100 })
	f("Objective", func(r *Request) { r.Objective = -1 })
	f("Objective", func(r *Request) { r.Objective = math.NaN() })
	f("LatencyObjective", func(r *Request) { r.LatencyObjective = &LatencyObjective{Quantile: 1, Seconds: 1} })
	f("LatencyObjective", func(r *Request) { r.LatencyObjective = &LatencyObjective{Quantile: 0.99, Seconds: 0} })
	f("LatencyObjective", func(r *Request) { r.LatencyObjective = &LatencyObjective{Quantile: 0.99, Seconds: math.Inf(1)} })
	f("SpanKinds", func(r *Request) { r.SpanKinds = []string{} })
	f("LatencyHistogram", func(r *Request) { r.LatencySelector = `job="x"` })
	f("LatencyHistogram", func(r *Request) { r.LatencyHistogram = "not a name{" })

	custom := func(total, errs string) func(*Request) {
		return func(r *Request) { r.Source, r.TotalQuery, r.ErrorQuery = SourceCustom, total, errs }
	}
	f("TotalQuery", custom(`rate(x_total[5m])`, `x_total`))                // neither selector nor template
	f("TotalQuery", custom(`sum(x_total[{{.range}}])`, `x_total`))         // does not parse
	f("TotalQuery", custom(`x_total[{{.range}}]`, `x_total`))              // a range vector
	f("TotalQuery", custom(`sum(increase(x[{{.other}}]))`, `x_total`))     // unknown placeholder
	f("ErrorQuery", custom(`x_total`, `x_total offset 1h`))                // chooses its own time
	f("ErrorQuery", custom(`x_total`, `sum(increase(x_total[{{.range}}]`)) // unbalanced
	f("LatencySelector", func(r *Request) {
		custom(`x_total`, `x_total`)(r)
		r.LatencyHistogram, r.LatencySelector = "h_seconds", `__name__="other"`
	})
	f("LatencySelector", func(r *Request) {
		custom(`x_total`, `x_total`)(r)
		r.LatencyHistogram, r.LatencySelector = "h_seconds", `job=`
	})
}

func sameBool(a, b *bool) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func str(b *bool) string {
	if b == nil {
		return "nil"
	}
	if *b {
		return "true"
	}
	return "false"
}
