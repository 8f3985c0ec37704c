#!/usr/bin/env bash
# Traces benchmark: ingests the same OTLP gRPC span workload into Vigil and,
# when JAEGER is set, into Jaeger v2 with its Badger store, then times
# trace-by-id lookups and service+duration searches on each (see the
# "Traces" section of docs/benchmarks.md).
#
#   bench/traces/run.sh            10M spans (SPANS=10000000)
#   bench/traces/run.sh --quick    200k spans, 200 lookups, 40 searches
#
# Environment (all optional): SPANS, BATCH (512), CONCURRENCY (4), QUERY_N
# (1000), SEARCH_N (100), SETTLE (seconds to wait for cuts and compaction,
# 240), QUERY_MAX_TIME (cap on each query phase, 300s), JAEGER (a Jaeger v2
# binary you built; without it only Vigil runs), TARGETS ("vigil jaeger"),
# OUT (results file), KEEP=1 (keep data dirs), WORKDIR (where data, the
# encoded workload and logs go, kept; default a new /tmp dir, removed).
#
# For each target: start it on free loopback ports with a fresh data dir,
# send the workload with bench/traces/spanload (encoded once, before any
# clock starts), read the server's CPU time (utime+stime from
# /proc/<pid>/stat) before and after, VmHWM, then wait SETTLE seconds for
# the head to be cut and parts compacted (polling the part count), stop it
# with SIGTERM, start it again on the same data, measure the data dir
# (du), and run bench/traces/spanquery.
set -euo pipefail

cd "$(dirname "$0")/../.."
root=$PWD

quick=0
for a in "$@"; do
	case $a in
	--quick) quick=1 ;;
	-h | --help) sed -n '2,23p' "$0"; exit 0 ;;
	*) echo "run.sh: unknown argument $a (want --quick)" >&2; exit 2 ;;
	esac
done
if [[ $quick == 1 ]]; then
	: "${SPANS:=200000}" "${QUERY_N:=200}" "${SEARCH_N:=40}" "${SETTLE:=60}"
else
	: "${SPANS:=10000000}" "${QUERY_N:=1000}" "${SEARCH_N:=100}" "${SETTLE:=240}"
fi
: "${QUERY_MAX_TIME:=300s}" "${BATCH:=512}" "${CONCURRENCY:=4}" "${JAEGER:=}" "${TARGETS:=vigil jaeger}"
: "${OUT:=$root/bench/results/traces-$(date -u +%Y%m%dT%H%M%SZ).md}"

if [[ -z ${WORKDIR:-} ]]; then
	tmp=$(mktemp -d /tmp/vigil-traces.XXXXXX)
else
	tmp=$WORKDIR
	mkdir -p "$tmp"
