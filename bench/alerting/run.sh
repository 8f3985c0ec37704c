#!/usr/bin/env bash
# Alerting benchmark: detect-to-act latency of Vigil (rules every 1 s,
# embedded Alertmanager with group_wait 0, a command and an HTTP action)
# beside Debian's Prometheus + Alertmanager chain at their default
# settings and tuned to Vigil's, on the same remote-write workload; then
# the cost of evaluating 10k alerting rules over 1M series (a Go
# benchmark of the ruler). See bench/alerting/RESULTS.md.
#
#   bench/alerting/run.sh            all targets, full trial counts
#   bench/alerting/run.sh --quick    10/5/5 trials, the small rule benchmark
#
# Environment (all optional): TARGETS ("vigil peer-tuned peer-default
# ruleeval"), TRIALS (Vigil, 200), TUNED_TRIALS (60), DEFAULT_TRIALS (40),
# DEFAULT_GAP (12s: trial starts of the default chain fall at random,
# 6 s apart on average), RULE_BENCH (the ruler benchmarks' -bench
# pattern, RuleEval), PROMETHEUS, ALERTMANAGER (binaries;
# /usr/bin/prometheus and /usr/bin/prometheus-alertmanager), QUIET (the
# 1-minute load average to wait for before each target, 1.0; 0 disables),
# QUIET_MAX (most seconds to wait each time, 1800), OUT (results file),
# KEEP=1 (keep the work dir).
#
# For each chain: wait for a quiet machine, start it on free loopback
# ports with fresh data dirs, run bench/alerting/detect against it (its
# webhook receiver and action endpoints on another free port), stop it.
# Every trial is its own alert (label trial), and so its own
# Alertmanager group (group_by [trial, alertname]) in every chain.
set -euo pipefail

self=$(realpath "$0")
cd "$(dirname "$self")/../.."
root=$PWD

quick=0
for a in "$@"; do
	case $a in
	--quick) quick=1 ;;
	-h | --help) sed -n '2,26p' "$self"; exit 0 ;;
	*) echo "run.sh: unknown argument $a (want --quick)" >&2; exit 2 ;;
	esac
done
if [[ $quick == 1 ]]; then
	: "${TRIALS:=10}" "${TUNED_TRIALS:=5}" "${DEFAULT_TRIALS:=5}" "${RULE_BENCH:=RuleEval1k}"
else
	: "${TRIALS:=200}" "${TUNED_TRIALS:=60}" "${DEFAULT_TRIALS:=40}" "${RULE_BENCH:=RuleEval}"
fi
: "${TARGETS:=vigil peer-tuned peer-default ruleeval}" "${DEFAULT_GAP:=12s}"
: "${PROMETHEUS:=/usr/bin/prometheus}" "${ALERTMANAGER:=/usr/bin/prometheus-alertmanager}"
: "${QUIET:=1.0}" "${QUIET_MAX:=1800}"
: "${OUT:=$root/bench/results/alerting-$(date -u +%Y%m%dT%H%M%SZ).md}"

