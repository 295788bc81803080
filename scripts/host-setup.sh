#!/usr/bin/env bash
# Prepares this host to run real VMs: the hypervisor packages, the libvirt
# daemons, and a libvirt that answers on qemu:///system. Idempotent: every step
# checks first and does nothing when the host already has it.
#
#   scripts/host-setup.sh           install what is missing, start what is stopped, check
#   scripts/host-setup.sh --check   only check and report (changes nothing)
#   scripts/host-setup.sh --stop    stop the daemons this script started (by their PID files)
#
# Settings: LIBVIRT_URI (default qemu:///system), TWARGA_RUN_DIR (PID files and
# daemon logs, default /run/twarga).
# Exit status: 0 when `virsh -c $LIBVIRT_URI version` answers; 1 otherwise, after
# printing what is missing and how to fix it.
set -euo pipefail
# What this writes (daemon logs, PID files) is read by other users and tools:
# never inherit a caller's restrictive umask.
umask 022

LIBVIRT_URI="${LIBVIRT_URI:-qemu:///system}"
RUN_DIR="${TWARGA_RUN_DIR:-/run/twarga}"
MODE="${1:-setup}"

# Everything a vagrant-libvirt guest under QEMU needs, plus the box build tools.
PACKAGES=(
  qemu-system-x86 qemu-utils
  libvirt-daemon-system libvirt-clients libvirt-daemon-driver-qemu
  dnsmasq-base iptables
  vagrant vagrant-libvirt
  debootstrap syslinux syslinux-common mtools dosfstools e2fsprogs fdisk openssh-client
)

log() { printf '[host-setup] %s\n' "$*"; }
fail() {
  printf '[host-setup] NOT READY: %s\n' "$1" >&2
  shift
  for line in "$@"; do printf '[host-setup]   %s\n' "$line" >&2; done
  exit 1
}

# `virsh list` answers in milliseconds; `virsh version` takes seconds (it probes
# the host), so it runs once, to report, after the daemon answers.
virsh_answers() { timeout 10 virsh -c "$LIBVIRT_URI" list --name >/dev/null 2>&1; }
systemd_runs() { [ -d /run/systemd/system ]; }
# A daemon counts as ours when its PID file under RUN_DIR names a live process.
pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
daemon_running() { pid_alive "$RUN_DIR/$1.pid" || pgrep -x "$1" >/dev/null 2>&1; }

missing_packages() {
  local pkg missing=()
  for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  echo "${missing[*]:-}"
}

stop_ours() {
  local name pidfile pid
  for name in libvirtd virtlogd; do
    pidfile="$RUN_DIR/$name.pid"
    if pid_alive "$pidfile"; then
      pid="$(cat "$pidfile")"
      log "stopping $name (pid $pid)"
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$pidfile"
  done
}

report_versions() {
  log "ready: $(timeout 20 virsh -c "$LIBVIRT_URI" version 2>/dev/null | grep -E 'Running hypervisor|Using library' | sed 's/^ *//' | paste -sd';' -)"
  command -v vagrant >/dev/null && log "$(vagrant --version 2>/dev/null); plugins: $(vagrant plugin list 2>/dev/null | paste -sd',' -)"
}

check_only() {
  local missing
  missing="$(missing_packages)"
  [ -z "$missing" ] || log "missing packages: $missing (install: apt-get install --no-install-recommends $missing)"
  if virsh_answers; then report_versions; exit 0; fi
  fail "libvirt does not answer on $LIBVIRT_URI" "run as root: bash scripts/host-setup.sh"
}

case "$MODE" in
  --stop) stop_ours; exit 0 ;;
  --check) check_only ;;
  setup) ;;
  *) echo "usage: $0 [--check|--stop]" >&2; exit 2 ;;
esac

# Fast path: nothing to do.
if [ -z "$(missing_packages)" ] && virsh_answers; then report_versions; exit 0; fi

# --- What this host must be before we can change anything -------------------
if [ "$(uname -s)" != "Linux" ]; then
  fail "this is $(uname -s); VMs need a Linux host with libvirt and QEMU" \
    "run Twarga Cloud's VM features on Debian 12 or Ubuntu 22.04+; the app still starts here with VM actions disabled"