fi
pid=
cleanup() {
	if [[ -n $pid ]]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	if [[ ${KEEP:-0} == 1 || -n ${WORKDIR:-} ]]; then echo "run.sh: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# shellcheck source=../lib.sh
source "$root/bench/lib.sh"

stopped= # seconds the last stop took

log "building vigil, spanload and spanquery"
go build -o "$tmp/vigil" ./cmd/vigil
go build -o "$tmp/spanload" ./bench/traces/spanload
go build -o "$tmp/spanquery" ./bench/traces/spanquery

# One end time and one encoded workload for every target.
end=$(date +%s)
load=(-spans "$SPANS" -batch "$BATCH" -concurrency "$CONCURRENCY" -end "$end" -cache "$tmp/workload.bin")
log "encoding $SPANS spans"
"$tmp/spanload" "${load[@]}" -ids "$tmp/ids.txt" -generate-only

mkdir -p "$(dirname "$OUT")"
{
	echo "## traces $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo
	echo "- vigil: $("$tmp/vigil" version 2>&1 | head -1), tree at $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown) (plus uncommitted work)"
	[[ -n $JAEGER ]] && echo "- jaeger: $("$JAEGER" version 2>&1 | grep -o '"gitVersion":"[^"]*"' | head -1 || true) ($JAEGER)"
	echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- workload: $SPANS spans, $BATCH per request, $CONCURRENCY senders; $QUERY_N lookups, $SEARCH_N searches"
	echo
} >>"$OUT"

# settle polls the part count of a Vigil span store every 10 s until it has
# not changed for 60 s or SETTLE seconds have passed; prints "max final".
settle_vigil() {
	local dir=$1 t0=$SECONDS n max=0 last=-1 same=0 walb lastwal=-1
	while ((SECONDS - t0 < SETTLE)); do
		n=$(find "$dir/parts" -mindepth 1 -maxdepth 1 -name 'part-*' 2>/dev/null | wc -l)
		walb=$(apparent "$dir/wal")
		((n > max)) && max=$n
		if [[ $n == "$last" && $walb == "$lastwal" ]]; then same=$((same + 1)); else same=0; fi
		log "vigil: $n parts, wal $((walb / 1048576)) MiB"
		((same >= 6)) && break
		last=$n lastwal=$walb
		sleep 10
	done
	echo "$max $n"
}

run_vigil() {
	local d=$tmp/vigil-data http grpc c0 c1 q0 q1
	rm -rf "$d"
	http=$(freeport) grpc=$(freeport)
	args=(serve --data-dir "$d" --http-addr "127.0.0.1:$http" --otlp-grpc-addr "127.0.0.1:$grpc" --otlp-http-addr "" --host-metrics=false --log-level info)
	"$tmp/vigil" "${args[@]}" >>"$tmp/vigil.log" 2>&1 &
	pid=$!
	wait_http "http://127.0.0.1:$http/api/vigil/v1/services" 60 || { log "vigil did not start; see $tmp/vigil.log"; tail "$tmp/vigil.log" >&2; return 1; }
	c0=$(cpu "$pid")
	log "vigil: sending"
	"$tmp/spanload" "${load[@]}" -addr "127.0.0.1:$grpc" -name vigil -json "$tmp/vigil-load.json" | tee -a "$OUT" || true
	c1=$(cpu "$pid")
	local hwm_ingest wal_after parts_after
	hwm_ingest=$(hwm "$pid")
	wal_after=$(bytes "$d/spans/wal")
	parts_after=$(bytes "$d/spans/parts")
	log "vigil: ingest used $(awk -v a="$c0" -v b="$c1" 'BEGIN { print b - a }') CPU-s; waiting up to $SETTLE s for cuts and compaction"
	local pc cs
	pc=$(settle_vigil "$d/spans")
	cs=$(cpu "$pid")
	local wal_settled parts_settled
	wal_settled=$(bytes "$d/spans/wal")
	parts_settled=$(bytes "$d/spans/parts")
	local stop_s t0 start_s
	stop
	stop_s=$stopped
	t0=$EPOCHREALTIME
	"$tmp/vigil" "${args[@]}" >>"$tmp/vigil.log" 2>&1 &
	pid=$!
	wait_http "http://127.0.0.1:$http/api/vigil/v1/services" 600 || { log "vigil did not restart; see $tmp/vigil.log"; return 1; }
	start_s=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
	local spans_total wal_final parts_final nparts
	spans_total=$(bytes "$d/spans")
	wal_final=$(bytes "$d/spans/wal")
	parts_final=$(bytes "$d/spans/parts")
	nparts=$(find "$d/spans/parts" -mindepth 1 -maxdepth 1 -name 'part-*' | wc -l)
	q0=$(cpu "$pid")
	log "vigil: querying"
	"$tmp/spanquery" -url "http://127.0.0.1:$http" -dialect vigil -ids "$tmp/ids.txt" -load "$tmp/vigil-load.json" \
		-n "$QUERY_N" -search-n "$SEARCH_N" -max-time "$QUERY_MAX_TIME" -name vigil -json "$tmp/vigil-query.json" | tee -a "$OUT"
	q1=$(cpu "$pid")
	jq -n --arg c0 "$c0" --arg c1 "$c1" --arg cs "$cs" --arg q0 "$q0" --arg q1 "$q1" --arg hwm "$hwm_ingest" --arg hwm2 "$(hwm "$pid")" \
		--arg wa "$wal_after" --arg pa "$parts_after" --arg ws "$wal_settled" --arg ps "$parts_settled" \
		--arg total "$spans_total" --arg wf "$wal_final" --arg pf "$parts_final" --arg np "$nparts" --arg pc "$pc" \
		--arg stop "$stop_s" --arg start "$start_s" '{
			ingestCPU: (($c1|tonumber) - ($c0|tonumber)), settleCPU: (($cs|tonumber) - ($c1|tonumber)), queryCPU: (($q1|tonumber) - ($q0|tonumber)),
			hwmIngestMiB: ($hwm|tonumber), hwmQueryMiB: ($hwm2|tonumber),
			walAfterIngest: ($wa|tonumber), partsAfterIngest: ($pa|tonumber), walSettled: ($ws|tonumber), partsSettled: ($ps|tonumber),
			diskFinal: ($total|tonumber), walFinal: ($wf|tonumber), partsFinal: ($pf|tonumber), partCount: ($np|tonumber),
			partCountMax: ($pc|split(" ")[0]|tonumber), partCountSettled: ($pc|split(" ")[1]|tonumber),
			stopSeconds: ($stop|tonumber), restartSeconds: ($start|tonumber)}' >"$tmp/vigil-proc.json"
	stop
}

run_jaeger() {
	local d=$tmp/jaeger-data grpc qhttp qgrpc health metrics c0 c1 cs q0 q1
	rm -rf "$d"
	mkdir -p "$d"
	grpc=$(freeport) qhttp=$(freeport) qgrpc=$(freeport) health=$(freeport) metrics=$(freeport)
	# Jaeger v2's Badger example (cmd/jaeger/config-badger.yaml) without
	# the archive store and OTLP HTTP, on free loopback ports. The batch
	# processor is left out: requests already carry 512 spans, and without
	# it an acknowledged export has been written to Badger, as in Vigil.
	cat >"$tmp/jaeger.yaml" <<YAML
service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: info
extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: 127.0.0.1:$health
  jaeger_query:
    storage:
      traces: badger_store
    http:
      endpoint: 127.0.0.1:$qhttp
    grpc:
      endpoint: 127.0.0.1:$qgrpc
  jaeger_storage:
    backends:
      badger_store:
        badger:
          directories:
            keys: $d/keys
            values: $d/values
          ephemeral: false
          ttl:
            spans: 720h
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$grpc
        max_recv_msg_size_mib: 64
exporters:
  jaeger_storage_exporter:
    trace_storage: badger_store
YAML
	OTEL_TRACES_EXPORTER=none OTEL_SDK_DISABLED=true "$JAEGER" --config "$tmp/jaeger.yaml" >>"$tmp/jaeger.log" 2>&1 &
	pid=$!
	wait_http "http://127.0.0.1:$qhttp/api/v3/services" 120 || { log "jaeger did not start; see $tmp/jaeger.log"; tail "$tmp/jaeger.log" >&2; return 1; }
	c0=$(cpu "$pid")
	log "jaeger: sending"
	"$tmp/spanload" "${load[@]}" -addr "127.0.0.1:$grpc" -name jaeger -json "$tmp/jaeger-load.json" | tee -a "$OUT" || true
	c1=$(cpu "$pid")
	local hwm_ingest after
	hwm_ingest=$(hwm "$pid")
	after=$(bytes "$d")
	log "jaeger: ingest used $(awk -v a="$c0" -v b="$c1" 'BEGIN { print b - a }') CPU-s; waiting $SETTLE s (Badger compacts in the background)"
	sleep "$SETTLE"
	cs=$(cpu "$pid")
	local settled stop_s t0 start_s
	settled=$(bytes "$d")
	stop
	stop_s=$stopped
	t0=$EPOCHREALTIME
	OTEL_TRACES_EXPORTER=none OTEL_SDK_DISABLED=true "$JAEGER" --config "$tmp/jaeger.yaml" >>"$tmp/jaeger.log" 2>&1 &
	pid=$!
	wait_http "http://127.0.0.1:$qhttp/api/v3/services" 600 || { log "jaeger did not restart; see $tmp/jaeger.log"; return 1; }
	start_s=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
	local final final_app
	final=$(bytes "$d")
	final_app=$(apparent "$d")
	q0=$(cpu "$pid")
	log "jaeger: querying"
	"$tmp/spanquery" -url "http://127.0.0.1:$qhttp" -dialect jaeger -ids "$tmp/ids.txt" -load "$tmp/jaeger-load.json" \
		-n "$QUERY_N" -search-n "$SEARCH_N" -max-time "$QUERY_MAX_TIME" -name jaeger -json "$tmp/jaeger-query.json" | tee -a "$OUT"
	q1=$(cpu "$pid")
	jq -n --arg c0 "$c0" --arg c1 "$c1" --arg cs "$cs" --arg q0 "$q0" --arg q1 "$q1" --arg hwm "$hwm_ingest" --arg hwm2 "$(hwm "$pid")" \
		--arg after "$after" --arg settled "$settled" --arg final "$final" --arg fa "$final_app" --arg stop "$stop_s" --arg start "$start_s" '{
			ingestCPU: (($c1|tonumber) - ($c0|tonumber)), settleCPU: (($cs|tonumber) - ($c1|tonumber)), queryCPU: (($q1|tonumber) - ($q0|tonumber)),
			hwmIngestMiB: ($hwm|tonumber), hwmQueryMiB: ($hwm2|tonumber),
			diskAfterIngest: ($after|tonumber), diskSettled: ($settled|tonumber), diskFinal: ($final|tonumber), diskFinalApparent: ($fa|tonumber),
			stopSeconds: ($stop|tonumber), restartSeconds: ($start|tonumber)}' >"$tmp/jaeger-proc.json"
	stop
}

