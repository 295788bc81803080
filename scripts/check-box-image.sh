#!/usr/bin/env bash
# Checks a box's ext4 root image, without booting it, for the files that
# daemons running as other users must read: systemd-networkd (user
# systemd-network) its network config, every process /etc/hosts and the
# passwd/group files, sshd its config, udev/modprobe the kernel module index.
# Each file and every folder above it must be open to other users (read for
# files, read+search for folders). Prints each problem; exits 1 when any.
#
#   scripts/check-box-image.sh ROOT.ext4
set -euo pipefail
umask 022
IMAGE="${1:?usage: check-box-image.sh ROOT.ext4}"
[ -r "$IMAGE" ] || { echo "[check-box-image] cannot read $IMAGE" >&2; exit 2; }
command -v debugfs >/dev/null || { echo "[check-box-image] debugfs is missing (package e2fsprogs)" >&2; exit 2; }

# `ls -p` prints one entry a line as /inode/mode/uid/gid/name/size/.
entries() { debugfs -R "ls -p \"$1\"" "$IMAGE" 2>/dev/null | awk -F/ 'NF>=7 && $6!="." && $6!=".." {print $6}'; }
# The permission bits of a path in the image, in octal ("Mode:  0644" in debugfs's stat).
mode_of() { debugfs -R "stat \"$1\"" "$IMAGE" 2>/dev/null | sed -n 's/.*Mode: *\([0-7]*\).*/\1/p' | head -n1; }

paths=(/etc/systemd/network/20-eth0.network /etc/hosts /etc/hostname /etc/passwd /etc/group
  /etc/ssh/sshd_config /etc/ssh/sshd_config.d/vagrant.conf /usr/local/sbin/hostname-from-smbios)
kernels="$(entries /usr/lib/modules)"
[ -n "$kernels" ] || paths+=(/usr/lib/modules)
for k in $kernels; do
  for f in $(entries "/usr/lib/modules/$k" | grep '^modules\.'); do paths+=("/usr/lib/modules/$k/$f"); done
done

failed=0
declare -A seen=()
for path in "${paths[@]}"; do
  mode="$(mode_of "$path")"
  if [ -z "$mode" ]; then echo "[check-box-image] missing: $path" >&2; failed=1; continue; fi
  (( (8#$mode & 8#0004) != 0 )) || { echo "[check-box-image] not readable by other users: $path (mode $mode)" >&2; failed=1; }
  dir="$(dirname "$path")"
  while [ "$dir" != "/" ] && [ -z "${seen[$dir]:-}" ]; do
    seen[$dir]=1
    mode="$(mode_of "$dir")"
    if [ -n "$mode" ] && (( (8#$mode & 8#0005) != 8#0005 )); then echo "[check-box-image] folder not open to other users: $dir (mode $mode)" >&2; failed=1; fi
    dir="$(dirname "$dir")"
  done
done
[ "$failed" = 0 ] && echo "[check-box-image] ok: ${#paths[@]} files readable by other users"
exit "$failed"
