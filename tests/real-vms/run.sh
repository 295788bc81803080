#!/usr/bin/env bash
# End-to-end on the real hypervisor (libvirt + QEMU + Vagrant + vagrant-libvirt),
# on the path a newcomer takes:
#   1. host setup (packages, daemons);
#   2. the README's quick start, `bash scripts/quickstart.sh`, as written, on a
#      clean copy of this checkout (what `git clone` gives: tracked and
#      unignored files, no .env, no data, no build), under a restrictive
#      umask 077 as a newcomer's shell may have: it sets up the host, builds or
#      reuses the box, builds the app and serves it;
#   3. that app, driven in Debian's chromium: tests/real-vms/lifecycle.spec.ts
#      (VMs launched from the page reach RUNNING with an address, SSH, CPU
#      tiles, stop/start/restart, libvirtd stopped while VMs run, destroy with
#      nothing left, `vagrant up` killed mid-boot).
# Everything it starts is removed on exit, also on failure (trap): the app,
# guests, their volumes, networks it created, and the daemons when it started
# them (by their PID files).
#
#   sudo bash tests/real-vms/run.sh
#
# Settings: REAL_VMS_PORT (default 3150; the local identity provider takes the
# next port), REAL_VMS_KEEP=1 keeps the work folder for inspection.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
export LIBVIRT_URI=qemu:///system
export VAGRANT_BIN=/usr/bin/vagrant
# Vagrant resolves the project from the working directory; keep it from finding ours.
unset VAGRANT_CWD VAGRANT_VAGRANTFILE
WORK="$(mktemp -d /tmp/twarga-real-vms.XXXXXX)"
# The newcomer's checkout, and the folders the quick start's app uses in it
# (its defaults): VM folders named <vm id>, their domains <vm id>_default.
CLONE="$WORK/twarga-cloud"
export VAGRANT_HOME="$CLONE/data/vagrant.d"
export VM_ROOT="$CLONE/data/vms"
export REAL_VMS_PORT="${REAL_VMS_PORT:-3150}"
APP_URL="http://localhost:$REAL_VMS_PORT"
APP_PID=""
virsh() { command virsh -c "$LIBVIRT_URI" "$@"; }

T0=$SECONDS
TIMINGS=()
step_start=0
step() { step_start=$SECONDS; printf '\n[real-vms] === %s\n' "$1"; CURRENT_STEP="$1"; }
done_step() { local d=$((SECONDS - step_start)); TIMINGS+=("$(printf '%-44s %4d s' "$CURRENT_STEP" "$d")"); printf '[real-vms] --- %s: %d s\n' "$CURRENT_STEP" "$d"; }
fail() { printf '[real-vms] FAILED: %s\n' "$*" >&2; exit 1; }