for t in $TARGETS; do
	case $t in
	vigil) run_vigil || log "vigil run failed" ;;
	jaeger)
		if [[ -z $JAEGER ]]; then
			log "JAEGER not set: no peer run"
			continue
		fi
		run_jaeger || log "jaeger run failed"
		;;
	*) log "unknown target $t" ;;
	esac
done

# The table: one row per figure, both targets and the ratio vigil/jaeger.
row() { # name better vigil jaeger format
	local v=$3 j=$4 r=""
	if [[ -n $v && -n $j ]]; then r=$(awk -v a="$v" -v b="$j" 'BEGIN { if (b != 0) printf "%.2f", a / b }'); fi
	printf '| %s | %s | %s | %s | %s |\n' "$1" "$(fmtn "$v" "$5")" "$(fmtn "$j" "$5")" "$r" "$2"
}
perspan() { # bytes-expr file load
	local b
	b=$(fig "$1" "$2")
	[[ -n $b ]] && awk -v b="$b" -v n="$SPANS" 'BEGIN { printf "%.2f", b / n }'
}
percpu() { # proc load
	local c s
	c=$(fig "$1" .ingestCPU) s=$(fig "$2" .spans)
	[[ -n $c && -n $s ]] && awk -v c="$c" -v s="$s" 'BEGIN { if (c > 0) printf "%.0f", s / c }'
}
V=$tmp/vigil J=$tmp/jaeger
{
	echo
	echo "| Figure | vigil | jaeger | vigil/jaeger | Better |"
	echo "|---|---:|---:|---:|---|"
	row "Ingest rate (spans/s, wall)" higher "$(fig "$V-load.json" .spansPerSecond)" "$(fig "$J-load.json" .spansPerSecond)" "%.0f"
	row "Spans per CPU-second of the server" higher "$(percpu "$V-proc.json" "$V-load.json")" "$(percpu "$J-proc.json" "$J-load.json")" "%.0f"
	row "Server CPU during ingest (s)" lower "$(fig "$V-proc.json" .ingestCPU)" "$(fig "$J-proc.json" .ingestCPU)" "%.1f"
	row "Server CPU while settling (s)" lower "$(fig "$V-proc.json" .settleCPU)" "$(fig "$J-proc.json" .settleCPU)" "%.1f"
	row "Export latency p50 (ms)" lower "$(fig "$V-load.json" .requestLatencyP50Ms)" "$(fig "$J-load.json" .requestLatencyP50Ms)" "%.1f"
	row "Export latency p99 (ms)" lower "$(fig "$V-load.json" .requestLatencyP99Ms)" "$(fig "$J-load.json" .requestLatencyP99Ms)" "%.1f"
	row "Failed export requests" lower "$(fig "$V-load.json" .failedRequests)" "$(fig "$J-load.json" .failedRequests)" "%d"
	row "Peak RSS during ingest (MiB)" lower "$(fig "$V-proc.json" .hwmIngestMiB)" "$(fig "$J-proc.json" .hwmIngestMiB)" "%d"
	row "Peak RSS after restart and queries (MiB)" lower "$(fig "$V-proc.json" .hwmQueryMiB)" "$(fig "$J-proc.json" .hwmQueryMiB)" "%d"
	row "Bytes/span on disk right after ingest" lower "$(perspan "$V-proc.json" '.walAfterIngest + .partsAfterIngest')" "$(perspan "$J-proc.json" .diskAfterIngest)" "%.2f"
	row "Bytes/span on disk after settling + restart" lower "$(perspan "$V-proc.json" .diskFinal)" "$(perspan "$J-proc.json" .diskFinal)" "%.2f"
	row "  of which Vigil parts (compacted Parquet)" lower "$(perspan "$V-proc.json" .partsFinal)" "" "%.2f"
	row "  of which Vigil WAL" lower "$(perspan "$V-proc.json" .walFinal)" "" "%.2f"
	row "Stop (SIGTERM) time (s)" lower "$(fig "$V-proc.json" .stopSeconds)" "$(fig "$J-proc.json" .stopSeconds)" "%.2f"
	row "Restart until queries answer (s)" lower "$(fig "$V-proc.json" .restartSeconds)" "$(fig "$J-proc.json" .restartSeconds)" "%.2f"
	row "Trace by id p50 (ms)" lower "$(fig "$V-query.json" .traceByID.p50Ms)" "$(fig "$J-query.json" .traceByID.p50Ms)" "%.2f"
	row "Trace by id p99 (ms)" lower "$(fig "$V-query.json" .traceByID.p99Ms)" "$(fig "$J-query.json" .traceByID.p99Ms)" "%.2f"
	row "Trace by id: not found / wrong span count" lower "$(fig "$V-query.json" '(.traceByIDNotFound + .traceByIDWrongSpanCount)')" "$(fig "$J-query.json" '(.traceByIDNotFound + .traceByIDWrongSpanCount)')" "%d"
	row "Search service+minDuration p50 (ms)" lower "$(fig "$V-query.json" .search.p50Ms)" "$(fig "$J-query.json" .search.p50Ms)" "%.2f"
	row "Search service+minDuration p99 (ms)" lower "$(fig "$V-query.json" .search.p99Ms)" "$(fig "$J-query.json" .search.p99Ms)" "%.2f"
	row "Search: traces returned (sum)" "" "$(fig "$V-query.json" .searchTracesReturned)" "$(fig "$J-query.json" .searchTracesReturned)" "%d"
	row "Server CPU for all queries (s)" lower "$(fig "$V-proc.json" .queryCPU)" "$(fig "$J-proc.json" .queryCPU)" "%.1f"
	echo
	[[ -f $V-proc.json ]] && echo "- vigil parts: at most $(fig "$V-proc.json" .partCountMax) while settling, $(fig "$V-proc.json" .partCountSettled) at the end of it, $(fig "$V-proc.json" .partCount) after restart."
	echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
} | tee -a "$OUT"
for f in "$tmp"/*-load.json "$tmp"/*-query.json "$tmp"/*-proc.json; do if [[ -f $f ]]; then cp "$f" "${OUT%.md}-$(basename "$f")"; fi; done
log "results in $OUT"
