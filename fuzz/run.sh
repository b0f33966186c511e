#!/usr/bin/env bash
# Runs the fuzz targets with cargo fuzz (nightly), each for SECONDS, starting from the seeds
# and the kept corpus, and prints one line per target with its executions.
#
#   fuzz/run.sh [SECONDS] [TARGET...]      # default 10 s each, every target
#   fuzz/run.sh 600 manifest_open          # a long run of one target
#   fuzz/run.sh 15 protocol                # the protocol targets only (what ./test.sh runs)
#   FUZZ_KEEP=1 fuzz/run.sh 600            # add what the run found to the corpus
#
# The protocol targets live in this directory, the api and AWS event targets in edges/
# (a separate build: they pull in every dependency of the api).
# A crash stops the run with libFuzzer's report and the input under fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-10}"
shift || true
case "$seconds" in '' | *[!0-9]*) echo "run.sh: '$seconds' is not a whole number of seconds" >&2; exit 2 ;; esac
bins() { sed -n '/^\[\[bin\]\]/,/^$/s/^name = "\(.*\)"$/\1/p' "$1/Cargo.toml"; }
mapfile -t protocol < <(bins .)
mapfile -t edges < <(bins edges)
case "${1:-all}" in
    all) targets=("${protocol[@]}" "${edges[@]}") ;;
    protocol) targets=("${protocol[@]}") ;;
    edges) targets=("${edges[@]}") ;;
    *) targets=("$@") ;;
esac
dir_of() {
    local t
    for t in "${edges[@]}"; do [ "$t" = "$1" ] && { echo edges; return; }; done
    for t in "${protocol[@]}"; do [ "$t" = "$1" ] && { echo .; return; }; done
    echo "run.sh: no fuzz target '$1' (targets: ${protocol[*]} ${edges[*]})" >&2
    exit 2
}
for target in "${targets[@]}"; do dir_of "$target" >/dev/null; done

toolchains="$(rustup toolchain list 2>/dev/null || true)"
if ! grep -q '^nightly' <<<"$toolchains"; then
    echo "run.sh: cargo fuzz needs a nightly toolchain (rustup toolchain install nightly)" >&2
    exit 2
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked -j2

for target in "${targets[@]}"; do
    dir="$(dir_of "$target")"
    cargo +nightly fuzz build --fuzz-dir "$dir" "$target" >/dev/null 2>&1 || {
        echo "run.sh: building fuzz target $target failed:" >&2
        cargo +nightly fuzz build --fuzz-dir "$dir" "$target" 2>&1 | tail -n 30 >&2
        exit 1
    }
done

status=0
for target in "${targets[@]}"; do
    # New inputs go to a scratch directory unless asked to keep them, so a CI run leaves the
    # tree as it found it.
    dir="$(dir_of "$target")"
    if [ "${FUZZ_KEEP:-0}" = 1 ]; then
        work="$dir/corpus/$target"
        mkdir -p "$work"
    else
        work="$(mktemp -d)"
        [ -d "$dir/corpus/$target" ] && cp -a "$dir/corpus/$target/." "$work/"
    fi
    log="$(mktemp)"
    if cargo +nightly fuzz run --fuzz-dir "$dir" "$target" "$work" "$dir/seeds/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 >"$log" 2>&1; then
        runs="$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 executions in \2 s/p' "$log" | tail -n 1)"
        cov="$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 || true)"
        echo "fuzz $target: ok, ${runs:-no summary}, ${cov:-cov: ?}, corpus $(find "$work" -type f | wc -l) inputs"
    else
        echo "fuzz $target: FAILED (report below; the input is under fuzz/$dir/artifacts/$target/)"
        tail -n 40 "$log"
        status=1
    fi
    rm -f "$log"
    [ "${FUZZ_KEEP:-0}" = 1 ] || rm -rf "$work"
done
exit "$status"
