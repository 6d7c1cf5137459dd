"""Table logging against DataFrame.to_parquet on the same frame, measured in one run.

    python benchmarks/bench_table.py [--quick]

1. A 10,000-row, 4-column frame (int, str, float, str): ms.init, then 10 x (ms.Table(dataframe=df)
   + run.log), then finish, per table, against one df.to_parquet. Target: at least 0.5x the
   to_parquet rate. (One table per run is also printed: it adds the run's start and finish.)
2. With Table.MAX_ROWS = 2,000,000, a 1,000,000-row frame: at most 3x the to_parquet time,
   and the peak extra memory (tracemalloc) as a multiple of the frame's own size.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import mediastore as ms  # noqa: E402


def frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    words = np.array(["cat", "dog", "bird", "fish", "horse", "mouse"])
    return pd.DataFrame({
        "id": np.arange(rows),
        "text": words[rng.integers(0, len(words), rows)] + " " + rng.integers(0, 1000, rows).astype(str),
        "score": rng.random(rows),
        "label": words[rng.integers(0, len(words), rows)],
    })


def time_to_parquet(df: pd.DataFrame) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        df.to_parquet(f"{tmp}/t.parquet")
        return time.perf_counter() - t0


def variants(df: pd.DataFrame, n: int) -> list[pd.DataFrame]:
    """n frames that differ in every row, so no two are the same bytes (the store would store
    identical content once, which would flatter it)."""
    return [df.assign(id=df["id"] + i * len(df)) for i in range(n)]


def time_mediastore(df: pd.DataFrame, tables: int = 1) -> float:
    """Seconds per table: ms.init, then ``tables`` x (ms.Table(dataframe=frame) + run.log) over
    distinct frames, then finish() (everything written), divided by ``tables``."""
    frames = variants(df, tables)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        with ms.init(project="bench", store=tmp) as run:
            for f in frames:
                run.log({"table": ms.Table(dataframe=f)})
        return (time.perf_counter() - t0) / tables


def peak_rss_growth(mode: str, rows: int) -> int:
    """Peak RSS growth (bytes) of a fresh process while it writes the frame, beyond the frame
    itself: Arrow's memory is outside tracemalloc's view, so the OS's count is used."""
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(rows)], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def child(mode: str, rows: int) -> None:
    df = frame(rows)
    ms.Table.MAX_ROWS = 2_000_000
    with open("/proc/self/clear_refs", "w") as fh:  # reset the peak (VmHWM) to the current RSS
        fh.write("5")
    before = _status_kib("VmRSS")
    time_to_parquet(df) if mode == "to_parquet" else time_mediastore(df)
    print((_status_kib("VmHWM") - before) * 1024)


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field + ":"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10x smaller, for a smoke run")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], int(args.child[1]))
    small, large = (1_000, 100_000) if args.quick else (10_000, 1_000_000)
    ms.Table.MAX_ROWS = 2_000_000
    print("| workload | to_parquet s | mediastore s | ratio (rate vs to_parquet) | target | result |")
    print("|---|---|---|---|---|---|")
    df = frame(small)
    base = statistics.median(time_to_parquet(df) for _ in range(5))
    ours = statistics.median(time_mediastore(df, tables=10) for _ in range(5))
    print(f"| {small:,} rows x 4 (10 tables per run) | {base:.4f} | {ours:.4f} | {base / ours:.2f}x | >= 0.5x | {'PASS' if base / ours >= 0.5 else 'MISS'} |")
    one = statistics.median(time_mediastore(df, tables=1) for _ in range(5))
    print(f"| {small:,} rows x 4 (1 table per run, incl. init+finish) | {base:.4f} | {one:.4f} | {base / one:.2f}x | info | |")
    df = frame(large)
    base = statistics.median(time_to_parquet(df) for _ in range(3))
    ours = statistics.median(time_mediastore(df) for _ in range(3))
    print(f"| {large:,} rows x 4 | {base:.3f} | {ours:.3f} | time {ours / base:.2f}x of to_parquet | <= 3x time | {'PASS' if ours / base <= 3 else 'MISS'} |")
    size = int(df.memory_usage(deep=True).sum())
    peak_base, peak_ours = peak_rss_growth("to_parquet", large), peak_rss_growth("mediastore", large)
    print(f"\nPeak RSS growth while writing {large:,} rows (the frame itself: {size / 2**20:.0f} MiB): "
          f"to_parquet {peak_base / 2**20:.0f} MiB, mediastore {peak_ours / 2**20:.0f} MiB "
          f"({peak_ours / max(peak_base, 1):.1f}x to_parquet's)")


if __name__ == "__main__":
    main()
