#!/usr/bin/env bash
# End-to-end on the real hypervisor (libvirt + QEMU + Vagrant + vagrant-libvirt):
#   1. host setup (packages, daemons) and the local box (cached);
#   2. the app (production build, real vagrant) driven in Debian's chromium:
#      tests/real-vms/lifecycle.spec.ts — sign in, two VMs launched at once
#      reach RUNNING with an address, SSH with the shown command, CPU tiles
#      under a busy loop vs idle, stop/start/restart, libvirtd stopped while
#      VMs run, destroy with nothing left, `vagrant up` killed mid-boot.
# Everything it starts is removed on exit, also on failure (trap): guests,
# their volumes, the network when it created it, and the daemons when it
# started them (by their PID files).
#
#   sudo bash tests/real-vms/run.sh
#
# Settings: DATA_DIR (default ./data; the box goes to <DATA_DIR>/vagrant.d like
# the app's), REAL_VMS_KEEP=1 keeps the work folder for inspection.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
export DATA_DIR="$(realpath -m "${DATA_DIR:-$ROOT/data}")"
export VAGRANT_HOME="$(realpath -m "${VAGRANT_HOME:-$DATA_DIR/vagrant.d}")"
export LIBVIRT_URI="${LIBVIRT_URI:-qemu:///system}"
export VAGRANT_BIN="${VAGRANT_BIN:-/usr/bin/vagrant}"
# Vagrant resolves the project from the working directory; keep it from finding ours.
unset VAGRANT_CWD VAGRANT_VAGRANTFILE
BOX_NAME="${BOX_NAME:-local/debian12}"
WORK="$(mktemp -d /tmp/twarga-real-vms.XXXXXX)"
# The app's VM folders, named <vm id>; their domains <vm id>_default.
export VM_ROOT="$WORK/vms"
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
  local folder domain pid cwd
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

step "box $BOX_NAME (build or cache)"
bash scripts/build-box.sh
done_step

virsh net-info vagrant-libvirt >/dev/null 2>&1 || NETWORK_EXISTED=0
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
}

# --- 2. The app in the browser -------------------------------------------------
step "app build (when missing)"
[ -f .next/BUILD_ID ] || npx next build >"$WORK/build.log" 2>&1 || { tail -n 40 "$WORK/build.log"; fail "next build"; }
done_step

step "the app's VM lifecycle in the browser"
mkdir -p "$VM_ROOT"
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
