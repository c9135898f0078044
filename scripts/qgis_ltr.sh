#!/usr/bin/env bash
# The second test platform: QGIS 3.44 LTR (Debian trixie + trixie-backports, Python
# 3.13, numpy 2, shapely 2) in a chroot kept outside the repo, so a second run starts
# at once.
#
#   bash scripts/qgis_ltr.sh setup          build or update the chroot (idempotent)
#   bash scripts/qgis_ltr.sh test [ARGS]    setup, then `make test` inside it
#   bash scripts/qgis_ltr.sh run CMD...     setup, then CMD in the repo inside it
#
# The repo and ../shared are bind-mounted at their own paths inside a private mount
# namespace (nothing stays mounted after the command), with the chroot's own virtual
# environment mounted over the repo's .venv/, so `make test` there is the same
# command as on the host. Needs root (debootstrap, chroot, mounts).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
SHARED="$(dirname "$REPO")/shared"
ROOT="${UGS_LTR_ROOT:-/var/tmp/ugs-qgis-ltr}"
# One venv inside the chroot per checkout: pip writes the checkout's path into the
# scripts it installs (their #! line), so a venv cannot serve two checkouts.
VENV="/opt/ugs-venvs/$(printf %s "$REPO" | sha1sum | cut -c1-12)"
STAMP_VERSION=2   # bump when the package list below changes
QGIS_PACKAGES="qgis python3-qgis qgis-providers"
OTHER_PACKAGES="python3-rasterio python3-shapely python3-gdal python3-venv python3-pip \
python3-pytest python3-torch python3-onnx xvfb xauth make ca-certificates locales-all"

log() { echo "qgis_ltr: $*" >&2; }

[ "$(id -u)" -eq 0 ] || { log "needs root (debootstrap, chroot and mounts)"; exit 1; }

in_root() {  # a clean environment inside the chroot, no mounts of the repo
  chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    DEBIAN_FRONTEND=noninteractive "$@"
}

with_system_mounts() {  # /proc, /sys, /dev inside a private namespace, then "$@"
  unshare --mount --propagation private bash -c '
    set -e; r="$1"; shift
    mount -t proc proc "$r/proc"; mount --rbind /sys "$r/sys"; mount --rbind /dev "$r/dev"
    mkdir -p "$r/dev/shm"; mount -t tmpfs -o mode=1777 shm "$r/dev/shm"
    exec "$@"' _ "$ROOT" "$@"
}

copy_host_files() {
  mkdir -p "$ROOT/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
}

build_root() {
  if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
    command -v debootstrap >/dev/null || {
      log "installing debootstrap"
      # Waits for another apt's lock (the host's own set-up may hold it).
      apt="env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600"
      $apt update -qq
      $apt install -y -qq debootstrap >/dev/null; }
    log "debootstrap trixie into $ROOT (about 3 minutes)"
    rm -rf "$ROOT.partial"
    debootstrap --variant=minbase trixie "$ROOT.partial" >/dev/null
    rm -rf "$ROOT"; mv "$ROOT.partial" "$ROOT"
  fi
  # pip inside verifies TLS with the host's CA bundle (which may hold authorities
  # Debian's does not); copied on every run, as installing packages rewrites it.
  copy_host_files
  local stamp="$ROOT/.ugs-packages-$STAMP_VERSION"
  if [ ! -e "$stamp" ]; then
    # debootstrap wrote the mirror it used; backports comes from the same one.
    local mirror
    mirror="$(awk '$1 == "deb" {print $2; exit}' "$ROOT/etc/apt/sources.list")"
    echo "deb $mirror trixie-backports main" > "$ROOT/etc/apt/sources.list.d/backports.list"
    log "installing QGIS LTR from trixie-backports and the test packages (about 7 minutes)"
    with_system_mounts chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
      PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive bash -c "
        set -e
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends -t trixie-backports \
          $QGIS_PACKAGES $OTHER_PACKAGES >/dev/null
        apt-get clean"
    touch "$stamp"
    copy_host_files
  fi
  mkdir -p "$ROOT$VENV" "$ROOT$REPO" "$ROOT$SHARED"
  log "$(in_root dpkg-query -W -f='QGIS ${Version}' qgis), $(in_root python3 --version)"
}

in_repo() {  # "$@" in the repo inside the chroot, with the repo mounted
  mkdir -p "$REPO/.venv"
  with_system_mounts bash -c '
    set -e; root="$1" repo="$2" shared="$3" venv="$4"; shift 4
    mount --rbind "$repo" "$root$repo"
    mount --bind "$root$venv" "$root$repo/.venv"
    [ ! -d "$shared" ] || mount --rbind "$shared" "$root$shared"
    exec chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
      CI="${CI:-}" UGS_PLATFORM=qgis-ltr \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      /bin/bash -c "cd \"\$0\" && exec \"\$@\"" "$repo" "$@"' \
    _ "$ROOT" "$REPO" "$SHARED" "$VENV" "$@"
}

case "${1:-test}" in
  setup) build_root; in_repo make setup ;;
  test) shift || true; build_root; in_repo make test ${1+"$@"} ;;
  run) shift; build_root; in_repo "$@" ;;
  *) log "usage: $0 setup | test [make variables] | run CMD..."; exit 2 ;;
esac
