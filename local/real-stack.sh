#!/usr/bin/env bash
# Runs the two-platform demo on the real stack on this machine instead of the embedded
# default: PostgreSQL (one database per platform), NATS JetStream (one stream prefix per
# platform) and an S3 server (moto) whose bucket is A's outbox and B's inbox.
#
# Uses what already listens (PostgreSQL on 127.0.0.1:5432, NATS on 127.0.0.1:4222) and
# starts what does not; moto's S3 server is always started on a free port. On exit it
# stops what it started and drops the demo's databases and streams.
#
#   local/real-stack.sh
#
# Environment: PGHOST/PGPORT/PGUSER (default 127.0.0.1, 5432, postgres; trust or .pgpass
# authentication), AIRLOCK_DEMO_NATS_PORT (default 4222).
set -euo pipefail
cd "$(dirname "$0")/.."

PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
export PGHOST PGPORT PGUSER
NATS_HOST=127.0.0.1
NATS_PORT=${AIRLOCK_DEMO_NATS_PORT:-4222}
DATABASES=(airlock_demo_a airlock_demo_b)
BUS_PREFIXES=(airlock_demo_a airlock_demo_b)
BUCKET=airlock-demo-exchange

state=$(mktemp -d)
started_pids=()
started_cluster=""

say() { printf '==> %s\n' "$*"; }
fail() { printf 'real-stack: %s\n' "$*" >&2; exit 1; }
listening() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
wait_listening() { # host port what
  for _ in $(seq 1 100); do listening "$1" "$2" && return 0; sleep 0.3; done
  fail "$3 did not listen on $1:$2 within 30 s (log: $state/$3.log)"
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The bus creates one stream per topic and prefix; deleting them drops any message a
# previous run left behind. Speaks the NATS protocol directly, so no client is needed.
delete_streams() {
  python3 local/nats-delete-streams.py "$NATS_HOST" "$NATS_PORT" "${BUS_PREFIXES[@]}" || say "could not delete old streams (continuing)"
}

recreate_databases() {
  for db in "${DATABASES[@]}"; do
    PGOPTIONS="-c client_min_messages=warning" psql -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
    [ "${1:-}" = drop ] || psql -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $db" >/dev/null
  done
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  say "cleaning up"
  if listening "$PGHOST" "$PGPORT"; then recreate_databases drop || true; fi
  if listening "$NATS_HOST" "$NATS_PORT"; then delete_streams; fi
  for pid in "${started_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$started_cluster" ]; then pg_ctlcluster "$started_cluster" main stop || true; fi
  rm -rf "$state"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# PostgreSQL: the one listening, or the machine's cluster started for this run.
if ! listening "$PGHOST" "$PGPORT"; then
  cluster=$(ls /etc/postgresql 2>/dev/null | head -n 1 || true)
  [ -n "$cluster" ] && command -v pg_ctlcluster >/dev/null \
    || fail "no PostgreSQL listens on $PGHOST:$PGPORT and no cluster is installed to start (apt-get install postgresql)"
  say "starting PostgreSQL cluster $cluster"
  pg_ctlcluster "$cluster" main start
  started_cluster=$cluster
  wait_listening "$PGHOST" "$PGPORT" postgres
fi
say "PostgreSQL on $PGHOST:$PGPORT: recreating ${DATABASES[*]}"
recreate_databases

# NATS JetStream: the one listening, or a server of our own with its store in $state.
if listening "$NATS_HOST" "$NATS_PORT"; then
  say "NATS on $NATS_HOST:$NATS_PORT: deleting old demo streams"
  delete_streams
else
  nats=$(command -v nats-server || ls /usr/sbin/nats-server 2>/dev/null || true)
  [ -n "$nats" ] || fail "no NATS listens on $NATS_HOST:$NATS_PORT and nats-server is not installed (apt-get install nats-server)"
  say "starting nats-server with JetStream on $NATS_HOST:$NATS_PORT"
  "$nats" -js -a "$NATS_HOST" -p "$NATS_PORT" -sd "$state/nats" >"$state/nats.log" 2>&1 &
  started_pids+=($!)
  wait_listening "$NATS_HOST" "$NATS_PORT" nats
fi

# S3: moto's server, in memory, on a free port, with the exchange bucket.
if ! command -v moto_server >/dev/null; then
  say "installing moto's S3 server"
  python3 -m pip install -q "moto[server]"
  hash -r
fi
S3_PORT=$(free_port)
say "starting moto's S3 server on 127.0.0.1:$S3_PORT"
moto_server -H 127.0.0.1 -p "$S3_PORT" >"$state/moto.log" 2>&1 &
started_pids+=($!)
wait_listening 127.0.0.1 "$S3_PORT" moto
curl -sf -X PUT "http://127.0.0.1:$S3_PORT/$BUCKET" >/dev/null || fail "creating bucket $BUCKET failed"

say "building the demo"
cargo build -q -p airlock-local --bin airlock-demo

say "running the demo over the real stack"
AIRLOCK_DEMO_DATABASE_A="postgres://$PGUSER@$PGHOST:$PGPORT/${DATABASES[0]}" \
AIRLOCK_DEMO_DATABASE_B="postgres://$PGUSER@$PGHOST:$PGPORT/${DATABASES[1]}" \
AIRLOCK_DEMO_BUS_A="nats://$NATS_HOST:$NATS_PORT?prefix=${BUS_PREFIXES[0]}" \
AIRLOCK_DEMO_BUS_B="nats://$NATS_HOST:$NATS_PORT?prefix=${BUS_PREFIXES[1]}" \
FILE_SERVICE_OBJECT_STORES__EXCHANGE__SCHEME=s3 \
FILE_SERVICE_OBJECT_STORES__EXCHANGE__NAME=$BUCKET \
FILE_SERVICE_OBJECT_STORES__EXCHANGE__ENDPOINT_URL="http://127.0.0.1:$S3_PORT" \
FILE_SERVICE_OBJECT_STORES__EXCHANGE__REGION=us-east-1 \
FILE_SERVICE_OBJECT_STORES__EXCHANGE__ACCESS_KEY=testing \
FILE_SERVICE_OBJECT_STORES__EXCHANGE__SECRET_KEY=testing \
  cargo run -q -p airlock-local --bin airlock-demo
