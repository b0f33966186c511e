#!/usr/bin/env bash
# The fault drill: two platforms with every function as a process of its own, over
# PostgreSQL (two fresh databases) and NATS JetStream (fresh stream prefixes), with a
# directory as the exchange. Shares a few hundred files, then runs the drills — random
# kill -9 of functions, B's database away, the exchange away, old messages republished —
# each ending with a check of B's files, the exchange and the history, one line per drill.
# Exits non-zero when a check fails. Not part of `cargo test`: it takes several minutes.
#
#   local/drill.sh                       # every drill at the default sizes
#   local/drill.sh --files 1000 --kills 30 --drills kill,republish --keep
#
# Environment: AIRLOCK_DRILL_POSTGRES (default postgres://postgres@127.0.0.1:5432, trust
# or .pgpass authentication; the role must be allowed to create databases and to alter
# and terminate connections to them), AIRLOCK_DRILL_NATS (default nats://127.0.0.1:4222).
# Both must be running; the drill drops its databases and streams when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."

postgres=${AIRLOCK_DRILL_POSTGRES:-postgres://postgres@127.0.0.1:5432}
nats=${AIRLOCK_DRILL_NATS:-nats://127.0.0.1:4222}

# Two builds: a --bin filter would apply to every package named, leaving the functions out.
cargo build -q -p airlock-local --bin airlock-drill
cargo build -q -p airlock-scheduler -p airlock-outbox-publisher -p airlock-manifest-validator \
    -p airlock-inbox-ingester -p airlock-status-recorder

target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
bin_dir="${target_dir:-target}/debug"
exec "$bin_dir/airlock-drill" --postgres "$postgres" --nats "$nats" --bin-dir "$bin_dir" "$@"
