"""Side-by-side benchmark: logging histograms with mediastore against ``np.histogram`` alone.

Run from the repository root::

    python benchmarks/bench_histogram.py             # 2,000 histograms of 10,000 floats
    python benchmarks/bench_histogram.py --quick     # 200 histograms: a smoke run

Workload: N arrays of 10,000 float64 values (standard normal, made up front). mediastore:
``run.log({"h": ms.Histogram(x)})`` for each array, then ``run.finish()`` (which writes the
Parquet rows); ``ms.init`` is outside the timed region, into a fresh local store each time.
Baseline: ``np.histogram(x, bins=64)`` for each array, nothing stored. Each variant is timed
``--reps`` times (3 by default), interleaved A B A B ... so the noise of a shared machine falls
on both alike; the medians are compared. The result is the ratio of rates,
mediastore / np.histogram (target, issue 16: at least 1.5; mediastore bins with numpy's
arithmetic but corrects only the values near an edge, see ``_equal_bins``).

Run it as a module (``python -m benchmarks.bench_histogram``) to time this checkout: run as a
script, Python puts ``benchmarks/`` first on the path and imports the installed mediastore.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import mediastore as ms

TARGET = 1.5


def time_mediastore(arrays: list[np.ndarray], root: Path, rep: int) -> float:
    run = ms.init(project="bench", store=str(root / f"store-{rep}"), run_id=f"hist{rep}")
    start = time.perf_counter()
    for x in arrays:
        run.log({"h": ms.Histogram(x)})
    run.finish()
    return time.perf_counter() - start


def time_numpy(arrays: list[np.ndarray]) -> float:
    start = time.perf_counter()
    for x in arrays:
        np.histogram(x, bins=64)
    return time.perf_counter() - start


def check_stored(root: Path, rep: int, arrays: list[np.ndarray]) -> None:
    """The timed run stored every histogram, with np.histogram's counts (so nothing was skipped)."""
    store = ms.open(str(root / f"store-{rep}"))
    n, total = store.sql("SELECT count(*), sum(list_sum(counts)) FROM histograms").fetchall()[0]
    assert n == len(arrays) and total == sum(x.size for x in arrays), (n, total)
    first = store.sql("SELECT counts FROM histograms WHERE step = 0").fetchall()[0][0]
    assert first == np.histogram(arrays[0], bins=64)[0].tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="histograms per timed run (default 2000)")
    parser.add_argument("--size", type=int, default=10_000, help="values per histogram (default 10000)")
    parser.add_argument("--reps", type=int, default=3, help="timed repetitions per variant (default 3)")
    parser.add_argument("--quick", action="store_true", help="200 histograms: a smoke run")
    args = parser.parse_args()
    count = 200 if args.quick else args.count

    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(args.size) for _ in range(count)]
    root = Path(tempfile.mkdtemp(prefix="bench-histogram-"))
    try:
        time_numpy(arrays[:50])  # warm up numpy and the imports of both paths
        time_mediastore(arrays[:50], root, rep=-1)
        ms_times, np_times = [], []
        for rep in range(args.reps):
            gc.collect()
            ms_times.append(time_mediastore(arrays, root, rep))
            gc.collect()
            np_times.append(time_numpy(arrays))
        check_stored(root, 0, arrays)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    ms_med, np_med = statistics.median(ms_times), statistics.median(np_times)
    ratio = np_med / ms_med  # = mediastore rate / np.histogram rate
    print(f"{count} histograms of {args.size} float64 values, median of {args.reps}; mediastore from {ms.__file__}")
    print(f"  mediastore run.log(ms.Histogram(x)) + finish: {ms_med:8.3f} s  {count / ms_med:9.0f} hist/s")
    print(f"  np.histogram(x, bins=64) alone:               {np_med:8.3f} s  {count / np_med:9.0f} hist/s")
    print(f"  ratio of rates mediastore / np.histogram: {ratio:.2f}x (target >= {TARGET}x: {'met' if ratio >= TARGET else 'NOT met'})")


if __name__ == "__main__":
    main()
