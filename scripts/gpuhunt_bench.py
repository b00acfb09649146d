"""Times gpuhunt's in-memory Catalog.query on the offers exported by benches/search.rs.

Reads <data>/<size>/<provider slot>.csv (gpuhunt catalog v2), <data>/queries.json and
<data>/expected.json (GPUBROKER's result counts). For each size and query it checks that
gpuhunt finds the same number of offers, then prints the median time of query + the
top-50 selection a caller needs. With --criterion it also reads GPUBROKER's medians from
criterion's estimates and prints the ratios.
"""

import argparse
import heapq
import importlib.metadata
import json
import statistics
import sys
import time
from pathlib import Path

import gpuhunt
from gpuhunt._internal import storage
from gpuhunt._internal.catalog import ProviderCatalog

LIMIT = 50


def load(folder: Path) -> gpuhunt.Catalog:
    """A catalog holding the exported items, without any network access."""
    catalog = gpuhunt.Catalog(balance_resources=False, auto_reload=False)
    for path in sorted(folder.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as f:
            items = list(storage.load(f, provider=path.stem))
        catalog.catalog[path.stem] = ProviderCatalog(version="bench", items=items)
    catalog.loaded_at = time.monotonic()
    return catalog


def value_key(item):
    """GPUBROKER's `value`: USD per dense BF16 TFLOP-hour, missing values last."""
    tflops = item.provider_data.get("tflops")
    return (0, item.price / tflops) if tflops else (1, 0.0)


def queries(h100_names):
    """The four queries of benches/search.rs, written with gpuhunt's filters."""
    return {
        # gpu=H100 sort=price limit=50
        "a_gpu_h100": lambda c: top(c.query(gpu_name=h100_names), lambda i: i.price),
        # price_per_gpu<2 vram>=40 sort=-vram limit=50
        "b_price_vram": lambda c: top(
            [i for i in c.query(min_gpu_memory=40) if i.price / i.gpu_count < 2],
            lambda i: (-i.gpu_memory, i.price),
        ),
        # provider in [lambda,runpod] count>=8 sort=value limit=50
        "c_provider_count": lambda c: top(
            c.query(provider=["lambdalabs", "runpod"], min_gpu_count=8),
            lambda i: (value_key(i), i.price),
        ),
        # sort=price limit=50
        "d_everything": lambda c: top(c.query(), lambda i: i.price),
    }


def top(items, key):
    return len(items), heapq.nsmallest(LIMIT, items, key=key)


def ours(criterion: Path | None, name: str, size: str) -> float | None:
    """GPUBROKER's median in seconds from criterion's estimates, if present."""
    if criterion is None:
        return None
    path = criterion / "search" / name / size / "new" / "estimates.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())["median"]["point_estimate"] / 1e9


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path)
    parser.add_argument("--criterion", type=Path)
    parser.add_argument("--reps", type=int, default=0, help="timed runs (default 15 / 5)")
    args = parser.parse_args()
    spec = json.loads((args.data / "queries.json").read_text())
    expected = json.loads((args.data / "expected.json").read_text())
    print(f"gpuhunt {importlib.metadata.version('gpuhunt')}, python {sys.version.split()[0]}")
    mismatches = 0
    rows = []
    for size in sorted(expected, key=int):
        started = time.perf_counter()
        catalog = load(args.data / size)
        loaded = time.perf_counter() - started
        count = sum(len(p.items) for p in catalog.catalog.values())
        print(f"\n{size}: {count} items loaded in {loaded:.1f} s")
        reps = args.reps or (15 if int(size) <= 100_000 else 5)
        for name, run in queries(spec["h100_names"]).items():
            total, _ = run(catalog)
            want = expected[size][name]
            ok = "same count" if total == want else f"COUNT MISMATCH (ours {want})"
            mismatches += total != want
            times = []
            for _ in range(reps):
                started = time.perf_counter()
                run(catalog)
                times.append(time.perf_counter() - started)
            median = statistics.median(times)
            mine = ours(args.criterion, name, size)
            ratio = f"{median / mine:,.0f}x" if mine else "-"
            mine_text = f"{mine * 1e3:.2f} ms" if mine else "-"
            rows.append((name, size, want, median, mine_text, ratio))
            print(f"  {name:18} {total:7} matches ({ok}), median {median * 1e3:8.1f} ms")
    print("\n| query | offers | matches | gpuhunt median | GPUBROKER median | gpuhunt / GPUBROKER |")
    print("|---|---|---|---|---|---|")
    for name, size, want, median, mine_text, ratio in rows:
        print(f"| {name} | {int(size):,} | {want:,} | {median * 1e3:.1f} ms | {mine_text} | {ratio} |")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
