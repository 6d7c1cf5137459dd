"""Building a benchmark's store once: the runs logged by two processes (both cores), and a
marker file so that a later run of the benchmark on the same ``--store`` reuses the store."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

MARKER = "_bench_complete"


def is_built(store: str) -> bool:
    return (Path(store) / MARKER).exists()


def mark_built(store: str) -> None:
    (Path(store) / MARKER).write_text("ok")


def log_in_two_processes(log_runs: Callable[..., None], store: str, runs: int, *args) -> None:
    """``log_runs(store, first, count, *args)`` for runs ``0..runs-1``, half in each of two
    processes; raises what either raised."""
    with ProcessPoolExecutor(2) as pool:
        half = runs // 2
        jobs = [pool.submit(log_runs, store, 0, half, *args), pool.submit(log_runs, store, half, runs - half, *args)]
        for job in jobs:
            job.result()
