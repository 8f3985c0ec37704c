#!/usr/bin/env bash
# Logs benchmark: ingests the same structured-log workload into Vigil and,
# when VLOGS is set, into VictoriaLogs, then times a needle search, a
# count by level over time and a typical UI query on each, checking that
# every answer matches what was sent (see bench/logs/RESULTS.md).
#
#   bench/logs/run.sh            20M lines (LINES=20000000)
#   bench/logs/run.sh --quick    500k lines, 5 runs of each query
#
# Environment (all optional): LINES, BATCH (1000 lines per request),
# CONCURRENCY (4), WINDOW (6h of line times ending now), FORMAT (jsonline,
# or otlp: OTLP/HTTP protobuf to Vigil's /v1/logs and VictoriaLogs'
# /insert/opentelemetry/v1/logs; logquery -format otlp then uses the
# peer's OTLP field names),
# GZIP (1), QUERY_N (20; 5 with --quick), SETTLE (most seconds to wait for
# compaction, 300; 90 with --quick), QUIET (the 1-minute load average to
# wait for before the run and each target's ingest, 1.0; 0 disables),
# QUIET_MAX (most seconds to wait for it each time, 2400), QUIET_UNTIL (Unix
# seconds after which no wait starts: a deadline for the whole run),
# QUERY_MAX_TIME (cap on each query's timed runs, 240s), VLOGS (a VictoriaLogs
# binary; without it only Vigil runs), TARGETS ("vigil vlogs"), PROFILE=1
# (build Vigil with net/http/pprof through a -overlay file, no change to
# the tree, and save CPU profiles of its ingest and queries beside OUT),
# OUT (results file), KEEP=1 (keep data dirs), WORKDIR (where data, the
# encoded workload and logs go, kept; default a new /tmp dir, removed).
#
# For each target: wait for a quiet machine, start it on free loopback
# ports with a fresh data dir, send the workload with bench/logs/logload
# (encoded once, before any clock starts), read the server's CPU time
# (utime+stime from /proc/<pid>/stat) before and after, VmHWM, then wait
# until the data dir (Vigil: its logs dir and part count; its metrics
# store writes self-monitoring all the time) has not changed for 60 s, at
# most SETTLE s, stop it with SIGTERM, start it again on the same data,
# measure the data dir (du), and run bench/logs/logquery.
set -euo pipefail

self=$(realpath "$0")
cd "$(dirname "$self")/../.."
root=$PWD

quick=0
for a in "$@"; do
	case $a in
	--quick) quick=1 ;;
	-h | --help) sed -n '2,34p' "$self"; exit 0 ;;
	*) echo "run.sh: unknown argument $a (want --quick)" >&2; exit 2 ;;
	esac
done
if [[ $quick == 1 ]]; then
	: "${LINES:=500000}" "${QUERY_N:=5}" "${SETTLE:=90}"
else
	: "${LINES:=20000000}" "${QUERY_N:=20}" "${SETTLE:=300}"
fi
: "${BATCH:=1000}" "${CONCURRENCY:=4}" "${WINDOW:=6h}" "${FORMAT:=jsonline}" "${GZIP:=1}"
: "${QUIET:=1.0}" "${QUIET_MAX:=2400}" "${QUIET_UNTIL:=0}" "${QUERY_MAX_TIME:=240s}" "${VLOGS:=}" "${TARGETS:=vigil vlogs}" "${PROFILE:=0}"
: "${OUT:=$root/bench/results/logs-$(date -u +%Y%m%dT%H%M%SZ).md}"
case $FORMAT in
jsonline | otlp) ;;
*) echo "run.sh: FORMAT=$FORMAT: want jsonline or otlp" >&2; exit 2 ;;
esac

if [[ -z ${WORKDIR:-} ]]; then
	tmp=$(mktemp -d /tmp/vigil-logs.XXXXXX)
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
profile() { # url seconds file: a CPU profile in the background; sets prof_pid
	prof_pid=
	[[ $PROFILE == 1 ]] || return 0
	curl -s -o "$3" "$1/debug/pprof/profile?seconds=$2" &
	prof_pid=$!
}
profile_wait() { if [[ -n ${prof_pid:-} ]]; then wait "$prof_pid" || true; fi; }

