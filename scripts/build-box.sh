#!/usr/bin/env bash
# Builds a small Debian 12 box for vagrant-libvirt from Debian's packages and
# adds it to the app's Vagrant (VAGRANT_HOME) as local/debian12.
#
#   scripts/build-box.sh            add the box; build it only when no cached .box exists
#   scripts/build-box.sh --rebuild  build again even when a cached .box exists
#
# Cached twice: when Vagrant already has the box of this recipe (see RECIPE
# below) it takes a couple of seconds; the built .box file is kept in
# BOX_CACHE_DIR (default /var/cache/twarga, which survives between runs on the
# same machine) so a fresh VAGRANT_HOME only needs `vagrant box add` (seconds).
# Building takes about 2 minutes on an idle 2-core machine (packages are cached
# in BOX_CACHE_DIR/debs after the first build).
#
# The box holds only what Vagrant needs: systemd, sshd, a `vagrant` user with
# Vagrant's insecure public key and passwordless sudo, eth0 on DHCP. The disk is
# built without loop devices or mounts: an MBR image with a FAT partition booted
# by syslinux and an ext4 root made by `mkfs.ext4 -d`.
#
# Settings: DATA_DIR (default ./data), VAGRANT_HOME (default <DATA_DIR>/vagrant.d),
# BOX_NAME (default local/debian12), BOX_CACHE_DIR (default /var/cache/twarga),
# DEBIAN_MIRROR (default: the Debian archive in this machine's apt sources),
# VAGRANT_BIN (default vagrant).
set -euo pipefail
# The box's files belong to other users inside the guest (systemd-networkd runs
# as systemd-network, sshd reads its config after dropping privileges): they
# must not inherit a caller's restrictive umask (a quick start once leaked 077
# into the box and no guest ever brought its network up).
BOX_UMASK=022
umask "$BOX_UMASK"
# Bumped whenever check_box_image checks something new, so boxes the older
# check passed are not reused.
BOX_CHECK_VERSION=1
BOX_CHECK="$(dirname "${BASH_SOURCE[0]}")/check-box-image.sh"

BOX_NAME="${BOX_NAME:-local/debian12}"
SUITE=bookworm
DATA_DIR="$(realpath -m "${DATA_DIR:-./data}")"
export VAGRANT_HOME="$(realpath -m "${VAGRANT_HOME:-$DATA_DIR/vagrant.d}")"
CACHE_DIR="$(realpath -m "${BOX_CACHE_DIR:-/var/cache/twarga}")"
VAGRANT_BIN="${VAGRANT_BIN:-vagrant}"
log() { printf '[build-box] %s\n' "$*"; }
die() { printf '[build-box] ERROR: %s\n' "$*" >&2; exit 1; }

# The Debian archive this machine's apt already uses: a `deb` line of
# sources.list or the URIs field of a deb822 stanza whose suites include $SUITE.
apt_mirror() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    # deb [options] URI SUITE COMPONENTS...
    sed -e 's/\[[^]]*\]//' "$f" | awk -v suite="$SUITE" '$1=="deb" && $3==suite { print $2; exit }'
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$SUITE" 'BEGIN{RS=""; FS="\n"} {
      uri=""; ok=0; deb=0
      for (i=1;i<=NF;i++) {
        if ($i ~ /^URIs:/) { split($i, a, /[ \t]+/); uri=a[2] }
        if ($i ~ /^Types:/ && $i ~ /(^|[ \t])deb([ \t]|$)/) deb=1
        if ($i ~ /^Suites:/) { n=split($i, s, /[ \t]+/); for (j=2;j<=n;j++) if (s[j]==suite) ok=1 }
        if ($i ~ /^Enabled:[ \t]*no/) ok=0
      }
      if (deb && ok && uri!="") { print uri; exit } }' "$f"
  done
}
MIRROR="${DEBIAN_MIRROR:-$(apt_mirror | head -n1)}"
# The recipe is everything the box depends on: this script, the suite, the
# mirror, the umask it builds under and the image check's version. Any change
# means a different box, so the cached .box file and the box in Vagrant are
# keyed by its hash, and a box from an older (or broken) recipe is never reused.
RECIPE="$({ sha256sum "${BASH_SOURCE[0]}" "$BOX_CHECK" | cut -d' ' -f1; echo "$SUITE $MIRROR umask=$BOX_UMASK check=$BOX_CHECK_VERSION"; } | sha256sum | cut -c1-12)"
BOX_FILE="$CACHE_DIR/${BOX_NAME//\//-}-$RECIPE.box"
RECIPE_MARK="$VAGRANT_HOME/.twarga-${BOX_NAME//\//-}.recipe"
REBUILD=0
[ "${1:-}" = "--rebuild" ] && REBUILD=1
started=$SECONDS

