#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need (npm
# packages, Debian's chromium, PostgreSQL, the hypervisor stack), then lint,
# typecheck, unit + integration tests (SQLite, and the data layer on
# PostgreSQL too), browser tests against a production build, and the real-VM
# end-to-end test. Ends with one summary line "N passed, N failed".
#   TWARGA_SKIP_REAL_VMS=1  skips the real-VM stage (e.g. on a host without libvirt)
source "$(dirname "$0")/lib.sh"

RESULTS="$(mktemp -d /tmp/twarga-results.XXXXXX)"
STARTED_AT=$(date +%s)
stage() { log "== $1 ($(( $(date +%s) - STARTED_AT ))s)"; }

cleanup() {
  local rc=$?
  [ -n "${PG_STOP:-}" ] && bash tests/support/postgres.sh stop >/dev/null 2>&1 || true
  [ -n "${LIBVIRT_STOP:-}" ] && bash scripts/host-setup.sh --stop >/dev/null 2>&1 || true
  exit $rc
}
trap cleanup EXIT

stage "packages"
apt_install chromium postgresql prometheus
# The tests start their own Prometheus (tests/support/prometheus.ts); the service the package installs must not run alongside.
systemctl disable --now prometheus prometheus-node-exporter >/dev/null 2>&1 || true
ensure_node_modules
if [ "${TWARGA_SKIP_REAL_VMS:-0}" != "1" ]; then
  # The hypervisor stack: real `vagrant validate` in the unit tests, real VMs at the end.
  pgrep -x libvirtd >/dev/null || LIBVIRT_STOP=1
  bash scripts/host-setup.sh
else
  # The host readiness check behind VM actions runs the real qemu and virsh
  # (virsh against libvirt's test driver) even with the stand-in vagrant.
  apt_install qemu-system-x86 libvirt-clients openssh-client e2fsprogs
fi

stage "lint"
npx eslint . --max-warnings=0
npx prettier --check "**/*.{ts,tsx,js,mjs,cjs,css,json}" --log-level warn
stage "typecheck"
npx tsc --noEmit

stage "PostgreSQL"
eval "$(bash tests/support/postgres.sh start)"
PG_STOP=1
export TEST_POSTGRES_URL
log "PostgreSQL at $TEST_POSTGRES_URL"

stage "unit and integration tests (vitest)"
vitest_rc=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$RESULTS/vitest.json" || vitest_rc=$?

stage "production build"
rm -rf .next
npx next build >"$RESULTS/build.log" 2>&1 || { cat "$RESULTS/build.log"; die "next build failed"; }

stage "browser tests (playwright, Debian chromium)"
e2e_rc=0
PLAYWRIGHT_JSON_OUTPUT_NAME="$RESULTS/playwright.json" npx playwright test --reporter=list,json || e2e_rc=$?

real_rc=0
if [ "${TWARGA_SKIP_REAL_VMS:-0}" != "1" ] && [ -x tests/real-vms/run.sh ]; then
  stage "real VMs (libvirt + QEMU + Vagrant)"
  RESULTS_DIR="$RESULTS" bash tests/real-vms/run.sh || real_rc=$?
fi

stage "summary"
node scripts/test-summary.mjs "$RESULTS"
[ $vitest_rc -eq 0 ] && [ $e2e_rc -eq 0 ] && [ $real_rc -eq 0 ]
