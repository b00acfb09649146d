#!/usr/bin/env bash
# The whole test suite: format check, clippy, and every test on SQLite and PostgreSQL.
# Starts a throwaway PostgreSQL cluster (scripts/pg-test-cluster.sh) unless
# GPUBROKER_TEST_PG_URL already points at one. Under CI=true a PostgreSQL that cannot be
# started fails the run; elsewhere the PostgreSQL tests are skipped with a warning.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings

if [ -z "${GPUBROKER_TEST_PG_URL:-}" ]; then
  echo "== starting a throwaway PostgreSQL"
  if cluster=$(scripts/pg-test-cluster.sh start); then
    eval "$cluster"
    trap 'scripts/pg-test-cluster.sh stop "$PG_TEST_DIR"' EXIT
  elif [ "${CI:-}" = "true" ]; then
    echo "error: PostgreSQL could not be started; CI requires the PostgreSQL tests" >&2
    exit 1
  else
    echo "warning: PostgreSQL unavailable; PostgreSQL tests will be skipped" >&2
  fi
fi

# The browser tests (tests/browser) need headless Chromium and chromedriver. Under CI=true
# they are installed from Debian when missing and a failure to install fails the run;
# elsewhere the browser tests skip with a warning when chromedriver is missing.
if ! command -v chromedriver >/dev/null 2>&1; then
  if [ "${CI:-}" = "true" ]; then
    echo "== installing chromium and chromium-driver"
    if ! { apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver; } \
      || ! command -v chromedriver >/dev/null 2>&1; then
      echo "error: chromium/chromium-driver could not be installed; CI requires the browser tests" >&2
      exit 1
    fi
  else
    echo "warning: chromedriver not found; browser tests will be skipped (apt-get install chromium chromium-driver)" >&2
  fi
fi

echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --no-fail-fast
else
  cargo test --locked --no-fail-fast
fi