log "building vigil, logload and logquery"
overlay=()
if [[ $PROFILE == 1 ]]; then
	# net/http/pprof on VIGIL_BENCH_PPROF_ADDR, added to cmd/vigil at
	# build time only: the tree is not changed.
	cat >"$tmp/benchpprof.go" <<'GO'
package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	if addr := os.Getenv("VIGIL_BENCH_PPROF_ADDR"); addr != "" {
		go http.ListenAndServe(addr, nil)
	}
}
GO
	jq -n --arg f "$root/cmd/vigil/zz_benchpprof.go" --arg s "$tmp/benchpprof.go" '{Replace: {($f): $s}}' >"$tmp/overlay.json"
	overlay=(-overlay "$tmp/overlay.json")
fi
go build "${overlay[@]}" -o "$tmp/vigil" ./cmd/vigil
go build -o "$tmp/logload" ./bench/logs/logload
go build -o "$tmp/logquery" ./bench/logs/logquery

wait_quiet "the run"
# One end time and one encoded workload for every target.
end=$(date +%s)
load=(-lines "$LINES" -batch "$BATCH" -concurrency "$CONCURRENCY" -end "$end" -window "$WINDOW" -gzip="$([[ $GZIP == 1 ]] && echo true || echo false)" -cache "$tmp/workload.bin")
[[ $FORMAT == otlp ]] && load+=(-otlp)
log "encoding $LINES lines"
"$tmp/logload" "${load[@]}" -generate-only

mkdir -p "$(dirname "$OUT")"
{
	echo "## logs $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo
	echo "- vigil: $("$tmp/vigil" version 2>&1 | head -1), tree at $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown) (plus uncommitted work)$([[ $PROFILE == 1 ]] && echo ', built with net/http/pprof (PROFILE=1)')"
	[[ -n $VLOGS ]] && echo "- victorialogs: $(go version -m "$VLOGS" 2>/dev/null | awk '$1 == "mod" { print $2, $3 }') built with $(go version "$VLOGS" 2>/dev/null | awk '{ print $2 }') ($VLOGS)"
	echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- workload: $LINES lines ($FORMAT$([[ $GZIP == 1 ]] && echo ', gzip'); times over $WINDOW), $BATCH per request, $CONCURRENCY senders; $QUERY_N timed runs of each query after one warm-up"
	echo
} >>"$OUT"

# settle polls a directory's size (and, for Vigil, its log part count)
# every 10 s until neither has changed for 60 s or SETTLE seconds have
# passed; prints "maxParts finalParts seconds".
settle() { # name dir partsdir
	local t0=$SECONDS n=0 max=0 last=-1 same=0 size lastsize=-1
	while ((SECONDS - t0 < SETTLE)); do
		size=$(apparent "$2")
		if [[ -n $3 ]]; then
			n=$(find "$3" -mindepth 1 -maxdepth 1 -name 'part-*' 2>/dev/null | wc -l)
		fi
		((n > max)) && max=$n
		if [[ $n == "$last" && $size == "$lastsize" ]]; then same=$((same + 1)); else same=0; fi
		log "$1: $((size / 1048576)) MiB$([[ -n $3 ]] && echo ", $n parts")"
		((same >= 6)) && break
		last=$n lastsize=$size
		sleep 10
	done
	echo "$max $n $((SECONDS - t0))"
}

