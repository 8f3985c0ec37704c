# Shell helpers the bench run.sh scripts share (sourced, not run). They
# use the caller's $pid (the server under test) and set $stopped.

log() { echo "run.sh: $(date -u +%H:%M:%S) $*" >&2; }
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
hz=$(getconf CLK_TCK)
cpu() { awk -v hz="$hz" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
hwm() { awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
bytes() { du -s --block-size=1 "$@" 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; } # allocated
apparent() { du -sb "$@" 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }
wait_http() { # url seconds
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		if [[ $(curl -s -o /dev/null -w '%{http_code}' "$1" || true) == 200 ]]; then return 0; fi
		if ! kill -0 "$pid" 2>/dev/null; then return 1; fi
		sleep 0.1
	done
	return 1
}
stop() { # SIGTERM and wait (not in a subshell: only the parent can wait)
	local t0=$EPOCHREALTIME
	kill -TERM "$pid"
	wait "$pid" || true
	pid=
	stopped=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
}
fig() { # file jq-expr
	[[ -f $1 ]] && jq -r "$2 // empty" "$1" 2>/dev/null || true
}
fmtn() { [[ -z $1 ]] && return; awk -v x="$1" -v f="$2" 'BEGIN { printf f, x }'; }
load1() { cut -d' ' -f1 /proc/loadavg; }
# wait_quiet waits until the 1-minute load average is under QUIET, polling
# every 30 s for at most QUIET_MAX s, and says how long it waited.
quiet_notes=()
wait_quiet() { # what
	[[ $QUIET == 0 ]] && return 0
	local t0=$SECONDS
	while awk -v l="$(load1)" -v q="$QUIET" 'BEGIN { exit !(l >= q) }'; do
		if ((SECONDS - t0 >= QUIET_MAX)) || ((${QUIET_UNTIL:-0} > 0 && $(date +%s) >= QUIET_UNTIL)); then
			log "load $(load1) still not under $QUIET after $((SECONDS - t0)) s: running $1 anyway"
			quiet_notes+=("$1: load average still $(cut -d' ' -f1-3 /proc/loadavg) after waiting $((SECONDS - t0)) s (ran anyway)")
			return 0
		fi
		log "waiting for a quiet machine before $1: load $(load1)"
		sleep 30
	done
	quiet_notes+=("$1: load average $(cut -d' ' -f1-3 /proc/loadavg) at start (waited $((SECONDS - t0)) s)")
}
