#!/usr/bin/env bash
# Builds Airlock's image and runs it: a smoke test of `airlock serve` (the default command)
# answering /healthz and serving the panel, then one two-platform sync with every
# function in a container of its own against this machine's PostgreSQL and NATS.
#
#   infra/container/test.sh [--skip-build] [--skip-cargo]
#
# Platform A and B each get a fresh PostgreSQL database, their own NATS stream prefix,
# their api and the five functions (host networking); one directory, bind-mounted into
# both, is A's outbox and B's inbox. Through A's api the test creates a sending connection,
# uploads a file and shares it; through B's api it creates the receiving connection; it
# starts both syncs with the api and checks that the file arrives at B byte-identical.
# Containers, databases, streams and temporary directories are removed on exit.
#
# Slow (it compiles release binaries), so not part of the default test run.
# --skip-build uses the image as it is; --skip-cargo is passed to build.sh.
# Environment: AIRLOCK_IMAGE (default airlock:dev), PGHOST/PGPORT/PGUSER (default
# 127.0.0.1, 5432, postgres; trust authentication), AIRLOCK_TEST_NATS (default
# 127.0.0.1:4222); build.sh's variables (CARGO_TARGET_DIR, …).
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=infra/container

IMAGE=${AIRLOCK_IMAGE:-airlock:dev}
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
export PGHOST PGPORT PGUSER
NATS=${AIRLOCK_TEST_NATS:-127.0.0.1:4222}
SYNC_TIMEOUT=120
BUILD=1 BUILD_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --skip-build) BUILD=0 ;;
    --skip-cargo) BUILD_ARGS+=(--skip-cargo) ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) printf 'test: unknown option %s (known: --skip-build, --skip-cargo)\n' "$1" >&2; exit 2 ;;
  esac
  shift
done

RUN=ct$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
DATABASES=("airlock_${RUN}_a" "airlock_${RUN}_b")
PREFIXES=("airlock_${RUN}_a" "airlock_${RUN}_b")
FUNCTIONS=(airlock-scheduler airlock-outbox-publisher airlock-manifest-validator airlock-inbox-ingester
  airlock-status-recorder)
state=$(mktemp -d "${TMPDIR:-/tmp}/airlock-container-test.XXXXXX")
containers=()
created_databases=()
step="starting"

say() { printf '==> %s\n' "$*"; }
fail() { printf 'test: %s failed: %s\n' "$step" "$*" >&2; exit 1; }
listening() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
secret() { od -An -N30 -tx1 /dev/urandom | tr -d ' \n'; }

# Removes the streams of this run's prefixes; speaks the NATS protocol, so no client is needed.
delete_streams() {
  python3 local/nats-delete-streams.py "${NATS%:*}" "${NATS##*:}" "${PREFIXES[@]}" || say "could not delete the test's streams"
}