# run_target name start-cmd-fn ready-path ingest-url query-dialect data-dir parts-dir
run_target() {
	local name=$1 startfn=$2 ready=$3 dialect=$4 d=$5 partsdir=$6
	local c0 c1 cs q0 q1
	rm -rf "$d"
	mkdir -p "$d"
	wait_quiet "$name ingest"
	"$startfn"
	wait_http "$base$ready" 120 || { log "$name did not start; see $tmp/$name.log"; tail "$tmp/$name.log" >&2; return 1; }
	c0=$(cpu "$pid")
	log "$name: sending"
	profile "${pprof_url:-}" 30 "${OUT%.md}-$name-ingest.pprof"
	"$tmp/logload" "${load[@]}" -url "$ingest" -path "$ingest_path" -name "$name" -json "$tmp/$name-load.json" | tee -a "$OUT" || true
	c1=$(cpu "$pid")
	profile_wait
	local hwm_ingest after
	hwm_ingest=$(hwm "$pid")
	after=$(bytes "$d")
	log "$name: ingest used $(awk -v a="$c0" -v b="$c1" 'BEGIN { print b - a }') CPU-s; waiting up to $SETTLE s for the data dir to settle"
	local pc
	local sdir=$d
	[[ -n $partsdir ]] && sdir=$(dirname "$partsdir")
	pc=$(settle "$name" "$sdir" "$partsdir")
	cs=$(cpu "$pid")
	local settled stop_s t0 start_s
	settled=$(bytes "$d")
	stop
	stop_s=$stopped
	t0=$EPOCHREALTIME
	"$startfn"
	wait_http "$base$ready" 600 || { log "$name did not restart; see $tmp/$name.log"; return 1; }
	start_s=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
	local final final_app nparts=0 logs_parts=0 logs_wal=0
	final=$(bytes "$d")
	if [[ -n $partsdir ]]; then
		logs_parts=$(bytes "$partsdir")
		logs_wal=$(bytes "$(dirname "$partsdir")/wal")
	fi
	final_app=$(apparent "$d")
	[[ -n $partsdir ]] && nparts=$(find "$partsdir" -mindepth 1 -maxdepth 1 -name 'part-*' | wc -l)
	q0=$(cpu "$pid")
	log "$name: querying"
	profile "${pprof_url:-}" 20 "${OUT%.md}-$name-query.pprof"
	local qargs=()
	[[ $FORMAT == otlp ]] && qargs=(-format otlp)
	"$tmp/logquery" -url "$base" -dialect "$dialect" -load "$tmp/$name-load.json" -n "$QUERY_N" -name "$name" -max-time "$QUERY_MAX_TIME" -json "$tmp/$name-query.json" "${qargs[@]}" | tee -a "$OUT" ||
		log "$name: WRONG OR FAILED ANSWERS (see the table)"
	q1=$(cpu "$pid")
	profile_wait
	jq -n --arg c0 "$c0" --arg c1 "$c1" --arg cs "$cs" --arg q0 "$q0" --arg q1 "$q1" --arg hwm "$hwm_ingest" --arg hwm2 "$(hwm "$pid")" \
		--arg after "$after" --arg settled "$settled" --arg final "$final" --arg fa "$final_app" --arg np "$nparts" --arg pc "$pc" --arg lp "$logs_parts" --arg lw "$logs_wal" \
		--arg stop "$stop_s" --arg start "$start_s" '{
			ingestCPU: (($c1|tonumber) - ($c0|tonumber)), settleCPU: (($cs|tonumber) - ($c1|tonumber)), queryCPU: (($q1|tonumber) - ($q0|tonumber)),
			hwmIngestMiB: ($hwm|tonumber), hwmQueryMiB: ($hwm2|tonumber),
			diskAfterIngest: ($after|tonumber), diskSettled: ($settled|tonumber), diskFinal: ($final|tonumber), diskFinalApparent: ($fa|tonumber),
			logPartsFinal: ($lp|tonumber), logWALFinal: ($lw|tonumber), partCount: ($np|tonumber), partCountMax: ($pc|split(" ")[0]|tonumber), partCountSettled: ($pc|split(" ")[1]|tonumber),
			settleSeconds: ($pc|split(" ")[2]|tonumber), stopSeconds: ($stop|tonumber), restartSeconds: ($start|tonumber)}' >"$tmp/$name-proc.json"
	stop
}

