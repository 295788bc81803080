# Shared shell helpers for the project's scripts (sourced, not run).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf '\033[1m[twarga]\033[0m %s\n' "$*"; }
die() { printf '\033[31m[twarga] %s\033[0m\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" = "0" ]; }

apt_updated=0
# apt_install PKG... — installs the Debian packages that are missing.
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing packages: ${missing[*]} (install them with your package manager)"
  is_root || die "missing packages: ${missing[*]} — run as root, or: sudo apt-get install -y ${missing[*]}"
  if [ "$apt_updated" = 0 ]; then apt-get -o DPkg::Lock::Timeout=120 update -qq; apt_updated=1; fi
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Node dependencies, installed when missing or when the lock file changed.
ensure_node_modules() {
  local stamp=node_modules/.twarga-lock-hash want
  want="$(sha256sum package-lock.json | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "installing npm packages (npm ci)"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
    echo "$want" > "$stamp"
  fi
  [ -f src/generated/prisma/sqlite/client.ts ] && [ -f src/generated/prisma/postgresql/client.ts ] || node scripts/prisma-generate.mjs >/dev/null
}
