#!/usr/bin/env bash
# Makes the base image Airlock's image is built FROM without pulling from an image
# registry: a minimal Debian made with debootstrap (--variant=minbase plus
# ca-certificates, which TLS to S3, Azure Blob, the OIDC issuer and PostgreSQL needs, and
# tini, the init that forwards `docker stop`'s signal: a binary running as PID 1 gets no
# default signal handling, so it would wait out the stop timeout) and loaded with
# `docker import`. The binaries link only glibc and libgcc_s, both in
# minbase, so nothing else is installed. Documentation, locales, apt's package lists and
# caches are removed, and dpkg is told to leave them out of any later install.
#
#   infra/container/base-image.sh [--force] [--tag NAME]
#
# Does nothing when the image already exists and was made by this version of the script
# (its airlock.base.version label), unless --force.
# Environment: AIRLOCK_BASE_IMAGE (default airlock-base:bookworm), DEBIAN_SUITE (default
# bookworm), DEBIAN_MIRROR (default http://deb.debian.org/debian). Needs root, debootstrap
# and a running Docker engine.
set -euo pipefail

TAG=${AIRLOCK_BASE_IMAGE:-airlock-base:bookworm}
SUITE=${DEBIAN_SUITE:-bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
FORCE=0
# Raise when the image's contents change, so existing base images are made again.
VERSION=2
PACKAGES=ca-certificates,tini

say() { printf '==> %s\n' "$*"; }
fail() { printf 'base-image: %s\n' "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --force) FORCE=1 ;;
    --tag) [ $# -ge 2 ] || fail "--tag needs a value"; TAG=$2; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) fail "unknown option '$1' (known: --force, --tag NAME)" ;;
  esac
  shift
done

command -v docker >/dev/null || fail "docker is not installed (apt-get install docker.io)"
docker info >/dev/null 2>&1 || fail "the Docker engine does not answer (start dockerd)"
if [ "$FORCE" = 0 ] && docker image inspect "$TAG" >/dev/null 2>&1; then
  existing=$(docker image inspect --format '{{index .Config.Labels "airlock.base.version"}}' "$TAG")
  if [ "$existing" = "$VERSION" ]; then
    say "$TAG exists; leaving it (--force rebuilds it)"
    exit 0
  fi
  say "$TAG is of version '${existing:-none}', not $VERSION: making it again"
fi
[ "$(id -u)" = 0 ] || fail "debootstrap needs root (running as uid $(id -u))"
command -v debootstrap >/dev/null || fail "debootstrap is not installed (apt-get install debootstrap)"

rootfs=$(mktemp -d "${TMPDIR:-/tmp}/airlock-base.XXXXXX")
# debootstrap mounts /proc and /sys inside the tree; unmount before removing it.
cleanup() {
  for mount in proc sys dev/pts dev; do
    mountpoint -q "$rootfs/$mount" 2>/dev/null && umount -l "$rootfs/$mount" || true
  done
  rm -rf "$rootfs"
}
trap cleanup EXIT

say "debootstrap $SUITE (minbase + $PACKAGES) from $MIRROR"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$rootfs" "$MIRROR" \
  >"$rootfs.log" 2>&1 || { tail -n 20 "$rootfs.log" >&2; rm -f "$rootfs.log"; fail "debootstrap $SUITE failed"; }
rm -f "$rootfs.log"

say "stripping documentation, locales and package lists"
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/01-airlock-slim" <<'EOF'
# Documentation and translations are of no use in a container; keep them out of installs.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
cat >"$rootfs/etc/apt/apt.conf.d/01-airlock-slim" <<'EOF'
# Keep no downloaded packages in the image.
APT::Install-Recommends "false";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/lintian/*
find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/cache/debconf/*-old \
  "$rootfs"/var/lib/dpkg/*-old "$rootfs"/tmp/* "$rootfs"/var/tmp/*
find "$rootfs/var/log" -type f -delete
# A container gets its resolver and host name from the engine, not from this machine.
: >"$rootfs/etc/resolv.conf"
: >"$rootfs/etc/hostname"

for mount in proc sys dev/pts dev; do
  mountpoint -q "$rootfs/$mount" 2>/dev/null && umount -l "$rootfs/$mount" || true
done

say "importing as $TAG"
tar --numeric-owner -C "$rootfs" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/bash"]' \
  --change "LABEL airlock.base.version=$VERSION" \
  --change "LABEL org.opencontainers.image.description=\"Debian $SUITE minbase with $PACKAGES, made by debootstrap\"" \
  --message "debootstrap --variant=minbase --include=$PACKAGES $SUITE $MIRROR" \
  - "$TAG" >/dev/null
size=$(docker image inspect --format '{{.Size}}' "$TAG")
say "$TAG: $((size / 1024 / 1024)) MiB"