start_vigil() {
	VIGIL_BENCH_PPROF_ADDR=${pprof_addr:-} "$tmp/vigil" "${vigil_args[@]}" >>"$tmp/vigil.log" 2>&1 &
	pid=$!
}
run_vigil() {
	local http otlp
	http=$(freeport) otlp=$(freeport)
	vigil_args=(serve --data-dir "$tmp/vigil-data" --http-addr "127.0.0.1:$http" --otlp-grpc-addr "" --otlp-http-addr "127.0.0.1:$otlp" --host-metrics=false --log-level info)
	base=http://127.0.0.1:$http ingest=$base ingest_path=
	if [[ $FORMAT == otlp ]]; then ingest=http://127.0.0.1:$otlp ingest_path=/v1/logs; fi
	pprof_addr= pprof_url=
	if [[ $PROFILE == 1 ]]; then
		pprof_addr=127.0.0.1:$(freeport)
		pprof_url=http://$pprof_addr
	fi
	run_target vigil start_vigil /-/ready vigil "$tmp/vigil-data" "$tmp/vigil-data/logs/parts"
}

start_vlogs() {
	"$VLOGS" -storageDataPath "$tmp/vlogs-data" -httpListenAddr "127.0.0.1:$vlogs_port" >>"$tmp/vlogs.log" 2>&1 &
	pid=$!
}
run_vlogs() {
	vlogs_port=$(freeport)
	base=http://127.0.0.1:$vlogs_port ingest=$base ingest_path=
	[[ $FORMAT == otlp ]] && ingest_path=/insert/opentelemetry/v1/logs
	pprof_addr= pprof_url=
	[[ $PROFILE == 1 ]] && pprof_url=$base # VictoriaLogs serves /debug/pprof itself
	run_target vlogs start_vlogs /health vlogs "$tmp/vlogs-data" ""
}

for t in $TARGETS; do
	case $t in
	vigil) run_vigil || log "vigil run failed" ;;
	vlogs)
		if [[ -z $VLOGS ]]; then
			log "VLOGS not set: no peer run"
			continue
		fi
		run_vlogs || log "vlogs run failed"
		;;
	*) log "unknown target $t" ;;
	esac
done

