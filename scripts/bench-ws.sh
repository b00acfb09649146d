#!/usr/bin/env bash
# WebSocket fan-out benchmark: starts a release `gpubroker serve` on a fresh SQLite data dir
# with a `file:` price source, then runs examples/ws_load.rs against it.
#
#   scripts/bench-ws.sh [CLIENTS] [ROUNDS]      # defaults: 10000 subscribers, 5 price changes
#
# Raises the open-file limit (each subscriber is one socket in the server and one in the
# load tool). Results go to stdout; docs/benchmarks.md records them.
set -euo pipefail
cd "$(dirname "$0")/.."

CLIENTS=${1:-10000}
ROUNDS=${2:-5}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "open-file limit: $(ulimit -n)"

# BENCH_BIN_DIR=<dir holding gpubroker and ws_load> skips the build (a shared target dir
# may be locked, or overwritten by another checkout's build).
if [ -n "${BENCH_BIN_DIR:-}" ]; then
  TARGET=$BENCH_BIN_DIR
else
  cargo build --release --bin gpubroker --example ws_load >&2
  TARGET=${CARGO_TARGET_DIR:-target}/release
fi
WS_LOAD=$TARGET/ws_load
[ -x "$WS_LOAD" ] || WS_LOAD=$TARGET/examples/ws_load

DIR=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
cat > "$DIR/offers.csv" <<'CSV'
provider,instance_type,region,gpu,gpu_count,price_per_hour,availability
bench,bench-1,local,H100,1,2.00,available
bench,bench-2,local,A100,1,1.50,available
bench,bench-3,local,L4,1,0.50,available
CSV

GPUBROKER_DATA_DIR="$DIR/data" GPUBROKER_LISTEN="127.0.0.1:$PORT" \
  GPUBROKER_SOURCES="file:$DIR/offers.csv" LOG_LEVEL=warn \
  "$TARGET/gpubroker" serve &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DIR"' EXIT

for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$PORT/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "http://127.0.0.1:$PORT/ready" >/dev/null
# The server must be a build with the WebSocket gateway (426/400 without an upgrade).
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/ws")
[ "$code" = 404 ] && { echo "error: $TARGET/gpubroker has no /ws route (another checkout's build?)" >&2; exit 1; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo); server pid $SERVER"
"$WS_LOAD" --url "ws://127.0.0.1:$PORT/ws" --pid "$SERVER" \
  --file "$DIR/offers.csv" --clients "$CLIENTS" --rounds "$ROUNDS"