size_line=""
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ "$status" != 0 ] && [ ${#containers[@]} -gt 0 ]; then
    for c in "${containers[@]}"; do
      printf -- '--- last log lines of %s\n' "$c" >&2
      docker logs --tail 15 "$c" 2>&1 | sed 's/^/    /' >&2 || true
    done
  fi
  say "cleaning up"
  for c in "${containers[@]}"; do docker rm -f "$c" >/dev/null 2>&1 || true; done
  for db in "${created_databases[@]}"; do
    PGOPTIONS="-c client_min_messages=warning" psql -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true
  done
  listening "$NATS" && delete_streams
  rm -rf "$state"
  [ -n "$size_line" ] && echo "$size_line"
  if [ "$status" = 0 ]; then
    echo "PASS: container smoke test and two-platform sync in containers ($IMAGE)"
  else
    echo "FAIL: $step (exit $status)"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- HTTP helpers: the answer's body goes to $state/body, the status is printed.
BODY=$state/body
http() { # method url token [curl args…]
  local method=$1 url=$2 token=$3
  shift 3
  local auth=()
  [ -n "$token" ] && auth=(-H "Authorization: Bearer $token")
  curl -sS -o "$BODY" -w '%{http_code}' -X "$method" "${auth[@]}" "$@" "$url"
}
expect() { # expected-status method url token [curl args…]
  local want=$1 got
  shift
  got=$(http "$@") || fail "$1 $2: curl failed"
  [ "$got" = "$want" ] || fail "$1 $2 answered $got, expected $want: $(head -c 600 "$BODY")"
}
json() { # python expression over the body as `d`
  python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); v = eval(sys.argv[2]); print(v if isinstance(v, str) else json.dumps(v))' "$BODY" "$1"
}
wait_healthy() { # url container
  for _ in $(seq 1 100); do
    [ "$(http GET "$1/healthz" "" 2>/dev/null)" = 200 ] && return 0
    [ "$(docker inspect --format '{{.State.Running}}' "$2" 2>/dev/null)" = true ] || fail "$2 exited"
    sleep 0.3
  done
  fail "$1/healthz did not answer within 30 s"
}

step="preflight"
command -v docker >/dev/null || fail "docker is not installed (apt-get install docker.io)"
docker info >/dev/null 2>&1 || fail "the Docker engine does not answer (start dockerd)"
for tool in psql curl python3; do command -v "$tool" >/dev/null || fail "$tool is not installed"; done
listening "$PGHOST:$PGPORT" || fail "no PostgreSQL listens on $PGHOST:$PGPORT"
listening "$NATS" || fail "no NATS listens on $NATS"

if [ "$BUILD" = 1 ]; then
  step="building the image"
  AIRLOCK_IMAGE=$IMAGE "$HERE/build.sh" "${BUILD_ARGS[@]}"
fi
step="inspecting the image"
size=$(docker image inspect --format '{{.Size}}' "$IMAGE") || fail "image $IMAGE does not exist"
size_line="image $IMAGE: $size bytes ($((size / 1024 / 1024)) MiB)"
uid=$(docker run --rm "$IMAGE" id -u)
[ "$uid" = 10001 ] || fail "the image runs as uid $uid, not the unprivileged 10001"

# Containers run as the chart runs pods: read-only root, no capabilities.
HARDENED=(--read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges)
start() { # name docker-run-arguments… (image and command last)
  local name=$1
  shift
  docker run -d --name "$name" "${HARDENED[@]}" "$@" >/dev/null
  containers+=("$name")
}
writable_dir() { mkdir -p "$1" && chown 10001:10001 "$1"; }

# --- 1. The default command: one platform in one process, panel included.
step="smoke test of the default command"
writable_dir "$state/serve"
serve_env=() default_command="airlock serve"
if [ -z "$(docker run --rm "$IMAGE" sh -c 'command -v airlock || true')" ]; then
  default_command=airlock-api
  # Without the `airlock` command the default is the api on the embedded default.
  serve_env=(-e "AIRLOCK_MASTER_SECRET=$(secret)" -e AIRLOCK_LOCAL_ISSUER_DIR=/var/lib/airlock/issuer
    -e FILE_SERVICE_OBJECT_STORES__REGISTRY__SCHEME=file -e FILE_SERVICE_OBJECT_STORES__REGISTRY__NAME=/var/lib/airlock/registry)
fi
start "airlock-$RUN-serve" -p 127.0.0.1::8000 -v "$state/serve:/var/lib/airlock" "${serve_env[@]}" "$IMAGE"
serve_url=http://$(docker port "airlock-$RUN-serve" 8000/tcp | head -n 1)
wait_healthy "$serve_url" "airlock-$RUN-serve"
expect 200 GET "$serve_url/healthz" ""
[ "$(json 'd["status"]')" = ok ] || fail "/healthz answered $(cat "$BODY")"
expect 200 GET "$serve_url/admin/secure-connections" ""
grep -qi '<html' "$BODY" || fail "GET /admin/secure-connections is not an HTML page: $(head -c 200 "$BODY")"
if [ "$default_command" = "airlock serve" ]; then
  # The sign-in link it prints carries the first admin's token.
  admin_token=$(docker logs "airlock-$RUN-serve" 2>&1 | sed -n 's/.*#token=\([A-Za-z0-9._-]*\).*/\1/p' | head -n 1)
  [ -n "$admin_token" ] || fail "airlock serve printed no sign-in link: $(docker logs "airlock-$RUN-serve" 2>&1 | head -c 600)"
  # The first admin turns the Secure Connections feature on for themselves, as serve says.
  expect 403 GET "$serve_url/api/v1/platform" "$admin_token"
  expect 200 PUT "$serve_url/api/v1/me/features" "$admin_token" -H 'Content-Type: application/json' \
    -d '{"secure_connections": true}'
  expect 200 GET "$serve_url/api/v1/platform" "$admin_token"
  say "airlock serve: the printed sign-in token is accepted (GET /api/v1/platform, after the feature flag)"
fi
say "default command ($default_command): /healthz ok, panel page served"
started=$(date +%s)
docker stop -t 20 "airlock-$RUN-serve" >/dev/null
stop_secs=$(( $(date +%s) - started ))
[ "$stop_secs" -lt 5 ] || fail "docker stop took $stop_secs s: the stop signal did not reach the process"
say "docker stop: stopped in ${stop_secs} s"
docker rm -f "airlock-$RUN-serve" >/dev/null
containers=()

# --- 2. Two platforms, every function in its own container.
step="creating databases"
for db in "${DATABASES[@]}"; do
  psql -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $db" >/dev/null
  created_databases+=("$db")
done
writable_dir "$state/exchange"
ports=()
for i in 0 1; do
  side=$([ "$i" = 0 ] && echo a || echo b)
  for d in registry issuer; do writable_dir "$state/$side/$d"; done
  ports+=("$(free_port)")
  # A's exchange store is its OUTBOX, B's the same directory as INBOX. The test starts
  # each sync through the api; the scheduler runs but ticks too rarely to start others.
  label=$([ "$i" = 0 ] && echo OUTBOX || echo INBOX)
  cat >"$state/$side.env" <<EOF
AIRLOCK_MASTER_SECRET=$(secret)
AIRLOCK_DATABASE_URL=postgres://$PGUSER@$PGHOST:$PGPORT/${DATABASES[$i]}
AIRLOCK_BUS_URL=nats://$NATS?prefix=${PREFIXES[$i]}
AIRLOCK_LOCAL_ISSUER_DIR=/data/issuer
AIRLOCK_PORT=${ports[$i]}
AIRLOCK_SCHEDULE_INTERVAL_SECS=3600
FILE_SERVICE_OBJECT_STORES__REGISTRY__SCHEME=file
FILE_SERVICE_OBJECT_STORES__REGISTRY__NAME=/data/registry
FILE_SERVICE_OBJECT_STORES__${label}__SCHEME=file
FILE_SERVICE_OBJECT_STORES__${label}__NAME=/exchange
EOF
done
run_side() { # side name [docker-run-arguments… --] command…
  local side=$1 name=$2 extra=()
  shift 2
  if [[ " $* " == *" -- "* ]]; then
    while [ "$1" != -- ]; do extra+=("$1"); shift; done
    shift
  fi
  start "airlock-$RUN-$side-$name" --network host --env-file "$state/$side.env" \
    -v "$state/$side/registry:/data/registry" -v "$state/$side/issuer:/data/issuer" -v "$state/exchange:/exchange" \
    "${extra[@]}" "$IMAGE" "$@"
}
token() { # side sub
  docker run --rm "${HARDENED[@]}" --network host --env-file "$state/$1.env" -v "$state/$1/issuer:/data/issuer" \
    "$IMAGE" airlock-api mint-token --sub "$2" --role airlock_admin --ttl-secs 900
}

# B's platform comes from a platform file, as the chart's ConfigMap gives it: its levels
# and its admin, cleared and with the Secure Connections feature flag on.
cat >"$state/platform-b.toml" <<'EOF'
[infosec]
enabled = true
max = "CONFIDENTIAL"
levels = [
  { name = "UNCLASSIFIED", order = 0 },
  { name = "CONFIDENTIAL", order = 10 },
]

[[users]]
id = "admin-b"
name = "Admin of B"
level = "UNCLASSIFIED"
tags = []
secure_connections = true
EOF
chmod 644 "$state/platform-b.toml"

step="starting the api containers"
for i in 0 1; do
  side=$([ "$i" = 0 ] && echo a || echo b)
  platform_file=()
  [ "$side" = b ] && platform_file=(-v "$state/platform-b.toml:/etc/airlock/platform.toml:ro"
    -e AIRLOCK_PLATFORM_FILE=/etc/airlock/platform.toml)
  # The api first: it migrates the database before the functions connect.
  run_side "$side" api "${platform_file[@]}" -- airlock-api
  wait_healthy "http://127.0.0.1:${ports[$i]}" "airlock-$RUN-$side-api"
done
step="starting the function containers"
for side in a b; do
  for f in "${FUNCTIONS[@]}"; do run_side "$side" "${f#airlock-}" "$f"; done
done
sleep 2
for c in "${containers[@]}"; do
  [ "$(docker inspect --format '{{.State.Running}}' "$c")" = true ] || fail "$c exited"
done
say "platform A and B: api + ${#FUNCTIONS[@]} functions each, ${#containers[@]} containers"

A=http://127.0.0.1:${ports[0]}
B=http://127.0.0.1:${ports[1]}
step="signing in"
TOKEN_A=$(token a admin-a)
TOKEN_B=$(token b admin-b)
# A's admin signs in as in the panel: a registry user from the first call, refused on
# admin routes until they turn the Secure Connections feature flag on themselves.
expect 403 GET "$A/api/v1/connections" "$TOKEN_A"
grep -q 'secure connections is not enabled' "$BODY" || fail "the refusal does not name the feature flag: $(cat "$BODY")"
expect 200 PUT "$A/api/v1/me/features" "$TOKEN_A" -H 'Content-Type: application/json' -d '{"secure_connections": true}'
[ "$(json 'd["secure_connections"]')" = true ] || fail "PUT /api/v1/me/features left the flag off: $(cat "$BODY")"
expect 200 GET "$A/api/v1/platform" "$TOKEN_A"
LEVEL_A=$(json 'd["levels"][0]["name"]')
say "admin-a: refused before the feature flag, admin after PUT /api/v1/me/features; A's lowest level $LEVEL_A"
# B's admin is an admin from the platform file, which also set B's levels.
expect 200 GET "$B/api/v1/me" "$TOKEN_B"
[ "$(json 'd["secure_connections"]')" = true ] || fail "the platform file did not turn admin-b's feature flag on: $(cat "$BODY")"
expect 200 GET "$B/api/v1/platform" "$TOKEN_B"
levels_b=$(json '",".join(l["name"] for l in d["levels"])')
[ "$levels_b" = UNCLASSIFIED,CONFIDENTIAL ] || fail "B's levels are $levels_b, not the platform file's"
say "admin-b: admin from the platform file; B's levels $levels_b"

step="creating the sending connection at A"
SHARED_SECRET=$(secret)
expect 201 POST "$A/api/v1/connections/sending" "$TOKEN_A" -H 'Content-Type: application/json' -d "$(cat <<EOF
{"name": "To partner B", "description": "container test", "outbox": "OUTBOX", "shared_id": "$RUN",
 "secret": "$SHARED_SECRET", "secret_confirmation": "$SHARED_SECRET",
 "permitted_level": "$LEVEL_A", "permitted_tags": [], "certified": true}
EOF
)"
SENDING=$(json 'd["connection"]["id"]')
SHARED_ID=$(json 'd["credentials"]["shared_id"]')

