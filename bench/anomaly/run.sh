#!/usr/bin/env bash
# Anomaly benchmark: Vigil's detector over the whole Numenta Anomaly
# Benchmark corpus with `vigil anomaly backtest` (one configuration, NAB's
# probationary period the only per-file input), scored by the independent
# scorer in all three profiles, headline and cross-validated (-cv:
# thresholds chosen on the other categories); then the per-series cost
# from Go benchmarks (CPU per point, bytes of state per series, and the
# cost of one rule watching 1,000 series). See bench/anomaly/RESULTS.md.
#
#   bench/anomaly/run.sh           (make bench-anomaly)
#
# Environment (all optional): NAB (the corpus: data/ and labels/,
# ../shared/anomaly/nab), NABSCORE (the scorer's source,
# ../shared/tools/nabscore), OUT (results file,
# bench/results/anomaly-<date>.md), BENCHTIME (Go benchmarks' -benchtime,
# 2s), SEASONALITY (auto).
set -euo pipefail

self=$(realpath "$0")
cd "$(dirname "$self")/../.."
root=$PWD

: "${NAB:=$root/../shared/anomaly/nab}"
: "${NABSCORE:=$root/../shared/tools/nabscore}"
: "${BENCHTIME:=2s}"
: "${SEASONALITY:=auto}"
: "${OUT:=$root/bench/results/anomaly-$(date -u +%Y%m%d-%H%M%S).md}"

for d in "$NAB/data" "$NAB/labels" "$NABSCORE"; do
	[[ -d $d ]] || { echo "bench/anomaly: $d not found (set NAB / NABSCORE)" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "building vigil and the scorer" >&2
go build -o "$work/vigil" ./cmd/vigil
(cd "$NABSCORE" && go build -o "$work/nabscore" .)

echo "backtest over $(find "$NAB/data" -name '*.csv' | wc -l) NAB series" >&2
start=$(date +%s.%N)
"$work/vigil" anomaly backtest --csv-dir "$NAB/data" --out-dir "$work/results/vigil" --probation nab --seasonality "$SEASONALITY" >&2
end=$(date +%s.%N)
rows=$(find "$NAB/data" -name '*.csv' -exec cat {} + | grep -vc '^timestamp')

"$work/nabscore" -nab "$NAB" -cv "$work/results/vigil" > "$work/score.txt"

echo "Go benchmarks (per-series cost)" >&2
go test -run '^$' -bench 'BenchmarkObserve$' -benchtime "$BENCHTIME" -benchmem ./anomaly > "$work/observe.txt"
go test -run '^$' -bench 'BenchmarkEvaluate1000Series' -benchtime 200x -benchmem ./watch > "$work/watch.txt"
go test -run 'TestStateSize' -v ./anomaly > "$work/size.txt" 2>&1 || true

{
	echo "# Anomaly benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo
	echo "Machine: $(nproc) cores, $(go version | cut -d' ' -f3), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)."
	echo
	echo "## NAB ($rows rows, backtest wall time $(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.2f", b-a}') s)"
	echo
	echo '```'
	cat "$work/score.txt"
	echo '```'
	echo
	echo "Published (standard profile): ARTime 74.9, Numenta HTM 70.5, CAD OSE 69.9, KNN CAD 58.0, Windowed Gaussian 39.6."
	echo
	echo "## Cost per series"
	echo
	echo '```'
	grep -E '^(Benchmark|goos|cpu)' "$work/observe.txt" "$work/watch.txt" | sed 's/^[^:]*://'
	grep -E 'bytes' "$work/size.txt" | sed 's/^ *//'
	echo '```'
} | tee "$OUT"
echo "wrote $OUT" >&2