# --- Cleanup, also on failure -------------------------------------------------
DAEMONS_WERE_RUNNING=1
NETWORK_EXISTED=1
cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  printf '\n[real-vms] === cleanup (exit %d)\n' "$rc"
  local folder domain pid cwd net
  # The quick start's app first: it would go on starting jobs.
  if [ -n "$APP_PID" ]; then kill -TERM -- "-$APP_PID" 2>/dev/null; sleep 2; kill -KILL -- "-$APP_PID" 2>/dev/null; fi
  # A test may have stopped libvirtd (the fault test) and failed before
  # bringing it back: nothing below can remove a guest without it.
  virsh list --name >/dev/null 2>&1 || bash "$ROOT/scripts/host-setup.sh" >/dev/null 2>&1
  # Vagrant processes the app left behind when it was stopped mid-operation
  # would go on creating what is removed here: end them first.
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    cwd="$(readlink "/proc/$pid/cwd" 2>/dev/null)" || continue
    case "$cwd" in "$VM_ROOT"/*) kill -9 "$pid" 2>/dev/null ;; esac
  done
  for folder in "$VM_ROOT"/*; do
    [ -d "$folder" ] || continue
    domain="$(basename "$folder")_default"
    if [ -d "$folder/.vagrant" ]; then
      (cd "$folder" && timeout 120 "$VAGRANT_BIN" destroy -f >/dev/null 2>&1)
    fi
    # Whatever Vagrant could not remove: the domain and its volumes, by name.
    if virsh dominfo "$domain" >/dev/null 2>&1; then
      echo "[real-vms] removing leftover domain $domain"
      virsh destroy "$domain" >/dev/null 2>&1
      virsh undefine "$domain" --remove-all-storage >/dev/null 2>&1
    fi
    for vol in $(virsh vol-list default 2>/dev/null | awk -v d="$domain" 'index($1, d)==1 {print $1}'); do
      virsh vol-delete --pool default "$vol" >/dev/null 2>&1
    done
  done
  if [ "$NETWORK_EXISTED" = 0 ] && virsh net-info vagrant-libvirt >/dev/null 2>&1 &&
    [ -z "$(virsh list --name | grep -v '^$')" ]; then
    virsh net-destroy vagrant-libvirt >/dev/null 2>&1
    virsh net-undefine vagrant-libvirt >/dev/null 2>&1
  fi
  # Owner networks (twarga-*) this run's app made and left, once no guest uses them.
  for net in $(virsh net-list --all --name 2>/dev/null | grep '^twarga-' || true); do
    grep -qx "$net" <<<"$NETWORKS_BEFORE" && continue
    virsh net-destroy "$net" >/dev/null 2>&1
    virsh net-undefine "$net" >/dev/null 2>&1
  done
  [ "$DAEMONS_WERE_RUNNING" = 0 ] && bash "$ROOT/scripts/host-setup.sh" --stop
  [ "${REAL_VMS_KEEP:-0}" = 1 ] || rm -rf "$WORK"
  printf '\n[real-vms] timings\n'
  printf '  %s\n' "${TIMINGS[@]}"
  printf '  %-44s %4d s\n' "total" $((SECONDS - T0))
  [ "$rc" = 0 ] && echo "[real-vms] PASSED" || echo "[real-vms] FAILED"
  # The stage's outcome; its tests are counted from the browser test's report.
  if [ -n "${RESULTS_DIR:-}" ]; then
    printf '{"passed": %d, "failed": %d}\n' $((rc == 0)) $((rc != 0)) >"$RESULTS_DIR/real-vms.json"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. Host and box ---------------------------------------------------------
step "host setup"
pgrep -x libvirtd >/dev/null || DAEMONS_WERE_RUNNING=0
bash scripts/host-setup.sh
done_step

virsh net-info vagrant-libvirt >/dev/null 2>&1 || NETWORK_EXISTED=0
NETWORKS_BEFORE="$(virsh net-list --all --name 2>/dev/null | sort)"
DOMAINS_BEFORE="$(virsh list --all --name | sort)"
VOLUMES_BEFORE="$( (virsh vol-list default 2>/dev/null || true) | awk 'NR>2 && $1 {print $1}' | sort)"

# The same domains as before, no new volume but the box's base image (kept on
# purpose: every VM of the box is a snapshot of it), and no network we created.
check_nothing_left() {
  [ "$(virsh list --all --name | sort)" = "$DOMAINS_BEFORE" ] || fail "the domain list changed: $(virsh list --all --name | tr '\n' ' ')"
  local left
  left="$(comm -13 <(echo "$VOLUMES_BEFORE") <( (virsh vol-list default 2>/dev/null || true) | awk 'NR>2 && $1 {print $1}' | sort) | grep -v '_vagrant_box_image_' || true)"
  [ -z "$left" ] || fail "volumes left: $left"
  if [ "$NETWORK_EXISTED" = 0 ] && virsh net-info vagrant-libvirt >/dev/null 2>&1; then
    fail "network vagrant-libvirt left behind"
  fi
  [ "$(virsh net-list --all --name 2>/dev/null | sort)" = "$NETWORKS_BEFORE" ] || fail "networks left: $(virsh net-list --all --name | tr '\n' ' ')"
}

# --- 2. The quick start, as the README gives it, on a clean checkout ----------
step "quick start on a clean checkout (umask 077)"
mkdir -p "$CLONE"
# What `git clone` of this checkout holds, with any uncommitted work in it.
git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --files-from=- ./ "$CLONE/"
# The packages are the ones `npm ci` would install from the same lock file;
# hard links save minutes of reinstalling (the quick start checks the lock's hash).
[ -f node_modules/.twarga-lock-hash ] && cp -al node_modules "$CLONE/node_modules"
(
  cd "$CLONE"
  umask 077
  # Only the ports differ from what a newcomer types (this suite runs other apps).
  exec setsid env -u DATA_DIR -u VAGRANT_HOME -u VM_ROOT -u LIBVIRT_URI -u VAGRANT_BIN \
    PORT="$REAL_VMS_PORT" LOCAL_IDP_PORT=$((REAL_VMS_PORT + 1)) bash scripts/quickstart.sh
) >"$WORK/quickstart.log" 2>&1 &
APP_PID=$!
for _ in $(seq 1 1200); do
  curl -fsS "$APP_URL/api/health" >/dev/null 2>&1 && break
  kill -0 "$APP_PID" 2>/dev/null || { tail -n 60 "$WORK/quickstart.log"; fail "the quick start ended before serving the app"; }
  sleep 1
done
curl -fsS "$APP_URL/api/health" >/dev/null || { tail -n 60 "$WORK/quickstart.log"; fail "the quick start's app did not answer within 20 minutes"; }
grep -E '^\[(twarga|build-box|host-setup|check-box-image)\]' "$WORK/quickstart.log" | sed 's/^/  /'
done_step

step "the app's VM lifecycle in the browser"
# With RESULTS_DIR (scripts/test.sh), the counts go into the suite's summary.
if [ -n "${RESULTS_DIR:-}" ]; then
  PLAYWRIGHT_JSON_OUTPUT_NAME="$RESULTS_DIR/real-vms-playwright.json" npx playwright test --config tests/real-vms/playwright.config.ts --reporter=list,json
else
  npx playwright test --config tests/real-vms/playwright.config.ts
fi
done_step

step "nothing left behind by the app"
check_nothing_left
done_step