# The table: one row per figure, both targets and the ratio vigil/vlogs.
row() { # name better vigil vlogs format
	local v=$3 p=$4 r=""
	if [[ -n $v && -n $p ]]; then r=$(awk -v a="$v" -v b="$p" 'BEGIN { if (b != 0) printf "%.2f", a / b }'); fi
	printf '| %s | %s | %s | %s | %s |\n' "$1" "$(fmtn "$v" "$5")" "$(fmtn "$p" "$5")" "$r" "$2"
}
perline() { # bytes-expr proc
	local b
	b=$(fig "$2" "$1")
	[[ -n $b ]] && awk -v b="$b" -v n="$LINES" 'BEGIN { printf "%.2f", b / n }'
}
percpu() { # proc load
	local c s
	c=$(fig "$1" .ingestCPU) s=$(fig "$2" .lines)
	[[ -n $c && -n $s ]] && awk -v c="$c" -v s="$s" 'BEGIN { if (c > 0) printf "%.0f", s / c }'
}
qfig() { # query-json name field
	fig "$1" ".queries[] | select(.name == \"$2\") | $3"
}
V=$tmp/vigil P=$tmp/vlogs
{
	echo
	echo "| Figure | vigil | vlogs | vigil/vlogs | Better |"
	echo "|---|---:|---:|---:|---|"
	row "Ingest rate (lines/s, wall)" higher "$(fig "$V-load.json" .linesPerSecond)" "$(fig "$P-load.json" .linesPerSecond)" "%.0f"
	row "Lines per CPU-second of the server (one core)" higher "$(percpu "$V-proc.json" "$V-load.json")" "$(percpu "$P-proc.json" "$P-load.json")" "%.0f"
	row "Server CPU during ingest (s)" lower "$(fig "$V-proc.json" .ingestCPU)" "$(fig "$P-proc.json" .ingestCPU)" "%.1f"
	row "Server CPU while settling (s)" lower "$(fig "$V-proc.json" .settleCPU)" "$(fig "$P-proc.json" .settleCPU)" "%.1f"
	row "Settle time (s)" lower "$(fig "$V-proc.json" .settleSeconds)" "$(fig "$P-proc.json" .settleSeconds)" "%d"
	row "Request latency p50 (ms)" lower "$(fig "$V-load.json" .requestLatencyP50Ms)" "$(fig "$P-load.json" .requestLatencyP50Ms)" "%.1f"
	row "Request latency p99 (ms)" lower "$(fig "$V-load.json" .requestLatencyP99Ms)" "$(fig "$P-load.json" .requestLatencyP99Ms)" "%.1f"
	row "Failed requests" lower "$(fig "$V-load.json" .failedRequests)" "$(fig "$P-load.json" .failedRequests)" "%d"
	row "Peak RSS during ingest (MiB)" lower "$(fig "$V-proc.json" .hwmIngestMiB)" "$(fig "$P-proc.json" .hwmIngestMiB)" "%d"
	row "Peak RSS after restart and queries (MiB)" lower "$(fig "$V-proc.json" .hwmQueryMiB)" "$(fig "$P-proc.json" .hwmQueryMiB)" "%d"
	row "Bytes/line on disk right after ingest" lower "$(perline .diskAfterIngest "$V-proc.json")" "$(perline .diskAfterIngest "$P-proc.json")" "%.2f"
	row "Bytes/line on disk after settling + restart" lower "$(perline .diskFinal "$V-proc.json")" "$(perline .diskFinal "$P-proc.json")" "%.2f"
	row "  of which Vigil log parts" lower "$(perline .logPartsFinal "$V-proc.json")" "" "%.2f"
	row "  of which Vigil log WAL" lower "$(perline .logWALFinal "$V-proc.json")" "" "%.2f"
	row "Stop (SIGTERM) time (s)" lower "$(fig "$V-proc.json" .stopSeconds)" "$(fig "$P-proc.json" .stopSeconds)" "%.2f"
	row "Restart until ready (s)" lower "$(fig "$V-proc.json" .restartSeconds)" "$(fig "$P-proc.json" .restartSeconds)" "%.2f"
	for q in needle count-by-level focus; do
		for p in p50 p90 p99; do
			row "$q $p (ms)" lower "$(qfig "$V-query.json" "$q" ".latency.${p}Ms")" "$(qfig "$P-query.json" "$q" ".latency.${p}Ms")" "%.1f"
		done
		row "$q wrong answers / errors" lower "$(qfig "$V-query.json" "$q" '(.wrongAnswers + .latency.errors)')" "$(qfig "$P-query.json" "$q" '(.wrongAnswers + .latency.errors)')" "%d"
	done
	row "Server CPU for all queries (s)" lower "$(fig "$V-proc.json" .queryCPU)" "$(fig "$P-proc.json" .queryCPU)" "%.1f"
	echo
	[[ -f $V-proc.json ]] && echo "- vigil log parts: at most $(fig "$V-proc.json" .partCountMax) while settling, $(fig "$V-proc.json" .partCountSettled) at the end of it, $(fig "$V-proc.json" .partCount) after restart."
	[[ -f $V-query.json ]] && jq -r '.queries[] | "- vigil \(.name): `\(.query)`; answer \(.want)" + (if .wrongAnswers > 0 then " — WRONG: \(.firstDiff)" else "" end)' "$V-query.json"
	[[ -f $P-query.json ]] && jq -r '.queries[] | "- vlogs \(.name): `\(.query)`; answer \(.want)" + (if .wrongAnswers > 0 then " — WRONG: \(.firstDiff)" else "" end)' "$P-query.json"
	for n in "${quiet_notes[@]}"; do echo "- quiet wait: $n"; done
	echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
} | tee -a "$OUT"
for f in "$tmp"/*-load.json "$tmp"/*-query.json "$tmp"/*-proc.json; do if [[ -f $f ]]; then cp "$f" "${OUT%.md}-$(basename "$f")"; fi; done
log "results in $OUT"
