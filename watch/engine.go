package watch

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
)

// EngineRange evaluates PromQL over a range in process, for warming
// anomaly rules from the stored history and for backtests.
func EngineRange(engine *promql.Engine, q storage.Queryable) RangeFunc {
	return func(ctx context.Context, expr string, start, end time.Time, step time.Duration) (promql.Matrix, error) {
		qry, err := engine.NewRangeQuery(ctx, q, nil, expr, start, end, step)
		if err != nil {
			return nil, err
		}
		defer qry.Close()
		res := qry.Exec(ctx)
		if res.Err != nil {
			return nil, res.Err
		}
		m, ok := res.Value.(promql.Matrix)
		if !ok {
			return nil, fmt.Errorf("expression gives a %s, not a range of vectors", res.Value.Type())
		}
		// The result's memory belongs to the query, which closes.
		out := make(promql.Matrix, len(m))
		for i, s := range m {
			out[i] = promql.Series{Metric: s.Metric, Floats: append([]promql.FPoint(nil), s.Floats...)}
		}
		return out, nil
	}
}
