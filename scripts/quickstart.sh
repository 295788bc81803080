#!/usr/bin/env bash
# One command from a fresh clone to a running app at http://localhost:3000 on
# the embedded defaults: SQLite under ./data and the built-in local identity
# provider. As root on Debian it also prepares the host for real VMs (libvirt,
# QEMU, Vagrant and a small local Debian box); elsewhere the app starts with
# monitoring working and VM actions disabled, saying what is missing.
#   TWARGA_SKIP_VM_SETUP=1  skips the VM host setup and box build
#   PORT=3000               the port to serve on
source "$(dirname "$0")/lib.sh"

command -v node >/dev/null || die "Node.js 20.19 or newer is required (https://nodejs.org or: apt-get install nodejs npm)"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' || die "Node.js 20.19 or newer is required (found $(node --version))"

ensure_node_modules

if [ ! -f .env ]; then
  log "writing .env (a random AUTH_SECRET and the local identity provider)"
  # Owner-only, and only this file: the umask stays in the subshell, so the
  # host setup and the box build below never inherit it.
  (
    umask 077
    cat > .env <<ENV
# Written by scripts/quickstart.sh; see .env.example for every setting.
AUTH_SECRET=$(node -e 'console.log(require("crypto").randomBytes(33).toString("base64"))')
# The built-in identity provider (signs in with any email, no password): for trying things out.
LOCAL_IDP=on
ENV
  )
fi

if [ "${TWARGA_SKIP_VM_SETUP:-0}" != "1" ]; then
  if [ -x scripts/host-setup.sh ] && bash scripts/host-setup.sh; then
    [ -x scripts/build-box.sh ] && { bash scripts/build-box.sh || log "the local box could not be built; VMs need a box (see README)"; }
  else
    log "the host is not ready for VMs (see above); the app starts with VM actions disabled"
  fi
fi

log "building the app"
npx next build >/tmp/twarga-build.log 2>&1 || { cat /tmp/twarga-build.log; die "build failed"; }
log "starting Twarga Cloud at http://localhost:${PORT:-3000} (Ctrl-C stops it)"
export PORT="${PORT:-3000}"
exec node node_modules/next/dist/bin/next start -p "$PORT"