box_present() {
  "$VAGRANT_BIN" box list --machine-readable 2>/dev/null |
    awk -F, -v name="$BOX_NAME" '$3=="box-name"{n=$4} $3=="box-provider"&&n==name&&$4=="libvirt"{found=1} END{exit !found}'
}

# vagrant-libvirt uploads a box into libvirt's pool on its first `vagrant up`
# and never removes it. After (re-)adding the box, earlier uploads of it are
# stale; remove those that no VM's disk is a snapshot of.
prune_stale_box_volumes() {
  local uri="${LIBVIRT_URI:-qemu:///system}" prefix="${BOX_NAME//\//-VAGRANTSLASH-}_vagrant_box_image_" vol backing
  command -v virsh >/dev/null && virsh -c "$uri" pool-info default >/dev/null 2>&1 || return 0
  local volumes
  volumes="$(virsh -c "$uri" vol-list default | awk 'NR>2 && $1 {print $1}')"
  backing="$(for vol in $volumes; do virsh -c "$uri" vol-dumpxml --pool default "$vol" 2>/dev/null |
    sed -n '/<backingStore>/,/<\/backingStore>/s:.*<path>\(.*\)</path>.*:\1:p'; done)"
  for vol in $volumes; do
    case "$vol" in "$prefix"*) ;; *) continue ;; esac
    if ! grep -q "/$vol\$" <<<"$backing"; then
      log "removing the stale box volume $vol"
      virsh -c "$uri" vol-delete --pool default "$vol" >/dev/null
    fi
  done
}

add_box() {
  log "adding $BOX_FILE to Vagrant as $BOX_NAME (VAGRANT_HOME=$VAGRANT_HOME)"
  mkdir -p "$VAGRANT_HOME"
  "$VAGRANT_BIN" box add --force --name "$BOX_NAME" "$BOX_FILE" >/dev/null
  echo "$RECIPE" >"$RECIPE_MARK"
  prune_stale_box_volumes
  log "done in $((SECONDS - started)) s"
}

if [ "$REBUILD" = 0 ] && [ "$(cat "$RECIPE_MARK" 2>/dev/null)" = "$RECIPE" ] && box_present; then
  log "$BOX_NAME already present in $VAGRANT_HOME ($((SECONDS - started)) s)"
  exit 0
fi
if [ "$REBUILD" = 0 ] && [ -s "$BOX_FILE" ]; then
  log "using the cached box file $BOX_FILE"
  add_box
  exit 0
fi

# --- Build -------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || die "building the box needs root (debootstrap); run: sudo bash scripts/build-box.sh"
for tool in debootstrap mkfs.ext4 mkfs.fat syslinux mcopy sfdisk qemu-img; do
  command -v "$tool" >/dev/null || die "$tool is missing; run first: sudo bash scripts/host-setup.sh"
done
VAGRANT_PUB="$(ls /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub /opt/vagrant/embedded/gems/gems/vagrant-*/keys/vagrant.pub 2>/dev/null | head -n1 || true)"
[ -n "$VAGRANT_PUB" ] || die "Vagrant's insecure public key (keys/vagrant.pub) not found; is vagrant installed?"
MBR_BIN=/usr/lib/syslinux/mbr/mbr.bin
[ -f "$MBR_BIN" ] || die "$MBR_BIN is missing (package syslinux-common)"
command -v debugfs >/dev/null || die "debugfs is missing (package e2fsprogs); run first: sudo bash scripts/host-setup.sh"
[ -n "$MIRROR" ] || die "no Debian $SUITE archive found in /etc/apt/sources.list*; set DEBIAN_MIRROR=http://deb.debian.org/debian"
log "building $BOX_NAME from $MIRROR ($SUITE)"


