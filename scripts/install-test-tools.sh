#!/usr/bin/env bash
# Installs the outside tools chartd's tests use, from Debian's packages:
#   promtool (package prometheus): required; checks and unit-tests the alert rules
#            and lints /metrics (test/deploy, test/diagnostics).
#   go       (package golang-go): required; the end-to-end leak test (test/e2e/leak.e2e.ts,
#            `npm run test:leak-e2e`) runs the `go tool pprof -top` command a leak
#            verdict's log line gives, as an operator would (outside CI it decodes the
#            profile itself without go, as test/diagnostics does).
#   redis-server (package redis-server) and PostgreSQL's initdb/pg_ctl/postgres
#            (package postgresql, under /usr/lib/postgresql/*/bin): required; the
#            shared chart stores are tested against private servers that the tests
#            start on loopback and free ports (test/helpers/servers.ts). The
#            packages' own services are not used (nor started without an init system).
#   haproxy  (package haproxy): required; several chartd replicas are tested behind it
#            (test/deploy/replicas.test.ts, bench/replicas.ts), started by the tests
#            with a generated configuration (test/helpers/replicas.ts). Debian puts it
#            in /usr/sbin; its own service is not used.
#   kubectl  (package kubernetes-client): required; `kubectl kustomize deploy/k8s`
#            renders the Kubernetes manifests, which test/deploy/k8s.test.ts then
#            checks offline (no cluster is contacted). A kubectl already on PATH (any
#            build from 1.14 on) is used as it is.
# Idempotent: does nothing for a tool already on PATH.
set -euo pipefail

need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
have_postgres() { compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; }
have_postgres || need+=(postgresql)
have_haproxy() { command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ]; }
have_haproxy || need+=(haproxy)
command -v kubectl >/dev/null 2>&1 || need+=(kubernetes-client)
optional=()
command -v go >/dev/null 2>&1 || need+=(golang-go)

if [ ${#need[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ]; then
  echo "test tools present: $(promtool --version 2>&1 | head -n 1); $(go version); $(redis-server --version | cut -d' ' -f1-3); $(ls -d /usr/lib/postgresql/*/bin | head -n 1); $(PATH="$PATH:/usr/sbin" haproxy -v | head -n 1 | cut -d' ' -f1-3)"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  if [ ${#need[@]} -gt 0 ]; then
    echo "install-test-tools: ${need[*]} missing and apt-get is not available; install Prometheus (it ships promtool), Redis, PostgreSQL and HAProxy" >&2
    exit 1
  fi
  exit 0
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then as_root=(sudo); else
    echo "install-test-tools: need root (or sudo) to apt-get install ${need[*]} ${optional[*]}" >&2
    exit 1
  fi
fi

apt_install() {
  # --no-install-recommends: only the binaries are needed. The prometheus service
  # is not started where there is no init system (CI containers).
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" >/dev/null
}

echo "install-test-tools: installing ${need[*]} ${optional[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
if [ ${#need[@]} -gt 0 ]; then apt_install "${need[@]}"; fi
if [ ${#optional[@]} -gt 0 ]; then apt_install "${optional[@]}" || echo "install-test-tools: ${optional[*]} not installed; tests that use it will decode profiles themselves" >&2; fi

command -v promtool >/dev/null 2>&1 || { echo "install-test-tools: promtool is still not on PATH" >&2; exit 1; }
command -v redis-server >/dev/null 2>&1 || { echo "install-test-tools: redis-server is still not on PATH" >&2; exit 1; }
have_postgres || { echo "install-test-tools: no /usr/lib/postgresql/*/bin/initdb after installing postgresql" >&2; exit 1; }
command -v go >/dev/null 2>&1 || { echo "install-test-tools: go is still not on PATH after installing golang-go" >&2; exit 1; }
have_haproxy || { echo "install-test-tools: haproxy is still not on PATH nor in /usr/sbin" >&2; exit 1; }
command -v kubectl >/dev/null 2>&1 || { echo "install-test-tools: kubectl is still not on PATH after installing kubernetes-client" >&2; exit 1; }
echo "test tools: $(promtool --version 2>&1 | head -n 1); $(go version 2>/dev/null || echo 'go: not installed')"
