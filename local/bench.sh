#!/usr/bin/env bash
# Measures moving one large file through Airlock's whole pipeline, next to rclone (plain
# and crypt) and openssl on the same file and disk, and prints a table. With --files, many
# small files instead, with an idle sync and a 1-file change, next to rclone.
#
#   local/bench.sh [SIZE_MIB] [extra airlock-bench arguments...]
#   local/bench.sh 4096 --chunk-kib 4096 --dir /data/scratch
#   local/bench.sh --files 10000 [--file-kib 4] [extra airlock-bench arguments...]
#   local/bench.sh --files 10000 --processes     # each function a process, over NATS
#
# Not part of `cargo test`: figures from shared machines are too noisy to assert on.
set -euo pipefail

cd "$(dirname "$0")/.."

if [ "${1:-}" = --files ]; then
    # The many-files mode: every argument goes to airlock-bench as it is.
    bench_args=("$@")
else
    size_mib="${1:-1024}"
    shift || true
    case "$size_mib" in
        '' | *[!0-9]*)
            echo "bench.sh: size '$size_mib' is not a whole number of MiB (usage: local/bench.sh [SIZE_MIB] [args...])" >&2
            exit 2
            ;;
    esac
    bench_args=(--size-mib "$size_mib" "$@")
fi

# The comparisons need rclone, and GNU time for their peak memory.
missing=()
command -v rclone >/dev/null || missing+=(rclone)
[ -x /usr/bin/time ] || missing+=(time)
command -v openssl >/dev/null || missing+=(openssl)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        echo "installing ${missing[*]} ..." >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "bench.sh: ${missing[*]} missing and cannot install them here (need root and apt-get);" \
            "the bench skips what it cannot run" >&2
    fi
fi

cargo build --release -j2 -p airlock-local --bin airlock-bench
case " ${bench_args[*]} " in
    *" --processes "*)
        # Two builds: a --bin filter would apply to every package named.
        cargo build --release -j2 -p airlock-outbox-publisher -p airlock-manifest-validator \
            -p airlock-inbox-ingester -p airlock-status-recorder
        ;;
esac

target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
exec "${target_dir:-target}/release/airlock-bench" "${bench_args[@]}"
