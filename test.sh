#!/usr/bin/env bash
# Runs the tests on a fresh machine: installs what they talk to when it is missing (a
# NATS server, moto's S3/SQS server, Azurite, the OpenID provider the sign-in tests run
# (node's oidc-provider), headless Chromium with chromedriver, and a
# PostgreSQL they can create databases in), then runs `cargo test`. Debian packages, PyPI
# and npm are used; run as root (or with sudo) on the first run.
#
#   ./test.sh                      # the whole suite (cargo test --workspace), then 45 s of fuzzing
#   ./test.sh -p airlock-local     # other arguments go to cargo test instead
#
# The tests start nats-server, moto and Azurite themselves when none is running; see the
# README for the variables that point them at running ones instead.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is not installed: install Rust (https://rustup.rs), then run $0 again" >&2
  exit 1
fi

apt_install() {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
  apt_install nats-server
fi

# Real servers for the S3, SQS and Azure Blob tests: moto (S3 and SQS on one port) and Azurite.
if ! command -v python3 >/dev/null 2>&1; then
  apt_install python3 python3-pip
fi
if ! python3 -c "import moto.server, flask" >/dev/null 2>&1; then
  python3 -m pip install -q "moto[server]" 2>/dev/null || python3 -m pip install -q --break-system-packages "moto[server]"
  command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
fi
if ! command -v azurite-blob >/dev/null 2>&1; then
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  npm install -g --silent azurite
fi
# The real OpenID provider of functions/api/tests/idp.rs, pinned by tests/idp/package-lock.json.
npm ci --prefix tests/idp --no-audit --no-fund --silent

# The browser test (tests/browser.rs) drives Debian's headless Chromium over chromedriver.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  apt_install chromium chromium-driver
fi

# PostgreSQL on 127.0.0.1:5432, started if installed but stopped, installed if absent.
if [ -z "${AIRLOCK_TEST_DATABASE_URL:-}" ]; then
  if ! command -v pg_isready >/dev/null 2>&1; then
    apt_install postgresql
  fi
  if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    cluster=$(ls /etc/postgresql 2>/dev/null | head -n 1)
    if [ -n "$cluster" ]; then
      pg_ctlcluster --skip-systemctl-redirect "$cluster" main start || true
    fi
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  fi
  # Debian's cluster wants a password over TCP: give the tests one, unless no password is needed.
  if command -v psql >/dev/null 2>&1 && ! psql -h 127.0.0.1 -U postgres -w -c 'select 1' postgres >/dev/null 2>&1; then
    if ! PGPASSWORD=airlock-tests psql -h 127.0.0.1 -U postgres -w -c 'select 1' postgres >/dev/null 2>&1; then
      su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'airlock-tests'\""
    fi
    export AIRLOCK_TEST_DATABASE_URL=postgres://postgres:airlock-tests@127.0.0.1:5432/postgres
  fi
fi

whole=0
if [ "$#" -eq 0 ]; then
  whole=1
  set -- --workspace
fi
cargo test -j "${CARGO_BUILD_JOBS:-2}" "$@"

# After the whole suite: a short coverage-guided run of the protocol's fuzz targets (15 s
# each; fuzz/README.md). It needs nightly, which the suite itself does not; AIRLOCK_SKIP_FUZZ=1
# leaves it out.
if [ "$whole" = 1 ] && [ "${AIRLOCK_SKIP_FUZZ:-0}" != 1 ]; then
  toolchains="$(rustup toolchain list 2>/dev/null || true)"
  if grep -q '^nightly' <<<"$toolchains"; then
    fuzz/run.sh 15 protocol
  else
    echo "test.sh: no nightly toolchain, the short fuzz run is skipped (rustup toolchain install nightly)" >&2
  fi
fi