step="uploading and sharing a file at A"
head -c 3000000 /dev/urandom >"$state/payload.bin"
expect 201 POST "$A/api/v1/files?name=payload.bin&level=$LEVEL_A&tags=" "$TOKEN_A" \
  -H 'Content-Type: application/octet-stream' --data-binary "@$state/payload.bin"
FILE_A=$(json 'd["id"]')
expect 204 POST "$A/api/v1/files/$FILE_A/shares" "$TOKEN_A" -H 'Content-Type: application/json' \
  -d "{\"connection_id\": \"$SENDING\", \"certified\": true}"

step="creating the receiving connection at B"
expect 201 POST "$B/api/v1/connections/receiving" "$TOKEN_B" -H 'Content-Type: application/json' \
  -d "{\"name\": \"From partner A\", \"description\": \"\", \"inbox\": \"INBOX\", \"shared_id\": \"$SHARED_ID\", \"secret\": \"$SHARED_SECRET\"}"
RECEIVING=$(json 'd["connection"]["id"]')

sync() { # url token connection side → prints the finished event's updated count
  expect 202 POST "$1/api/v1/connections/$3/sync" "$2"
  local id status
  id=$(json 'd["sync_id"]')
  for _ in $(seq 1 $((SYNC_TIMEOUT * 2))); do
    expect 200 GET "$1/api/v1/connections/$3/sync-events?per_page=20" "$2"
    status=$(json "next((e['status'] for e in d['events'] if e['sync_id'] == '$id'), 'missing')")
    case "$status" in
      success) json "next(e['updated'] for e in d['events'] if e['sync_id'] == '$id')"; return 0 ;;
      running|missing) sleep 0.5 ;;
      *) fail "sync $id at $4 finished $status: $(json "next(e for e in d['events'] if e['sync_id'] == '$id')")" ;;
    esac
  done
  fail "sync $id at $4 did not finish within $SYNC_TIMEOUT s"
}
step="syncing A (publish)"
sent=$(sync "$A" "$TOKEN_A" "$SENDING" A)
[ "$sent" = 1 ] || fail "A's sync updated $sent files, expected 1"
say "A's sync: success, $sent file published"
[ -f "$state/exchange/$SHARED_ID/shard0/manifest" ] || fail "no manifest at $SHARED_ID/shard0/manifest in the shared directory"
step="syncing B (ingest)"
received=$(sync "$B" "$TOKEN_B" "$RECEIVING" B)
[ "$received" = 1 ] || fail "B's sync updated $received files, expected 1"
say "B's sync: success, $received file ingested"

step="reading the file at B"
expect 200 GET "$B/api/v1/files" "$TOKEN_B"
FILE_B=$(json "next((f['id'] for f in d if f['name'] == 'payload.bin'), '')")
[ -n "$FILE_B" ] || fail "payload.bin is not among admin-b's files at B: $(cat "$BODY")"
expect 200 GET "$B/api/v1/files/$FILE_B/content" "$TOKEN_B"
cmp -s "$BODY" "$state/payload.bin" || fail "the file at B differs from the one uploaded at A"
say "payload.bin ($(stat -c %s "$state/payload.bin") bytes, sha256 $(sha256sum <"$BODY" | cut -c1-16)…) arrived at B byte-identical"
step="done"