mkdir -p "$CACHE_DIR/debs"
WORK="$(mktemp -d "$CACHE_DIR/build.XXXXXX")"
# --one-file-system: never descend into a /proc or /sys debootstrap may have
# left mounted in the target when it was interrupted.
trap '[ "${BOX_KEEP_WORK:-0}" = 1 ] && echo "[build-box] kept $WORK" || rm -rf --one-file-system "$WORK"' EXIT
trap 'exit 130' INT TERM
ROOTFS="$WORK/rootfs"

# INITRD=No: the kernel's postinst skips its (large, MODULES=most) initramfs;
# one small initramfs is made below, after the config asks for virtio only.
INITRD=No debootstrap --variant=minbase --cache-dir="$CACHE_DIR/debs" \
  --include=systemd-sysv,udev,openssh-server,sudo,linux-image-amd64,iproute2,iputils-ping,procps,kmod,initramfs-tools,fdisk,e2fsprogs \
  "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
  { tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
log "debootstrap done ($((SECONDS - started)) s)"

# --- Inside the guest --------------------------------------------------------
echo debian12 >"$ROOTFS/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tdebian12\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$ROOTFS/etc/hosts"
printf '/dev/vda2\t/\text4\terrors=remount-ro\t0\t1\n' >"$ROOTFS/etc/fstab"
# eth0 on DHCP through systemd-networkd (part of systemd): it boots faster than
# ifupdown + dhclient under emulation, and when Vagrant sets the hostname it
# restarts networking with one `systemctl restart systemd-networkd`.
printf '[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\n' >"$ROOTFS/etc/systemd/network/20-eth0.network"
chroot "$ROOTFS" systemctl enable systemd-networkd.service >/dev/null 2>&1
chroot "$ROOTFS" systemctl mask systemd-networkd-wait-online.service >/dev/null 2>&1
# No gettys on the (unwatched) VGA consoles; the serial console keeps its own.
chroot "$ROOTFS" systemctl mask getty-static.service getty@tty1.service >/dev/null 2>&1
# Each VM gets its own machine-id (DHCP client id, journald) on first boot.
: >"$ROOTFS/etc/machine-id"
rm -f "$ROOTFS/var/lib/dbus/machine-id"

# Key-only: no password at all ('*', which sshd does not count as locked) and
# no password logins, so guests never accept the well-known "vagrant" password.
chroot "$ROOTFS" useradd --create-home --shell /bin/bash --user-group --password '*' vagrant
install -d -m 700 -o 1000 -g 1000 "$ROOTFS/home/vagrant/.ssh"
install -m 600 -o 1000 -g 1000 "$VAGRANT_PUB" "$ROOTFS/home/vagrant/.ssh/authorized_keys"
chroot "$ROOTFS" chown -R vagrant:vagrant /home/vagrant
printf 'vagrant ALL=(ALL) NOPASSWD: ALL\nDefaults:vagrant !requiretty\n' >"$ROOTFS/etc/sudoers.d/vagrant"
chmod 440 "$ROOTFS/etc/sudoers.d/vagrant"

# sshd: no reverse DNS (slow boots without DNS); host keys made per VM on first
# boot, so VMs from this box never share them. Only ECDSA and Ed25519: an RSA
# key takes tens of seconds to generate under emulation.
printf 'UseDNS no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nHostKey /etc/ssh/ssh_host_ecdsa_key\nHostKey /etc/ssh/ssh_host_ed25519_key\n' \
  >"$ROOTFS/etc/ssh/sshd_config.d/vagrant.conf"
rm -f "$ROOTFS"/etc/ssh/ssh_host_*
cat >"$ROOTFS/etc/systemd/system/ssh-host-keys.service" <<'EOF'
[Unit]
Description=Generate missing SSH host keys
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -q -t ecdsa -N "" -f /etc/ssh/ssh_host_ecdsa_key
ExecStart=/usr/bin/ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key

[Install]
WantedBy=multi-user.target
EOF
mkdir -p "$ROOTFS/etc/systemd/system/multi-user.target.wants"
ln -sf /etc/systemd/system/ssh-host-keys.service "$ROOTFS/etc/systemd/system/multi-user.target.wants/ssh-host-keys.service"

# The hostname from the SMBIOS serial the app's Vagrantfile sets
# ("twarga-hostname=<name>", src/server/vms/vagrantfile.ts), at boot before the
# network: Vagrant then finds it set and skips its own hostname change, which
# restarts networking and costs tens of seconds per launch under emulation.
cat >"$ROOTFS/usr/local/sbin/hostname-from-smbios" <<'EOF'
#!/bin/sh
serial="$(cat /sys/class/dmi/id/product_serial 2>/dev/null)" || exit 0
case "$serial" in twarga-hostname=*) name="${serial#twarga-hostname=}" ;; *) exit 0 ;; esac
printf '%s\n' "$name" | grep -Eqx '[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?' || exit 0
[ "$(cat /etc/hostname 2>/dev/null)" = "$name" ] || echo "$name" >/etc/hostname
hostname "$name"
grep -qx "127.0.1.1	$name" /etc/hosts || { sed -i '/^127\.0\.1\.1[[:space:]]/d' /etc/hosts; printf '127.0.1.1\t%s\n' "$name" >>/etc/hosts; }
EOF
chmod 755 "$ROOTFS/usr/local/sbin/hostname-from-smbios"
cat >"$ROOTFS/etc/systemd/system/hostname-from-smbios.service" <<'EOF'
[Unit]
Description=Hostname from the VM's SMBIOS serial
DefaultDependencies=no
After=local-fs.target systemd-remount-fs.service
Before=network-pre.target systemd-networkd.service ssh.service sysinit.target
Wants=network-pre.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/hostname-from-smbios

