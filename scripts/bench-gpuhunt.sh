#!/usr/bin/env bash
# Side-by-side search benchmark against gpuhunt (shared/reference/peers.md §D.3).
#
# Installs gpuhunt into a throw-away virtualenv OUTSIDE the repository, exports the same
# replicated real offers that benches/search.rs measures (as gpuhunt v2 catalog files),
# then times gpuhunt's Catalog.query with the same filters, checking result counts first.
# Run `cargo bench --bench search` before it to print our medians and the ratios too.
#
# Usage: scripts/bench-gpuhunt.sh [--reps N]
# Env:   GPUHUNT_VERSION (default 0.1.34), TMPDIR (where the venv and data go).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
version="${GPUHUNT_VERSION:-0.1.34}"
work="${TMPDIR:-/tmp}/gpubroker-gpuhunt-bench"
venv="$work/venv-$version"
data="$work/data"

case "$work" in
"$repo"/*)
    echo "refusing to put the virtualenv inside the repository ($work)" >&2
    exit 1
    ;;
esac

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check "gpuhunt==$version"

rm -rf "$data"
mkdir -p "$data"
(cd "$repo" && GPUBROKER_BENCH_EXPORT="$data" cargo bench --quiet --bench search)

criterion="${CARGO_TARGET_DIR:-$repo/target}/criterion"
"$venv/bin/python" "$repo/scripts/gpuhunt_bench.py" "$data" --criterion "$criterion" "$@"
