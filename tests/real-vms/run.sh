#!/usr/bin/env bash
# End-to-end on the real hypervisor (libvirt + QEMU + Vagrant + vagrant-libvirt):
#   1. host setup (packages, daemons) and the local box (cached);
#   2. a plain Vagrant project with a Vagrantfile like the app generates:
#      up, status, ssh-config, ssh uptime, the disk grown to the asked size,
#      the domstats reader's CPU % under a busy loop vs idle, halt, destroy;
#      then no domain, volume or network of it is left;
#   3. the app's own VM lifecycle (src/server/vms with the real vagrant):
#      tests/real-vms/lifecycle.test.ts — create, SSH details, metrics, stop,
#      start, restart, destroy, two at once, libvirtd stopped while VMs run,
#      vagrant up killed mid-boot. Skip it with REAL_VMS_APP=0.
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
PROJECT="$WORK/e2e$(date +%s)"
DOMAIN="$(basename "$PROJECT")_default"
# The app's VM folders for part 3, named <vm id>; their domains <vm id>_default.
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
  local folder domain
  for folder in "$PROJECT" "$VM_ROOT"/*; do
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
  # The plain Vagrant lifecycle (part 2) counts as one test in the summary.
  if [ -n "${RESULTS_DIR:-}" ]; then
    printf '{"passed": %d, "failed": %d}\n' "${PLAIN_PASSED:-0}" $((1 - ${PLAIN_PASSED:-0})) >"$RESULTS_DIR/real-vms.json"
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

# --- 2. A plain Vagrant project ----------------------------------------------
mkdir -p "$PROJECT"
cat >"$PROJECT/Vagrantfile" <<EOF
# Shaped like the app's generated Vagrantfile (src/server/vms/vagrantfile.ts).
Vagrant.configure("2") do |config|
  config.vm.box = '$BOX_NAME'
  config.vm.hostname = 'e2e'
  config.vm.synced_folder ".", "/vagrant", disabled: true
  config.ssh.insert_key = false

  config.vm.provider :libvirt do |lv|
    lv.uri = '$LIBVIRT_URI'
    lv.driver = "qemu"
    lv.cpus = 1
    lv.memory = 512
    lv.machine_virtual_size = 4
  end
end
EOF
cd "$PROJECT"

step "vagrant validate"
"$VAGRANT_BIN" validate
done_step

step "vagrant up"
"$VAGRANT_BIN" up --provider=libvirt --machine-readable >"$WORK/up.log" 2>&1 || { tail -n 40 "$WORK/up.log"; fail "vagrant up"; }
grep -q ',action,up,end' "$WORK/up.log" || fail "vagrant up did not report action,up,end"
done_step

step "vagrant status / ssh-config / ssh uptime"
"$VAGRANT_BIN" status --machine-readable | grep -q ',default,state,running' || fail "status is not running"
"$VAGRANT_BIN" ssh-config >"$WORK/ssh-config"
IP="$(awk '$1=="HostName"{print $2}' "$WORK/ssh-config")"
[[ "$IP" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "no IP address in ssh-config"
echo "[real-vms] guest address $IP"
# The same SSH details the app shows: plain ssh with the ssh-config file.
UPTIME="$(ssh -F "$WORK/ssh-config" default uptime)"
echo "[real-vms] uptime: $UPTIME"
[[ "$UPTIME" == *"load average"* ]] || fail "uptime did not run in the guest"
UUID="$(cat .vagrant/machines/default/libvirt/id)"
[ "$(virsh domname "$UUID")" = "$DOMAIN" ] || fail "the recorded UUID is not domain $DOMAIN"
done_step

step "guest: root grown to the asked disk, balloon driver"
ROOT_KB="$(ssh -F "$WORK/ssh-config" default "df -k --output=size / | tail -n1" | tr -d ' ')"
echo "[real-vms] root filesystem ${ROOT_KB} KiB for a 4 GiB disk"
[ "$ROOT_KB" -gt $((3 * 1024 * 1024)) ] || fail "the root filesystem was not grown to the disk size"
done_step

step "domstats reader: CPU idle vs busy"
(cd "$ROOT" && npx tsx tests/real-vms/measure-cpu.ts "$PROJECT") | tee "$WORK/cpu.log"
grep -q '^cpu check passed' "$WORK/cpu.log" || fail "CPU check"
done_step

step "vagrant halt"
"$VAGRANT_BIN" halt --machine-readable >"$WORK/halt.log" 2>&1 || { tail -n 20 "$WORK/halt.log"; fail "vagrant halt"; }
"$VAGRANT_BIN" status --machine-readable | grep -q ',default,state,shutoff' || fail "status after halt is not shutoff"
done_step

step "vagrant destroy"
"$VAGRANT_BIN" destroy -f >/dev/null
"$VAGRANT_BIN" status --machine-readable | grep -q ',default,state,not_created' || fail "status after destroy is not not_created"
done_step

step "nothing left behind"
virsh dominfo "$DOMAIN" >/dev/null 2>&1 && fail "domain $DOMAIN still exists"
check_nothing_left
done_step

PLAIN_PASSED=1

# --- 3. The app's own lifecycle ----------------------------------------------
if [ "${REAL_VMS_APP:-1}" = 1 ]; then
  step "app lifecycle (src/server/vms, real vagrant)"
  cd "$ROOT"
  # With RESULTS_DIR (scripts/test.sh), the counts go into the suite's summary.
  npx vitest run --config tests/real-vms/vitest.config.ts ${RESULTS_DIR:+--reporter=default --reporter=json --outputFile.json="$RESULTS_DIR/real-vms-vitest.json"}
  done_step

  step "nothing left behind by the app"
  check_nothing_left
  done_step
fi