[Install]
WantedBy=sysinit.target
EOF
mkdir -p "$ROOTFS/etc/systemd/system/sysinit.target.wants"
ln -sf /etc/systemd/system/hostname-from-smbios.service "$ROOTFS/etc/systemd/system/sysinit.target.wants/hostname-from-smbios.service"

# Grow the root partition and filesystem to the disk the VM was given (the box
# disk is 2 GiB; a VM asks for more).
cat >"$ROOTFS/usr/local/sbin/grow-root" <<'EOF'
#!/bin/sh
set -e
echo ", +" | sfdisk --no-reread --no-tell-kernel -N 2 /dev/vda >/dev/null 2>&1 || exit 0
partx -u /dev/vda 2>/dev/null || true
resize2fs /dev/vda2 >/dev/null 2>&1 || true
EOF
chmod 755 "$ROOTFS/usr/local/sbin/grow-root"
cat >"$ROOTFS/etc/systemd/system/grow-root.service" <<'EOF'
[Unit]
Description=Grow the root filesystem to the disk size
After=local-fs.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/grow-root

[Install]
WantedBy=multi-user.target
EOF
ln -sf /etc/systemd/system/grow-root.service "$ROOTFS/etc/systemd/system/multi-user.target.wants/grow-root.service"

# The journal in memory only: nothing to flush to disk during boot.
mkdir -p "$ROOTFS/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\n' >"$ROOTFS/etc/systemd/journald.conf.d/volatile.conf"
rm -rf "$ROOTFS/var/log/journal"

# A small initramfs with only the virtio drivers and ext4.
sed -i 's/^MODULES=.*/MODULES=list/' "$ROOTFS/etc/initramfs-tools/initramfs.conf"
printf 'virtio_pci\nvirtio_blk\nvirtio_net\next4\n' >>"$ROOTFS/etc/initramfs-tools/modules"

