#!/usr/bin/env bash
# Installs the tools the deploy tests need: promtool (Debian's `prometheus`
# package), used by test/deploy/alert-rules.test.ts to check and unit-test
# deploy/prometheus/alerts.yml.
# Idempotent: exits 0 at once when promtool is already on PATH.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
  echo "promtool present: $(promtool --version 2>&1 | head -n 1)"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-tools: promtool is missing and apt-get is not available;" >&2
  echo "install Prometheus (which ships promtool) from https://prometheus.io/download/ and put promtool on PATH" >&2
  exit 1
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "install-test-tools: promtool is missing; need root (or sudo) to apt-get install prometheus" >&2
    exit 1
  fi
fi

echo "install-test-tools: installing Debian's prometheus package for promtool"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# --no-install-recommends: only promtool is needed, not node-exporter & co.
# The package's service is not started where there is no init system (CI containers).
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold prometheus >/dev/null

if ! command -v promtool >/dev/null 2>&1; then
  echo "install-test-tools: installed prometheus but promtool is still not on PATH" >&2
  exit 1
fi
echo "promtool installed: $(promtool --version 2>&1 | head -n 1)"
