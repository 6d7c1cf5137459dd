"""``store.runs()`` on a local folder with many runs (issue 12: at most 0.3 s at 10,000 runs).

    python -m benchmarks.bench_runs_local --runs 10000 --store /tmp/runs-bench   # builds once, reuses

Builds N finished runs (one scalar, a config each) with two processes, runs ``mediastore
compact`` twice with a pause between (the second records every run directory's settled
stamp, as a periodic compaction does), then prints the median of 5 cold ``ms.open(...).runs()``
calls against two baselines measured in the same run: a bare ``os.scandir`` walk of
``runs/`` (what listing the run directories costs at all) and DuckDB reading every run's record
files by a glob (what a reader without the runs index reads).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._stores import is_built, log_in_two_processes, mark_built  # noqa: E402


def _log_runs(store: str, first: int, count: int) -> None:
    import mediastore as ms

    settings = ms.Settings(heartbeat_seconds=3600)
    for i in range(first, first + count):
        with ms.init(project="p", store=store, run_id=f"r{i:05d}", config={"i": i}, settings=settings) as run:
            run.log({"loss": 1.0 / (i + 1)})


def build(store: str, runs: int) -> None:
    if is_built(store):
        return
    from mediastore.compact import compact_store
    from mediastore.storage import StoreLocation

    started = time.perf_counter()
    log_in_two_processes(_log_runs, store, runs)
    print(f"built {runs} runs in {time.perf_counter() - started:.0f} s")
    compact_store(StoreLocation(store))
    time.sleep(2.5)  # the run directories settle (catalog.py, "Run directory stamps")
    compact_store(StoreLocation(store))
    mark_built(store)


def _walk(root: str) -> int:
    count, stack = 0, [root]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--store", default="/tmp/ms-runs-bench")
    args = parser.parse_args(argv)
    build(args.store, args.runs)

    import duckdb

    import mediastore as ms
    from benchmarks.bench_viewer import median_ms

    frame = ms.open(args.store).runs()
    assert len(frame) == args.runs, len(frame)
    runs_dir = os.path.join(args.store, "runs")
    glob = os.path.join(runs_dir, "project=p", "run=*", "*.parquet")
    ours = median_ms(lambda: ms.open(args.store).runs(), repeat=5)
    walk = median_ms(lambda: _walk(runs_dir), repeat=5)
    direct = median_ms(lambda: duckdb.sql(f"SELECT * FROM read_parquet('{glob}')").df(), repeat=5)
    print(f"store.runs() at {args.runs} runs on a local folder, median of 5 (a fresh ms.open each time)")
    print(f"  store.runs()                                {ours:8.1f} ms")
    print(f"  os.scandir walk of runs/ (listing floor)    {walk:8.1f} ms   store.runs() / walk = {ours / walk:.2f}x")
    print(f"  DuckDB over every record file (no index)    {direct:8.1f} ms   store.runs() / DuckDB = {ours / direct:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