# Drop what a headless virtio guest never loads, and the docs.
KVER="$(basename "$(ls -d "$ROOTFS"/lib/modules/* | head -n1)")"
KMOD="$ROOTFS/lib/modules/$KVER/kernel"
# (floppy, parport, pcspkr and i2c are probed on every boot of a QEMU "pc" and
# cost seconds under emulation.)
rm -rf "$KMOD"/sound "$KMOD"/drivers/{gpu,media,infiniband,staging,bluetooth,isdn,iio,hwmon,mmc,mtd,nfc,usb,thunderbolt,platform,parport,i2c} \
  "$KMOD"/drivers/block/floppy.ko* "$KMOD"/drivers/char/ppdev.ko* "$KMOD"/drivers/input/{touchscreen,joystick,tablet,misc/pcspkr.ko*} \
  "$KMOD"/drivers/net/{wireless,ethernet,can,usb,wwan} "$KMOD"/net/{wireless,mac80211,bluetooth} \
  "$KMOD"/fs/{btrfs,xfs,ocfs2,gfs2,nfs,nfsd,ceph,smb,cifs,f2fs,jfs,ubifs,nilfs2,reiserfs,udf,ntfs3,bcachefs}
chroot "$ROOTFS" depmod "$KVER"
chroot "$ROOTFS" update-initramfs -c -k "$KVER" >"$WORK/initramfs.log" 2>&1 || { cat "$WORK/initramfs.log" >&2; die "update-initramfs failed"; }
rm -rf "$ROOTFS"/usr/share/{doc,man,info,locale,lintian,linda}/* "$ROOTFS"/var/cache/apt/*.bin \
  "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/log/*.log
log "guest configured ($((SECONDS - started)) s)"

# --- Disk: MBR, FAT boot partition with syslinux, ext4 root ------------------
DISK_MIB=2048
BOOT_START_MIB=1
BOOT_MIB=64
ROOT_START_MIB=$((BOOT_START_MIB + BOOT_MIB))
ROOT_MIB=$((DISK_MIB - ROOT_START_MIB))

cat >"$WORK/syslinux.cfg" <<'EOF'
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  KERNEL vmlinuz
  INITRD initrd.img
  APPEND root=/dev/vda2 ro console=tty0 console=ttyS0,115200 net.ifnames=0 biosdevname=0 quiet
EOF
# -h: the partition's start in sectors ("hidden sectors"), which SYSLINUX adds
# to every sector it reads; without it the loader hangs after its banner.
mkfs.fat -C -n BOOT -h $((BOOT_START_MIB * 2048)) "$WORK/boot.fat" $((BOOT_MIB * 1024)) >/dev/null
syslinux --install "$WORK/boot.fat"
mcopy -i "$WORK/boot.fat" "$ROOTFS/boot/vmlinuz-$KVER" ::vmlinuz
mcopy -i "$WORK/boot.fat" "$ROOTFS/boot/initrd.img-$KVER" ::initrd.img
mcopy -i "$WORK/boot.fat" "$WORK/syslinux.cfg" ::syslinux.cfg

truncate -s "${ROOT_MIB}M" "$WORK/root.ext4"
mkfs.ext4 -q -L root -d "$ROOTFS" "$WORK/root.ext4"

# A box whose guest files other users cannot read is neither cached nor added.
bash "$BOX_CHECK" "$WORK/root.ext4" || die "the built image failed its check (see above); the box is not cached or added"

truncate -s "${DISK_MIB}M" "$WORK/disk.raw"
sfdisk -q "$WORK/disk.raw" <<EOF
label: dos
start=${BOOT_START_MIB}MiB, size=${BOOT_MIB}MiB, type=c, bootable
start=${ROOT_START_MIB}MiB, type=83
EOF
dd if="$WORK/boot.fat" of="$WORK/disk.raw" bs=1M seek=$BOOT_START_MIB conv=notrunc,sparse status=none
dd if="$WORK/root.ext4" of="$WORK/disk.raw" bs=1M seek=$ROOT_START_MIB conv=notrunc,sparse status=none
dd if="$MBR_BIN" of="$WORK/disk.raw" bs=440 count=1 conv=notrunc status=none

mkdir "$WORK/box"
qemu-img convert -O qcow2 "$WORK/disk.raw" "$WORK/box/box.img"
printf '{"provider":"libvirt","format":"qcow2","virtual_size":%d}\n' $((DISK_MIB / 1024)) >"$WORK/box/metadata.json"
cat >"$WORK/box/Vagrantfile" <<'EOF'
# Defaults of the local Debian box; a project's Vagrantfile overrides them.
Vagrant.configure("2") do |config|
  config.ssh.insert_key = false
  config.vm.synced_folder ".", "/vagrant", disabled: true
  config.vm.provider :libvirt do |lv|
    lv.driver = "qemu"
  end
end
EOF
tar -C "$WORK/box" -cf "$WORK/out.box" metadata.json Vagrantfile box.img
mv -f "$WORK/out.box" "$BOX_FILE"
# Box files of earlier recipes are not used again.
find "$CACHE_DIR" -maxdepth 1 -name "${BOX_NAME//\//-}-*.box" ! -name "$(basename "$BOX_FILE")" -delete
log "built $BOX_FILE ($(du -m "$BOX_FILE" | cut -f1) MiB, $((SECONDS - started)) s)"
add_box
