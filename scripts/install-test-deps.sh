#!/usr/bin/env bash
# Installs what the test suite drives, on a fresh Debian 12 machine (CI) or
# this one; quick when everything is present. Versions are pinned so a run
# tests the same clients every time.
set -euo pipefail
cd "$(dirname "$0")/.."

PIP_PACKAGES=(
  prometheus_client==0.26.0
  opentelemetry-api==1.45.1
  opentelemetry-sdk==1.45.1
  opentelemetry-exporter-otlp==1.45.1
  # TestPythonFlaskTraces: zero-code instrumentation (opentelemetry-instrument
  # comes with the distro); contrib 0.66b1 goes with SDK 1.45.1.
  opentelemetry-distro==0.66b1
  opentelemetry-instrumentation-flask==0.66b1
  opentelemetry-instrumentation-requests==0.66b1
  structlog==26.1.0
  flask==3.1.3
  werkzeug==3.1.8
  requests==2.34.2
)
TELEMETRYGEN=github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen@v0.161.0
# logcli, Grafana Loki's query client, for TestLogsLogcli. It is a test
# tool only, built outside the repository; nothing of Loki is linked into
# Vigil. `go install` refuses it (Loki's go.mod has replace directives,
# one to a nested module the zip lacks), so it is built from the module
# source with that nested module put in place.
LOKI_VERSION=v3.5.0
LOKI_PUSH=github.com/grafana/loki/pkg/push@v0.0.0-20240924133635-758364c7775f
# rsyslog: TestLogsSyslog runs rsyslogd in the foreground with its own
# configuration; logger (bsdutils, util-linux) sends syslog messages.
APT_PACKAGES=(prometheus prometheus-node-exporter prometheus-alertmanager chromium curl rsyslog bsdutils)

say() { echo "install-test-deps: $*"; }
sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for bin in prometheus promtool prometheus-node-exporter prometheus-alertmanager chromium curl rsyslogd logger; do
  # rsyslogd is in /usr/sbin, which a non-root PATH may lack.
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || missing+=("$bin")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "apt: installing ${APT_PACKAGES[*]} (missing: ${missing[*]})"
  export DEBIAN_FRONTEND=noninteractive
  sudo_ apt-get update -qq
  sudo_ apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
  # Debian starts the services it installs; the tests run their own on
  # free ports, and the defaults (9090, 9093, 9100) must stay free. The
  # system rsyslog is not wanted either: the tests run their own rsyslogd.
  for svc in prometheus prometheus-node-exporter prometheus-alertmanager rsyslog syslog.socket; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
      sudo_ systemctl disable --now "$svc" >/dev/null 2>&1 || true
    else
      sudo_ service "$svc" stop >/dev/null 2>&1 || true
    fi
  done
  pkill -x prometheus 2>/dev/null || true
  pkill -x prometheus-node-exporter 2>/dev/null || true
  pkill -x prometheus-alertmanager 2>/dev/null || true
else
  say "apt: everything present"
fi

# True when every pinned package is installed at its pinned version.
pip_pinned_present() {
  python3 - "${PIP_PACKAGES[@]}" <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version
for spec in sys.argv[1:]:
    name, _, want = spec.partition("==")
    try:
        if want and version(name) != want:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
}

if pip_pinned_present; then
  say "pip: everything present"
else
  say "pip: installing ${PIP_PACKAGES[*]}"
  python3 -m pip install -q --disable-pip-version-check "${PIP_PACKAGES[@]}"
fi

if [ -f e2e/ui/package-lock.json ] && [ ! -d e2e/ui/node_modules/playwright-core ]; then
  say "npm: installing e2e/ui (playwright-core)"
  (cd e2e/ui && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ ! -d e2e/duckdb/node_modules/@duckdb/node-api ]; then
  say "npm: installing e2e/duckdb (@duckdb/node-api)"
  (cd e2e/duckdb && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ ! -d ui/node_modules/esbuild ]; then
  say "npm: installing ui (esbuild, uPlot)"
  (cd ui && npm ci --no-audit --no-fund --loglevel=error)
fi

gobin=$(go env GOPATH)/bin
if [ ! -x "$gobin/telemetrygen" ]; then
  say "go install $TELEMETRYGEN"
  go install "$TELEMETRYGEN"
fi
if [ ! -x "$gobin/logcli" ]; then
  say "building logcli $LOKI_VERSION (a few minutes, once)"
  tmp=$(mktemp -d)
  src=$(go mod download -json "github.com/grafana/loki/v3@$LOKI_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  push=$(go mod download -json "$LOKI_PUSH" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  cp -r "$src" "$tmp/loki"
  chmod -R u+w "$tmp/loki"
  rm -rf "$tmp/loki/pkg/push"
  cp -r "$push" "$tmp/loki/pkg/push"
  chmod -R u+w "$tmp/loki/pkg/push"
  (cd "$tmp/loki" && go build -trimpath -o "$gobin/logcli" ./cmd/logcli)
  rm -rf "$tmp"
fi
say "done"