fi
. /etc/os-release 2>/dev/null || true
case " ${ID:-} ${ID_LIKE:-} " in
  *" debian "* | *" ubuntu "*) ;;
  *)
    fail "unsupported distribution '${PRETTY_NAME:-unknown}': this script installs with apt" \
      "install yourself: QEMU (x86_64 system emulator), libvirt daemon + client (virsh), dnsmasq, Vagrant and the vagrant-libvirt plugin" \
      "then start libvirtd and check: virsh -c $LIBVIRT_URI version"
    ;;
esac
if [ "$(id -u)" -ne 0 ]; then
  missing="$(missing_packages)"
  if [ -z "$missing" ] && daemon_running libvirtd; then
    fail "libvirtd runs, but user $(id -un) cannot use $LIBVIRT_URI" \
      "add the user to the libvirt group: sudo usermod -aG libvirt $(id -un) (then log in again)" \
      "or run the app as root; meanwhile it starts with VM actions disabled"
  fi
  fail "not root: installing packages and starting libvirtd need root" \
    "missing packages: ${missing:-none}; libvirtd: $(daemon_running libvirtd && echo running || echo 'not running')" \
    "run: sudo bash scripts/host-setup.sh" \
    "or ask an administrator to run it; the app starts meanwhile with VM actions disabled"
fi

# --- Packages ----------------------------------------------------------------
missing="$(missing_packages)"
if [ -n "$missing" ]; then
  log "installing: $missing"
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086 # a word list on purpose
  if ! apt-get -o DPkg::Lock::Timeout=120 install -y -q --no-install-recommends $missing >/dev/null 2>&1; then
    apt-get -o DPkg::Lock::Timeout=120 update -q >/dev/null
    # shellcheck disable=SC2086
    apt-get -o DPkg::Lock::Timeout=120 install -y -q --no-install-recommends $missing ||
      fail "apt-get could not install: $missing" "check the apt sources and network, then run again"
  fi
fi

# --- /dev/kvm as udev would leave it -----------------------------------------
# Debian's udev rules make /dev/kvm root:kvm 0660; without udev (containers) it
# can stay root-only. libvirt then finds KVM unusable for its QEMU user while
# its cached QEMU capabilities say KVM, throws the cache away and probes QEMU
# again at every start: a minute under emulation before the first VM starts.
if [ -c /dev/kvm ] && getent group kvm >/dev/null && [ "$(stat -c %G:%a /dev/kvm)" != "kvm:660" ]; then
  log "giving /dev/kvm to group kvm, mode 0660 (as Debian's udev rules do)"
  chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
fi

# --- Daemons -----------------------------------------------------------------
mkdir -p "$RUN_DIR"
if systemd_runs; then
  daemon_running virtlogd || systemctl start virtlogd.socket virtlogd.service
  daemon_running libvirtd || systemctl start libvirtd.service
else
  # No init system to ask: start them ourselves and keep their PIDs to stop them later.
  if ! daemon_running virtlogd; then
    log "starting virtlogd (pid file $RUN_DIR/virtlogd.pid)"
    virtlogd --daemon --pid-file "$RUN_DIR/virtlogd.pid" </dev/null >>"$RUN_DIR/virtlogd.log" 2>&1
  fi
  if ! daemon_running libvirtd; then
    log "starting libvirtd (pid file $RUN_DIR/libvirtd.pid)"
    LIBVIRT_LOG_OUTPUTS="3:file:$RUN_DIR/libvirtd.log" \
      libvirtd --daemon --pid-file "$RUN_DIR/libvirtd.pid" </dev/null >>"$RUN_DIR/libvirtd.log" 2>&1
  fi
fi

for _ in $(seq 1 60); do
  if virsh_answers; then report_versions; exit 0; fi
  sleep 0.5
done
fail "libvirtd started but $LIBVIRT_URI does not answer within 30 s" \
  "see $RUN_DIR/libvirtd.log; check: virsh -c $LIBVIRT_URI version"