tmp=$(mktemp -d /tmp/vigil-alerting.XXXXXX)
pid= ampid=
# kill_all stops whatever server is still up: after a failed start, and
# at exit.
kill_all() {
	for p in $pid $ampid; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	pid= ampid=
}
cleanup() {
	kill_all
	if [[ ${KEEP:-0} == 1 ]]; then echo "run.sh: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# shellcheck source=../lib.sh
source "$root/bench/lib.sh"

log "building detect$([[ " $TARGETS " == *" vigil "* ]] && echo " and vigil")"
go build -o "$tmp/detect" ./bench/alerting/detect
[[ " $TARGETS " == *" vigil "* ]] && go build -o "$tmp/vigil" ./cmd/vigil

mkdir -p "$(dirname "$OUT")"
base_out=${OUT%.md}
{
	echo "## alerting $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo
	[[ -x $tmp/vigil ]] && echo "- vigil: $("$tmp/vigil" version 2>&1 | head -1), tree at $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown) (plus uncommitted work)"
	[[ -x $PROMETHEUS ]] && echo "- prometheus: $("$PROMETHEUS" --version 2>&1 | head -1)"
	[[ -x $ALERTMANAGER ]] && echo "- alertmanager: $("$ALERTMANAGER" --version 2>&1 | head -1)"
	echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
} >>"$OUT"

# The rule every chain evaluates: one alert per trial, no `for`.
rules() { # file [interval]
	{
		echo "groups:"
		echo "  - name: bench"
		[[ -n ${2:-} ]] && echo "    interval: $2"
		echo "    rules:"
		echo "      - alert: BenchDetect"
		echo "        expr: bench_value{trial=~\".+\"} > 100"
	} >"$1"
}
# alertmanager_yml file webhook-url [group_wait group_interval repeat_interval]:
# without timings, Alertmanager's defaults (30s, 5m, 4h).
alertmanager_yml() {
	{
		echo "route:"
		echo "  receiver: bench"
		echo "  group_by: [trial, alertname]"
		if [[ -n ${3:-} ]]; then
			echo "  group_wait: $3"
			echo "  group_interval: $4"
			echo "  repeat_interval: $5"
		fi
		echo "receivers:"
		echo "  - name: bench"
		echo "    webhook_configs:"
		echo "      - url: $2"
		echo "        send_resolved: true"
	} >"$1"
}

# detect_run name port args...: the trials, their CSV and summary beside OUT.
detect_run() {
	local name=$1 port=$2
	shift 2
	log "$name: measuring"
	"$tmp/detect" -name "$name" -listen "127.0.0.1:$port" -csv "$base_out-$name.csv" -json "$tmp/$name.json" "$@" | tee -a "$OUT" ||
		log "$name: some trials failed (see $base_out-$name.csv)"
	[[ -f $tmp/$name.json ]] && cp "$tmp/$name.json" "$base_out-$name.json"
	return 0
}

run_vigil() {
	local d=$tmp/vigil-run http rport
	mkdir -p "$d"
	http=$(freeport) rport=$(freeport)
	rules "$d/rules.yml" 1s
	alertmanager_yml "$d/alertmanager.yml" "http://127.0.0.1:$rport/webhook" 0s 1s 1h
	cat >"$d/actions.yml" <<YAML
actions:
  - name: probe-command
    match: ['alertname="BenchDetect"']
    cooldown: 0s
    timeout: 10s
    command:
      argv: ["$tmp/detect", "-probe", "http://127.0.0.1:$rport/action/command", "-trial", "{{ .Labels.trial }}"]
  - name: probe-http
    match: ['alertname="BenchDetect"']
    cooldown: 0s
    timeout: 10s
    http:
      url: http://127.0.0.1:$rport/action/http
      body: '{"trial":"{{ .Labels.trial }}"}'
YAML
	cat >"$d/vigil.yml" <<YAML
rules:
  files: [$d/rules.yml]
  evaluation_interval: 1s
alerting:
  alertmanager_config: $d/alertmanager.yml
actions:
  files: [$d/actions.yml]
YAML
	wait_quiet vigil
	"$tmp/vigil" serve --config "$d/vigil.yml" --data-dir "$d/data" --http-addr "127.0.0.1:$http" \
		--otlp-grpc-addr "" --otlp-http-addr "" --host-metrics=false >>"$tmp/vigil.log" 2>&1 &
	pid=$!
	wait_http "http://127.0.0.1:$http/-/ready" 120 || { log "vigil did not start:"; tail "$tmp/vigil.log" >&2; kill_all; return 1; }
	local c0
	c0=$(cpu "$pid")
	detect_run vigil "$rport" -write "http://127.0.0.1:$http/api/v1/write" -trials "$TRIALS" -warmup 1 \
		-concurrency 1 -gap 1s -resolve -actions http,command -timeout 30s
	echo "- vigil: server CPU during the trials $(awk -v a="$c0" -v b="$(cpu "$pid")" 'BEGIN { printf "%.1f", b - a }') s, peak RSS $(hwm "$pid") MiB" | tee -a "$OUT"
	stop
	echo "- vigil: stopped in $stopped s" >>"$OUT"
}

# run_peer name tuned(0|1) trials detect-args...
run_peer() {
	local name=$1 tuned=$2 d=$tmp/$1
	shift 2
	if [[ ! -x $PROMETHEUS || ! -x $ALERTMANAGER ]]; then
		log "$name: $PROMETHEUS or $ALERTMANAGER missing (apt-get install prometheus prometheus-alertmanager): skipped"
		return 0
	fi
	mkdir -p "$d"
	local pport amport rport
	pport=$(freeport) amport=$(freeport) rport=$(freeport)
	if [[ $tuned == 1 ]]; then
		rules "$d/rules.yml"
		alertmanager_yml "$d/alertmanager.yml" "http://127.0.0.1:$rport/webhook" 0s 1s 1h
		printf 'global:\n  evaluation_interval: 1s\n' >"$d/prometheus.yml"
	else
		rules "$d/rules.yml"
		alertmanager_yml "$d/alertmanager.yml" "http://127.0.0.1:$rport/webhook"
		: >"$d/prometheus.yml"
	fi
	cat >>"$d/prometheus.yml" <<YAML
rule_files: [$d/rules.yml]
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:$amport"]
YAML
	wait_quiet "$name"
	# One Alertmanager, no cluster: Vigil's is not one either.
	"$ALERTMANAGER" --config.file "$d/alertmanager.yml" --storage.path "$d/am-data" \
		--web.listen-address "127.0.0.1:$amport" --cluster.listen-address "" >>"$tmp/$name-am.log" 2>&1 &
	ampid=$!
	"$PROMETHEUS" --config.file "$d/prometheus.yml" --storage.tsdb.path "$d/data" \
		--web.listen-address "127.0.0.1:$pport" --web.enable-remote-write-receiver >>"$tmp/$name-prom.log" 2>&1 &
	pid=$!
	wait_http "http://127.0.0.1:$pport/-/ready" 120 || { log "$name: prometheus did not start:"; tail "$tmp/$name-prom.log" >&2; kill_all; return 1; }
	local p=$pid
	pid=$ampid
	wait_http "http://127.0.0.1:$amport/-/ready" 120 || { log "$name: alertmanager did not start:"; tail "$tmp/$name-am.log" >&2; pid=$p; kill_all; return 1; }
	pid=$p
	# Prometheus's notifier learns its Alertmanagers from service
	# discovery, which reports at most every 5 s: an alert sent before
	# that is dropped and sent again a minute later.
	sleep 10
	detect_run "$name" "$rport" -write "http://127.0.0.1:$pport/api/v1/write" "$@"
	stop
	pid=$ampid ampid=
	stop
}

run_ruleeval() {
	log "building the ruler's benchmarks"
	go test -c -o "$tmp/ruler.test" ./ruler
	wait_quiet "rule evaluation"
	log "ruleeval: -bench $RULE_BENCH -benchtime 3x (1M series take a few minutes to load)"
	(cd "$root/ruler" && /usr/bin/time -v -o "$tmp/ruleeval.time" "$tmp/ruler.test" -test.run '^$' -test.bench "$RULE_BENCH" \
		-test.benchtime 3x -test.benchmem -test.timeout 60m) | tee "$base_out-ruleeval.txt" | tee -a "$OUT" || log "ruleeval failed"
	{
		echo
		echo "- ruleeval: peak RSS of the benchmark process (all variants in one process): $(awk -F': ' '/Maximum resident/ { printf "%.0f MiB", $2 / 1024 }' "$tmp/ruleeval.time"), elapsed $(awk -F': ' '/Elapsed/ { print $2 }' "$tmp/ruleeval.time")"
	} | tee -a "$OUT"
}

for t in $TARGETS; do
	case $t in
	vigil) run_vigil || log "vigil run failed" ;;
	peer-tuned)
		run_peer peer-tuned 1 -trials "$TUNED_TRIALS" -warmup 1 -concurrency 1 -gap 1s -resolve -timeout 60s ||
			log "peer-tuned run failed"
		;;
	peer-default)
		# Each trial takes 30-90 s here: all run at once, their starts
		# spread at random, and nobody waits for resolutions (the default
		# group_interval is 5 minutes).
		run_peer peer-default 0 -trials "$DEFAULT_TRIALS" -warmup 0 -concurrency "$DEFAULT_TRIALS" -gap "$DEFAULT_GAP" -timeout 300s ||
			log "peer-default run failed"
		;;
	ruleeval) run_ruleeval ;;
	*) log "unknown target $t" ;;
	esac
done

# Ratios of the webhook latency quantiles: each chain over Vigil.
q() { fig "$base_out-$1.json" ".figures[] | select(.name == \"webhook_ms\") | .latency.$2"; }
ratio() { [[ -n $1 && -n $2 ]] && awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b }' || true; }
{
	echo
	echo "| webhook latency | vigil | peer-tuned | peer-default | tuned/vigil | default/vigil |"
	echo "|---|---:|---:|---:|---:|---:|"
	for p in p50Ms p90Ms p99Ms maxMs; do
		v=$(q vigil $p) t=$(q peer-tuned $p) d=$(q peer-default $p)
		printf '| %s (ms) | %s | %s | %s | %s | %s |\n' "${p%Ms}" "$(fmtn "$v" %.0f)" "$(fmtn "$t" %.0f)" "$(fmtn "$d" %.0f)" "$(ratio "$t" "$v")" "$(ratio "$d" "$v")"
	done
	echo
	for n in "${quiet_notes[@]}"; do echo "- quiet wait: $n"; done
	echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
} | tee -a "$OUT"
log "results in $OUT"
