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
