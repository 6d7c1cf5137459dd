"""The cost of one ``run.log`` call of 5 floats, against appending the same values to lists.

Run from the repository root (as a module, so this checkout is imported)::

    python -m benchmarks.bench_log            # 100,000 calls, median of 3 runs
    python -m benchmarks.bench_log --calls 20000

The calls go in chunks of 100, each chunk timed with ``time.perf_counter``; the figure is the
median over chunks of the time per call (the dict literal built in the loop included, as a
training loop builds it), then the median over ``--reps`` runs. The baseline, timed
interleaved in the same loop, appends the step, the keys and the values to three lists (the
long form mediastore stores). Background work (spooling, writing batches) is included where
it lands on a chunk, which is why the median, not the mean, is the per-call figure; the mean
is printed too. Target (issue 16): a median of at most 2 us per call.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time

import numpy as np

import mediastore as ms

TARGET_US = 2.0
CHUNK = 100


def one_run(values: list[list[float]]) -> tuple[float, float, float, float]:
    """(median, mean) per call of run.log and of the list appends, in microseconds."""
    root = tempfile.mkdtemp(prefix="ms-bench-log-")
    try:
        run = ms.init(project="bench", store=root, run_id="log")
        log = run.log
        step_col: list[int] = []
        key_col: list[str] = []
        value_col: list[float] = []
        keys = ("loss", "acc", "lr", "grad_norm", "throughput")
        ms_chunks, list_chunks = [], []
        for start in range(0, len(values), CHUNK):
            chunk = values[start:start + CHUNK]
            t0 = time.perf_counter()
            for r in chunk:
                log({"loss": r[0], "acc": r[1], "lr": r[2], "grad_norm": r[3], "throughput": r[4]})
            t1 = time.perf_counter()
            for i, r in enumerate(chunk, start):
                d = {"loss": r[0], "acc": r[1], "lr": r[2], "grad_norm": r[3], "throughput": r[4]}
                step_col.extend((i, i, i, i, i))
                key_col.extend(keys)
                value_col.extend(d.values())
            t2 = time.perf_counter()
            ms_chunks.append((t1 - t0) / len(chunk) * 1e6)
            list_chunks.append((t2 - t1) / len(chunk) * 1e6)
        run.finish()
        return statistics.median(ms_chunks), statistics.fmean(ms_chunks), statistics.median(list_chunks), statistics.fmean(list_chunks)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000, help="log calls per run (default 100000)")
    parser.add_argument("--reps", type=int, default=3, help="runs (default 3)")
    args = parser.parse_args()
    values = np.random.default_rng(1).random((args.calls, 5)).tolist()
    one_run(values[:2000])  # warm-up: first-call costs of the write path
    results = [one_run(values) for _ in range(args.reps)]
    ms_med, ms_mean, list_med, list_mean = (statistics.median(r[i] for r in results) for i in range(4))
    print(f"run.log of 5 floats, {args.calls:,} calls, median of {args.reps} runs; mediastore from {ms.__file__}")
    print(f"  run.log:        median {ms_med:5.2f} us/call, mean {ms_mean:5.2f} us/call (target median <= {TARGET_US} us: "
          f"{'met' if ms_med <= TARGET_US else 'NOT met'})")
    print(f"  3 list appends: median {list_med:5.2f} us/call, mean {list_mean:5.2f} us/call -> run.log / lists {ms_med / list_med:.1f}x")


if __name__ == "__main__":
    main()
