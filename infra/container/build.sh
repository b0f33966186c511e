#!/usr/bin/env bash
# Builds Airlock's image: the base image when missing (base-image.sh), the release
# binaries on this machine, then infra/container/Dockerfile with a build context that
# holds only the stripped binaries.
#
#   infra/container/build.sh [--tag NAME] [--skip-cargo]
#
# --skip-cargo uses the binaries already in the target directory.
# Environment: AIRLOCK_IMAGE (default airlock:dev), AIRLOCK_BASE_IMAGE (default
# airlock-base:bookworm), CARGO_TARGET_DIR (default target), CARGO_BUILD_JOBS,
# AIRLOCK_BUILD_NICE (niceness of the compile, default 10).
set -euo pipefail
cd "$(dirname "$0")/../.."

TAG=${AIRLOCK_IMAGE:-airlock:dev}
BASE_IMAGE=${AIRLOCK_BASE_IMAGE:-airlock-base:bookworm}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
NICE=${AIRLOCK_BUILD_NICE:-10}
SKIP_CARGO=0
# Every function binary is the package of the same name.
FUNCTIONS=(airlock-scheduler airlock-outbox-publisher airlock-manifest-validator airlock-inbox-ingester
  airlock-status-recorder airlock-api)

say() { printf '==> %s\n' "$*"; }
fail() { printf 'build: %s\n' "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --tag) [ $# -ge 2 ] || fail "--tag needs a value"; TAG=$2; shift ;;
    --skip-cargo) SKIP_CARGO=1 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) fail "unknown option '$1' (known: --tag NAME, --skip-cargo)" ;;
  esac
  shift
done

AIRLOCK_BASE_IMAGE=$BASE_IMAGE infra/container/base-image.sh

# The `airlock` command (serve, doctor, token, demo) ships in the same image when the
# workspace has it: it is a binary of the local crate, not a package of its own.
packages=() bins=()
for f in "${FUNCTIONS[@]}"; do packages+=(-p "$f"); bins+=("$f"); done
airlock_package=$(cargo metadata --no-deps --format-version 1 --offline 2>/dev/null | python3 -c '
import json, sys
for package in json.load(sys.stdin)["packages"]:
    if any(t["name"] == "airlock" and "bin" in t["kind"] for t in package["targets"]):
        print(package["name"])' || true)
if [ -n "$airlock_package" ]; then packages+=(-p "$airlock_package"); bins+=(airlock); fi

if [ "$SKIP_CARGO" = 0 ]; then
  bin_flags=()
  for b in "${bins[@]}"; do bin_flags+=(--bin "$b"); done
  say "cargo build --release (${bins[*]}) into $TARGET_DIR"
  CARGO_TARGET_DIR=$TARGET_DIR nice -n "$NICE" cargo build --release --locked "${packages[@]}" "${bin_flags[@]}"
fi

context=$(mktemp -d "${TMPDIR:-/tmp}/airlock-image.XXXXXX")
trap 'rm -rf "$context"' EXIT
mkdir "$context/bin"
for b in "${bins[@]}"; do
  [ -x "$TARGET_DIR/release/$b" ] || fail "$TARGET_DIR/release/$b is missing (run without --skip-cargo)"
  # Release builds keep line tables for local profiling; in the image they would be most
  # of each binary. Symbols stay, so backtraces still name functions.
  strip --strip-debug -o "$context/bin/$b" "$TARGET_DIR/release/$b"
done

say "docker build $TAG FROM $BASE_IMAGE (${bins[*]})"
# The classic builder: the Dockerfile needs nothing of BuildKit, and this way no
# builder image or frontend has to be pulled.
DOCKER_BUILDKIT=0 docker build -q -f infra/container/Dockerfile --build-arg "BASE_IMAGE=$BASE_IMAGE" \
  -t "$TAG" "$context" >/dev/null
size=$(docker image inspect --format '{{.Size}}' "$TAG")
say "$TAG: $size bytes ($((size / 1024 / 1024)) MiB)"
